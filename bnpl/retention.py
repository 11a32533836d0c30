"""Retention of the tables that grow without bound: what may go, when, and what must stay.

The design, and why (issue 19, "big tables managed"):

1. **Idempotency keys are swept by rows, never partitioned.** PostgreSQL requires a unique
   constraint on a partitioned table to include the partition key; partitioning by time would turn
   the (merchant, livemode, key) guard into (merchant, livemode, key, month) and let the same key
   run twice across a month boundary. The guard stays a real guarantee on one table; the sweep
   deletes completed keys past ``IDEMPOTENCY_KEY_TTL`` (Stripe keeps them 24 h) and an
   ``in_progress`` key only once its lock has expired too (a request may still be running under a
   younger one). The table holds about a day of POSTs, so row deletes in bounded batches suffice.
2. **Events are deleted by rows only behind every reader of the outbox.** An event goes when it is
   older than ``EVENT_RETENTION`` *and* every consumer has passed it: the lake's ``events`` watermark
   (every id at or below it is in a completed batch: the lake is the long-term copy), the webhook
   fan-out watermark, the notifications watermark and, while ``EVENT_BUS_RELAY`` is set, the relay's
   position; *and* no webhook delivery still refers to it (the foreign key is PROTECT: a pending
   delivery or a replayable settled one keeps its event). No watermark row yet means the reader has
   consumed nothing: nothing goes.
3. **The audit log and webhook delivery attempts go by the month.** Both refuse DELETE by trigger
   (they are the record), so neither is ever deleted by rows: each is partitioned by month
   (``bnpl/core/partitions.py``, which argues the conversion), the sweep keeps
   ``PARTITION_MONTHS_AHEAD`` months of partitions ready and drops a month once all of it is older
   than its retention (``AUDIT_LOG_RETENTION``, seven years; ``WEBHOOK_DELIVERY_RETENTION``, 90 days).
   A settled webhook delivery older than its retention goes by rows once its attempts have gone (it
   is not append-only; a pending one is kept, and so is one whose attempts' month is still here).
   Events are not partitioned (docs/scaling.md says why): they go by rows, as in 2.
4. **Every batch is bounded and its own transaction**, ids chosen first then deleted by id, so a
   sweep can stop anywhere and run again; the run is summarised in one audit row and one event
   (``retention.swept``, not shown to merchants) when it removed or added anything, so a quiet
   hour writes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from bnpl.core import clock, partitions
from bnpl.core.context import Actor
from bnpl.core.idempotency import idempotency_keys_expired
from bnpl.core.models import AuditLogEntry, Event, IdempotencyKey
from bnpl.core.services import change_record
from bnpl.lake.models import LakeWatermark
from bnpl.notifications.models import NotificationWatermark
from merchants.models import WebhookDelivery, WebhookDeliveryAttempt, WebhookFanOutWatermark

logger = logging.getLogger(__name__)

ACTOR = Actor(kind="system", identifier="retention_sweep", label="Retention sweep")
LAKE_EVENTS_STREAM = "events"
EVENT_BUS_STREAM = "event_bus"


@dataclasses.dataclass
class SweepReport:
    idempotency_keys: int = 0
    events: int = 0
    event_horizon: int = 0  # the highest event id every reader has consumed
    webhook_deliveries: int = 0
    partitions_created: list[str] = dataclasses.field(default_factory=list)
    partitions_dropped: dict[str, int] = dataclasses.field(default_factory=dict)  # name: rows it held
    left_in_default: list[str] = dataclasses.field(default_factory=list)  # months whose rows sit in DEFAULT
    partitions_busy: list[str] = dataclasses.field(default_factory=list)  # lock not had in time: next run

    @property
    def total(self) -> int:
        """Rows removed."""
        return self.idempotency_keys + self.events + self.webhook_deliveries + sum(self.partitions_dropped.values())


def partitioned_tables() -> list[tuple[str, str, dt.timedelta]]:
    """(table, time column, retention) of each table kept in monthly partitions."""
    return [
        (AuditLogEntry._meta.db_table, "created_at", settings.AUDIT_LOG_RETENTION),
        (WebhookDeliveryAttempt._meta.db_table, "attempted_at", settings.WEBHOOK_DELIVERY_RETENTION),
    ]


def event_horizon() -> int:
    """The highest event id every reader of the outbox has passed (0 when any has not started)."""
    positions = [
        LakeWatermark.objects.filter(stream=LAKE_EVENTS_STREAM).values_list("position", flat=True).first() or 0,
        WebhookFanOutWatermark.objects.values_list("last_event_id", flat=True).first() or 0,
        NotificationWatermark.objects.values_list("last_event_id", flat=True).first() or 0,
    ]
    if settings.EVENT_BUS_RELAY:
        positions.append(
            LakeWatermark.objects.filter(stream=EVENT_BUS_STREAM).values_list("position", flat=True).first() or 0
        )
    return min(positions)


def _delete_in_batches(queryset, model, *, batch_size: int, max_batches: int) -> int:  # type: ignore[no-untyped-def]
    deleted = 0
    for _ in range(max_batches):
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            count, _ = model.objects.filter(pk__in=ids).delete()
            deleted += count
        if len(ids) < batch_size:
            break
    return deleted


def events_expired(horizon: int):  # type: ignore[no-untyped-def]
    cutoff = clock.now() - settings.EVENT_RETENTION
    referenced = WebhookDelivery.objects.filter(event_id=OuterRef("pk"))
    return Event.objects.filter(pk__lte=horizon, created_at__lt=cutoff).exclude(Exists(referenced))


def webhook_deliveries_expired():  # type: ignore[no-untyped-def]
    cutoff = clock.now() - settings.WEBHOOK_DELIVERY_RETENTION
    attempts = WebhookDeliveryAttempt.objects.filter(delivery_id=OuterRef("pk"))
    return (
        WebhookDelivery.objects.filter(created_at__lt=cutoff)
        .exclude(status=WebhookDelivery.Status.PENDING)
        .exclude(Exists(attempts))
    )


def partitions_maintain(report: SweepReport) -> None:
    """Months ahead made, months past retention dropped (PostgreSQL; elsewhere nothing is partitioned)."""
    if connection.vendor != "postgresql":
        return
    now = clock.now()
    for table, column, retention in partitioned_tables():
        ensured = partitions.partitions_ensure(table, column, now=now, months_ahead=settings.PARTITION_MONTHS_AHEAD)
        dropped = partitions.partitions_drop_before(table, cutoff=now - retention)
        report.partitions_created += ensured.created
        report.left_in_default += ensured.left_in_default
        report.partitions_dropped.update(dropped.rows)
        report.partitions_busy += ensured.busy + dropped.busy
    if report.partitions_busy:
        logger.warning("retention sweep: %s busy, left to the next run", ", ".join(report.partitions_busy))
    if report.left_in_default:
        logger.warning(
            "retention sweep: rows for %s sit in the DEFAULT partition (the clock moved past the months "
            "made ahead); those months stay there",
            ", ".join(report.left_in_default),
        )


def retention_sweep(*, batch_size: int | None = None, max_batches: int | None = None) -> SweepReport:
    """Apply the retention policy once (docs/operations.md, "Retention"): at most ``max_batches``
    batches of ``batch_size`` rows per table. Safe to repeat and to run concurrently with itself."""
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    max_batches = max_batches or settings.RETENTION_MAX_BATCHES
    report = SweepReport()
    report.idempotency_keys = _delete_in_batches(
        idempotency_keys_expired(), IdempotencyKey, batch_size=batch_size, max_batches=max_batches
    )
    partitions_maintain(report)
    report.webhook_deliveries = _delete_in_batches(
        webhook_deliveries_expired(), WebhookDelivery, batch_size=batch_size, max_batches=max_batches
    )
    report.event_horizon = event_horizon()
    if report.event_horizon:
        report.events = _delete_in_batches(
            events_expired(report.event_horizon), Event, batch_size=batch_size, max_batches=max_batches
        )
    if report.total or report.partitions_created:
        with transaction.atomic():
            watermark, _ = LakeWatermark.objects.get_or_create(stream=LAKE_EVENTS_STREAM)
            change_record(
                action="retention.swept",
                instance=watermark,
                data={
                    "idempotency_keys": report.idempotency_keys,
                    "events": report.events,
                    "event_horizon": report.event_horizon,
                    "event_retention_days": settings.EVENT_RETENTION.days,
                    "webhook_deliveries": report.webhook_deliveries,
                    "partitions_created": report.partitions_created,
                    "partitions_dropped": report.partitions_dropped,
                },
                actor=ACTOR,
            )
        logger.info(
            "retention sweep: %s idempotency key(s), %s event(s) (horizon %s), %s webhook deliveries; "
            "partitions made %s, dropped %s",
            report.idempotency_keys,
            report.events,
            report.event_horizon,
            report.webhook_deliveries,
            report.partitions_created,
            report.partitions_dropped,
        )
    return report
