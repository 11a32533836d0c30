"""DNS rebinding against webhook delivery: a receiver's name that resolves to a public address when
it is checked and to a private one when the sender connects (a second lookup, a short TTL) must not
carry a request into the lender's network. The sender checks the address each connection actually
reached and closes it before a byte is sent, so not even a TLS ClientHello arrives."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bnpl.core.models import Event
from merchants import services, webhooks
from merchants.models import WebhookDelivery, WebhookDeliveryAttempt
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

REBINDING_NAME = "rebind.shop.example.com"
PUBLIC_ADDRESS = "93.184.216.34"


class _Listener:
    """A TCP port on 127.0.0.1 (the 'internal service') that records every byte a client sends."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            self.connections += 1
            with client:
                client.settimeout(1.0)
                try:
                    while chunk := client.recv(4096):
                        self.received += chunk
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


@pytest.fixture
def listener() -> Iterator[_Listener]:
    listening = _Listener()
    yield listening
    listening.close()


@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """DNS lives outside this machine: stand in for a resolver whose first answer for the name is
    public and every later one is 127.0.0.1. Other names resolve as usual."""
    real = socket.getaddrinfo
    answers: list[str] = []

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != REBINDING_NAME:
            return real(host, port, *args, **kwargs)
        answers.append(PUBLIC_ADDRESS if not answers else "127.0.0.1")
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answers[-1], int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    return answers


def test_a_live_delivery_to_a_name_that_rebinds_to_a_private_address_sends_nothing(
    tenant: Tenant, listener: _Listener, rebinding_dns: list[str]
) -> None:
    endpoint = services.webhook_endpoint_create(
        merchant=tenant.merchant,
        livemode=True,
        url=f"https://{REBINDING_NAME}:{listener.port}/bnpl",
        enabled_events=["*"],
    )
    event = Event.objects.get(type="webhook_endpoint.created", object_id=endpoint.public_id)
    webhooks.deliveries_create_for_events(event_ids=[event.pk])
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, event=event)

    assert webhooks.deliveries_send_due(delivery_ids=[delivery.pk]) == 1

    assert rebinding_dns[0] == PUBLIC_ADDRESS and "127.0.0.1" in rebinding_dns[1:]  # checked, then rebound
    attempt = WebhookDeliveryAttempt.objects.get(delivery=delivery)
    assert (attempt.response_status, attempt.error) == (
        None,
        "Not sent: the host name resolved to an address that is not public when connecting",
    )
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING  # retried later, as any failed attempt
    listener.close()
    assert listener.received == b""  # not even a TLS ClientHello reached the private address
