"""Listeners on the outbox: code that must react to new events (webhook fan-out, the data lake)
registers here, and is called after the transaction that wrote the events commits. The outbox table
stays the truth: listeners only speed things up, a periodic sweep catches whatever they miss."""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

EventListener = Callable[[list[int]], None]
_listeners: list[EventListener] = []


def register_listener(listener: EventListener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def notify_after_commit(event_id: int) -> None:
    """Call each listener with the id of an event once its transaction commits."""
    for listener in _listeners:
        transaction.on_commit(lambda listener=listener: listener([event_id]))  # type: ignore[misc]
