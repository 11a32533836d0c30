"""Listeners on the outbox: code that must react to new events (webhook fan-out, the data lake)
registers here, and is called once after the transaction that wrote the events commits, with every
event id that transaction wrote. The outbox table stays the truth: listeners only speed things up,
a periodic sweep catches whatever they miss."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction

EventListener = Callable[[list[int]], None]
EventInterest = Callable[[str], bool]  # event type -> whether the listener may act on it
_listeners: list[EventListener] = []
_interests: dict[EventListener, EventInterest] = {}  # a listener absent here may act on any type
_PENDING = "_bnpl_outbox_pending"  # on the connection: (atomic block, flush callback, event ids)


def register_listener(listener: EventListener, *, wants: EventInterest | None = None) -> None:
    """``wants`` names the event types the listener may act on: an event whose writer says its type
    (``notify_after_commit(..., event_type=...)``) and that no listener wants is handed to none."""
    if listener not in _listeners:
        _listeners.append(listener)
    if wants is not None:
        _interests[listener] = wants


def _wanted(event_type: str) -> bool:
    return any(listener not in _interests or _interests[listener](event_type) for listener in _listeners)


def _outermost_block() -> object | None:
    """The outermost atomic block this code opened (a test case's wrapping blocks do not count)."""
    return next((block for block in connection.atomic_blocks if not getattr(block, "_from_testcase", False)), None)


def notify_after_commit(event_id: int, *, event_type: str | None = None) -> None:
    """Add an event to its transaction's batch; the first event of a transaction schedules the one
    after-commit call. A batch belongs to the outermost atomic block; one whose callback is no longer
    registered (its transaction rolled back) is stale and starts over. Outside any transaction (one
    statement wrote the event and committed as it ended) the listeners hear of it at once."""
    if not _listeners or (event_type is not None and not _wanted(event_type)):
        return
    if not connection.in_atomic_block:  # autocommit: the statement that wrote the event has committed
        for listener in _listeners:
            listener([event_id])
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
