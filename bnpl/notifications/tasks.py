"""Celery doors to notifications. Tasks take ids and are idempotent: the ``Notification`` rows, not
the queue, say what was sent, so a lost or repeated message costs nothing."""

from __future__ import annotations

from celery import shared_task

from bnpl.notifications import services


@shared_task(name=services.SEND_TASK)
def notifications_send_for_events(event_ids: list[int]) -> int:
    """Send what these committed events call for. Returns how many messages were sent."""
    return services.notifications_send_for_events(event_ids=event_ids)


@shared_task(name="bnpl.notifications.tasks.notifications_sweep")
def notifications_sweep() -> int:
    """Periodic: send whatever the listener missed. Returns how many events were read."""
    return services.notifications_sweep()
