from __future__ import annotations

from django.db import models

from bnpl.core.models import BaseModel


class Notification(BaseModel):
    """A message sent about one object, once per kind: the unique (kind, object) pair is what makes
    sending idempotent (a retried task, a re-run sweep or a second worker finds the row and sends
    nothing). No address or text is kept: only what was sent about what, and on which channels."""

    kind = models.CharField(max_length=50)  # e.g. "purchase_confirmed", "payment_receipt"
    object_id = models.CharField(max_length=64)  # the public id of what it is about (pln_…, ch_…, re_…)
    channels = models.CharField(max_length=20, blank=True)  # "email,sms" as sent ("" when no channel was allowed)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="notification_once_per_object")]


class NotificationWatermark(BaseModel):
    """The sweep's place in the outbox: events up to ``last_event_id`` were looked at (one row)."""

    SINGLETON_ID = 1

    last_event_id = models.BigIntegerField(default=0)
