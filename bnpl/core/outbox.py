"""Listeners on the outbox: code that must react to new events (webhook fan-out, the data lake)
registers here, and is called once after the transaction that wrote the events commits, with every
event id that transaction wrote. The outbox table stays the truth: listeners only speed things up,
a periodic sweep catches whatever they miss."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction

EventListener = Callable[[list[int]], None]
EventInterest = Callable[[str], bool]  # event type -> whether the listener may act on it
# (merchant id or None, livemode) -> whether the listener may act on an event of that merchant and mode
OwnerInterest = Callable[[int | None, bool], bool]
_listeners: list[EventListener] = []
_interests: dict[EventListener, EventInterest] = {}  # a listener absent here may act on any type
_owner_interests: dict[EventListener, OwnerInterest] = {}  # a listener absent here may act on any owner
_PENDING = "_bnpl_outbox_pending"  # on the connection: (atomic block, flush callback, listener -> event ids)


def register_listener(
    listener: EventListener, *, wants: EventInterest | None = None, wants_owner: OwnerInterest | None = None
) -> None:
    """``wants`` names the event types the listener may act on: an event whose writer says its type
    (``notify_after_commit(..., event_type=...)``) and that no listener wants is handed to none.
    ``wants_owner`` does the same by the event's merchant and mode, when its writer says them
    (``owner=(merchant id, livemode)``); it is asked inside the writer's transaction, so it must be
    cheap (the webhook listener's answers from memory). A listener is called only with the events it
    may act on, and not at all when there are none."""
    if listener not in _listeners:
        _listeners.append(listener)
    if wants is not None:
        _interests[listener] = wants
    if wants_owner is not None:
        _owner_interests[listener] = wants_owner


def _hearing(event_type: str | None, owner: tuple[int | None, bool] | None) -> list[EventListener]:
    """The listeners that may act on an event of this type and owner (either unknown: any)."""
    return [
        listener
        for listener in _listeners
        if (event_type is None or listener not in _interests or _interests[listener](event_type))
        and (owner is None or listener not in _owner_interests or _owner_interests[listener](*owner))
    ]


def _outermost_block() -> object | None:
    """The outermost atomic block this code opened (a test case's wrapping blocks do not count)."""
    return next((block for block in connection.atomic_blocks if not getattr(block, "_from_testcase", False)), None)


def notify_after_commit(
    event_id: int, *, event_type: str | None = None, owner: tuple[int | None, bool] | None = None
) -> None:
    """Add an event to its transaction's batch; the first event of a transaction schedules the one
    after-commit call. A batch belongs to the outermost atomic block; one whose callback is no longer
    registered (its transaction rolled back) is stale and starts over. Outside any transaction (one
    statement wrote the event and committed as it ended) the listeners hear of it at once. The
    writer says what it knows of the event (its type; ``owner``: its merchant's id and mode) so that
    listeners that could not act on it never hear of it."""
    listeners = _hearing(event_type, owner)
    if not listeners:
        return
    if not connection.in_atomic_block:  # autocommit: the statement that wrote the event has committed
        for listener in listeners:
            listener([event_id])
        return
    block = _outermost_block()
    pending = getattr(connection, _PENDING, None)
    if (
        pending is None
        or pending[0] is not block
        or not any(entry[1] is pending[1] for entry in connection.run_on_commit)
    ):
        heard: dict[EventListener, list[int]] = {}

        def flush() -> None:
            if getattr(connection, _PENDING, None) is batch:
                delattr(connection, _PENDING)
            for listener, event_ids in heard.items():
                listener(list(event_ids))

        batch = (block, flush, heard)
        setattr(connection, _PENDING, batch)
        transaction.on_commit(flush)
        pending = batch
    for listener in listeners:
        pending[2].setdefault(listener, []).append(event_id)
