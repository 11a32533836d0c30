"""The fault tests' port reservation refuses a port any socket holds, not only a listening one: CI
once lost its replica tests because an outgoing connection's local end sat on the primary's port."""

from __future__ import annotations

import socket

import pytest

from tests.bnpl.ops.instances import reserved_port


def test_a_port_that_is_the_local_end_of_an_outgoing_connection_is_not_handed_out() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.socket() as client:
            client.connect(server.getsockname())
            held = client.getsockname()[1]  # nothing listens here; a server's bind would still fail
            with pytest.raises(RuntimeError, match="no free port"), reserved_port(held, held):
                pass


def test_a_listening_port_is_not_handed_out_and_a_free_one_is() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        taken = server.getsockname()[1]
        with pytest.raises(RuntimeError, match="no free port"), reserved_port(taken, taken):
            pass
    with reserved_port(taken, taken) as port:
        assert port == taken
