"""Request transactions that any error rolls back whole, and the service blocks that need no
savepoint inside one.

A service opens an atomic block so that its writes are all or none wherever it is called. Inside a
caller's transaction that block is a savepoint: two statements more (``SAVEPOINT``, ``RELEASE``),
needed only by a caller that catches the service's error and carries on with the rest of its
transaction. The partner API's request transaction never does: any error rolls all of it back (and
releases the idempotency claim). It is a ``whole_transaction``; services on the API's hot path open
``service_atomic``, which inside one is a block without a savepoint (the enclosing transaction
already makes the service's writes all or none, and an error marks it for rollback). Anywhere else
``service_atomic`` is ``transaction.atomic()``, savepoint and all: a dashboard view that catches a
refusal and renders it, a test that expects one and goes on.

Inside a ``whole_transaction`` code that catches an error and carries on must open its own
``transaction.atomic()`` around what may fail (as ``ledger_post_many`` does): that block is still a
savepoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

_WHOLE = "_bnpl_whole_transaction"  # on the connection: the atomic block of the current whole transaction


@contextmanager
def whole_transaction() -> Iterator[None]:
    """A durable transaction (``transaction.atomic(durable=True)``) that nothing inside catches an
    error from: the ``service_atomic`` blocks inside it take no savepoint."""
    with transaction.atomic(durable=True):
        outer = getattr(connection, _WHOLE, None)
        setattr(connection, _WHOLE, connection.atomic_blocks[-1])
        try:
            yield
        finally:
            setattr(connection, _WHOLE, outer)


def service_atomic() -> transaction.Atomic:
    """A service's all-or-none block: ``transaction.atomic()``, without a savepoint inside a
    ``whole_transaction``."""
    whole = getattr(connection, _WHOLE, None)
    spared = whole is not None and any(block is whole for block in connection.atomic_blocks)
    return transaction.atomic(savepoint=not spared)
