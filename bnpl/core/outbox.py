"""Listeners on the outbox: code that must react to new events (webhook fan-out, the data lake)
registers here, and is called once after the transaction that wrote the events commits, with every
event id that transaction wrote. The outbox table stays the truth: listeners only speed things up,
a periodic sweep catches whatever they miss."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction

EventListener = Callable[[list[int]], None]
_listeners: list[EventListener] = []
_PENDING = "_bnpl_outbox_pending"  # on the connection: (atomic block, flush callback, event ids)


def register_listener(listener: EventListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def _outermost_block() -> object | None:
    """The outermost atomic block this code opened (a test case's wrapping blocks do not count)."""
    return next((block for block in connection.atomic_blocks if not getattr(block, "_from_testcase", False)), None)


def notify_after_commit(event_id: int) -> None:
    """Add an event to its transaction's batch; the first event of a transaction schedules the one
    after-commit call. A batch belongs to the outermost atomic block; one whose callback is no longer
    registered (its transaction rolled back) is stale and starts over."""
    if not _listeners:
        return
    block = _outermost_block()
    pending = getattr(connection, _PENDING, None)
    if (
        pending is None
        or pending[0] is not block
        or not any(entry[1] is pending[1] for entry in connection.run_on_commit)
    ):
        event_ids: list[int] = []

        def flush() -> None:
            if getattr(connection, _PENDING, None) is batch:
                delattr(connection, _PENDING)
            for listener in _listeners:
                listener(list(event_ids))

        batch = (block, flush, event_ids)
        setattr(connection, _PENDING, batch)
        transaction.on_commit(flush)
        pending = batch
    pending[2].append(event_id)
