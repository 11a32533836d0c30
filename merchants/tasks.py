"""Celery doors to webhook delivery. Tasks take ids and are idempotent; the delivery rows, not the
queue, are the truth, so a lost or repeated message costs nothing but a little time. Only this
module knows the tasks: ``merchants.webhooks`` queues them by name, never importing it."""

from __future__ import annotations

from celery import shared_task

from merchants import webhooks


@shared_task(name=webhooks.FAN_OUT_TASK)
def webhook_events_fan_out(event_ids: list[int]) -> int:
    """Create the deliveries these committed events owe, then send them. Returns how many were sent."""
    delivery_ids = webhooks.deliveries_create_for_events(event_ids=event_ids)
    return webhooks.deliveries_send_due(delivery_ids=delivery_ids) if delivery_ids else 0


@shared_task(name="merchants.tasks.webhook_events_sweep")
def webhook_events_sweep() -> int:
    """Periodic: fan out whatever the listener missed. Returns how many events were read."""
    return webhooks.events_sweep()


@shared_task(name=webhooks.SEND_TASK)
def webhook_deliveries_send(delivery_ids: list[int] | None = None) -> int:
    """Periodic (and after a replay): send due deliveries. Returns how many were sent."""
    return webhooks.deliveries_send_due(delivery_ids=delivery_ids)


@shared_task(name="merchants.tasks.settlements_run")
def settlements_run() -> dict[str, int]:
    from merchants.settlements import settlements_run as run

    return vars(run())
