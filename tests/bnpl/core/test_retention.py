"""The retention sweep deletes exactly what the policy lets go (docs/operations.md, "Retention"):
expired idempotency keys whose lock is over, old events every reader of the outbox has passed and
no webhook delivery refers to -- never an event the lake, the fan-out, notifications or the event
bus relay has not consumed -- settled webhook deliveries whose attempts have gone, and whole months
of the audit log and of webhook attempts once past their retention."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from bnpl.core import clock
from bnpl.core.idempotency import idempotency_keys_purge
from bnpl.core.models import AuditLogEntry, Event, IdempotencyKey
from bnpl.core.partitions import month_start, months_later, partitions
from bnpl.core.services import audit_log_record, clock_advance
from bnpl.lake.models import LakeWatermark
from bnpl.notifications.models import NotificationWatermark
from bnpl.retention import retention_sweep
from merchants.models import Merchant, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint, WebhookFanOutWatermark
from merchants.services import merchant_create

pytestmark = pytest.mark.django_db

OLD = dt.timedelta(days=91)


def _event(merchant: Merchant, age: dt.timedelta) -> Event:
    event = Event.objects.create(
        type="merchant.updated", object_type="merchants.merchant", object_id=merchant.public_id, data={}
    )
    Event.objects.filter(pk=event.pk).update(created_at=clock.now() - age)
    return event


def _readers_at(position: int, *, settings: Any, relay: int | None = None) -> None:
    LakeWatermark.objects.update_or_create(stream="events", defaults={"position": position})
    WebhookFanOutWatermark.objects.update_or_create(pk=1, defaults={"last_event_id": position})
    NotificationWatermark.objects.update_or_create(pk=1, defaults={"last_event_id": position})
    if relay is not None:
        settings.EVENT_BUS_RELAY = "eventbridge://bus"
        LakeWatermark.objects.update_or_create(stream="event_bus", defaults={"position": relay})


def _key(
    merchant: Merchant, name: str, *, status: str, age: dt.timedelta, locked: dt.timedelta | None
) -> IdempotencyKey:
    key = IdempotencyKey.objects.create(
        merchant=merchant,
        livemode=False,
        key=name,
        request_method="POST",
        request_path="/v1/x",
        request_fingerprint="f" * 64,
        status=status,
        locked_at=None if locked is None else clock.now() - locked,
    )
    IdempotencyKey.objects.filter(pk=key.pk).update(created_at=clock.now() - age)
    return key


def test_old_events_every_reader_passed_go_and_nothing_else(settings: Any) -> None:
    settings.EVENT_RETENTION = dt.timedelta(days=90)
    merchant = merchant_create(name="Shop")
    Event.objects.all().delete()  # the rows merchant_create wrote are not this test's subject
    consumed_old = _event(merchant, OLD)
    delivered_old = _event(merchant, OLD)
    consumed_young = _event(merchant, dt.timedelta(days=89))
    unconsumed_old = _event(merchant, OLD)
    endpoint = WebhookEndpoint.objects.create(
        merchant=merchant, livemode=False, url="https://example.com/hook", secret="whsec_test"
    )
    WebhookDelivery.objects.create(
        merchant=merchant, livemode=False, endpoint=endpoint, event=delivered_old, status="succeeded"
    )
    _readers_at(consumed_young.pk, settings=settings)

    report = retention_sweep()

    assert report.events == 1
    assert report.event_horizon == consumed_young.pk
    kept = Event.objects.exclude(type="retention.swept").values_list("pk", flat=True)
    assert set(kept) == {delivered_old.pk, consumed_young.pk, unconsumed_old.pk}
    assert not Event.objects.filter(pk=consumed_old.pk).exists()
    entry = AuditLogEntry.objects.get(action="retention.swept")
    assert entry.after is not None and entry.after["events"] == 1
    assert Event.objects.get(type="retention.swept").data == entry.after  # audited and emitted
    assert retention_sweep().total == 0  # safe to repeat: nothing more, and no second audit row
    assert AuditLogEntry.objects.filter(action="retention.swept").count() == 1


@pytest.mark.parametrize("lagging", ["lake", "fan_out", "notifications", "relay"])
def test_an_event_a_reader_has_not_consumed_stays(settings: Any, lagging: str) -> None:
    settings.EVENT_RETENTION = dt.timedelta(days=90)
    merchant = merchant_create(name="Shop")
    first = _event(merchant, OLD)
    second = _event(merchant, OLD)
    _readers_at(second.pk, settings=settings, relay=second.pk)
    behind = {"last_event_id": first.pk}
    if lagging == "lake":
        LakeWatermark.objects.filter(stream="events").update(position=first.pk)
    elif lagging == "fan_out":
        WebhookFanOutWatermark.objects.update(**behind)
    elif lagging == "notifications":
        NotificationWatermark.objects.update(**behind)
    else:
        LakeWatermark.objects.filter(stream="event_bus").update(position=first.pk)

    retention_sweep()

    assert Event.objects.filter(pk=second.pk).exists()
    assert not Event.objects.filter(pk=first.pk).exists()


def test_no_lake_watermark_means_no_event_goes(settings: Any) -> None:
    settings.EVENT_RETENTION = dt.timedelta(days=90)
    merchant = merchant_create(name="Shop")
    event = _event(merchant, OLD)
    WebhookFanOutWatermark.objects.update_or_create(pk=1, defaults={"last_event_id": event.pk})
    NotificationWatermark.objects.update_or_create(pk=1, defaults={"last_event_id": event.pk})

    assert retention_sweep().events == 0
    assert Event.objects.filter(pk=event.pk).exists()


def test_expired_idempotency_keys_go_but_not_a_live_lock(settings: Any) -> None:
    settings.IDEMPOTENCY_KEY_TTL = dt.timedelta(hours=24)
    settings.IDEMPOTENCY_LOCK_TIMEOUT = dt.timedelta(seconds=120)
    merchant = merchant_create(name="Shop")
    day = dt.timedelta(hours=25)
    done = _key(merchant, "done", status="completed", age=day, locked=day)
    dead = _key(merchant, "dead", status="in_progress", age=day, locked=dt.timedelta(minutes=5))
    running = _key(merchant, "running", status="in_progress", age=day, locked=dt.timedelta(seconds=10))
    young = _key(merchant, "young", status="completed", age=dt.timedelta(hours=1), locked=None)

    assert retention_sweep().idempotency_keys == 2

    assert set(IdempotencyKey.objects.values_list("pk", flat=True)) == {running.pk, young.pk}
    assert not IdempotencyKey.objects.filter(pk__in=[done.pk, dead.pk]).exists()


def test_the_purge_by_hand_applies_the_same_rule_and_keeps_a_live_lock(settings: Any) -> None:
    settings.IDEMPOTENCY_KEY_TTL = dt.timedelta(hours=24)
    settings.IDEMPOTENCY_LOCK_TIMEOUT = dt.timedelta(seconds=120)
    merchant = merchant_create(name="Shop")
    day = dt.timedelta(hours=25)
    done = _key(merchant, "done", status="completed", age=day, locked=day)
    running = _key(merchant, "running", status="in_progress", age=day, locked=dt.timedelta(seconds=10))

    assert idempotency_keys_purge() == 1

    assert list(IdempotencyKey.objects.values_list("pk", flat=True)) == [running.pk]
    assert not IdempotencyKey.objects.filter(pk=done.pk).exists()


def test_batches_are_bounded_and_the_command_catches_up(settings: Any, capsys: Any) -> None:
    settings.EVENT_RETENTION = dt.timedelta(days=90)
    merchant = merchant_create(name="Shop")
    events = [_event(merchant, OLD) for _ in range(5)]
    _readers_at(events[-1].pk, settings=settings)

    assert retention_sweep(batch_size=2, max_batches=1).events == 2
    assert Event.objects.filter(pk__in=[e.pk for e in events]).count() == 3

    call_command("retention_sweep", "--batch-size", "2")

    assert not Event.objects.filter(pk__in=[e.pk for e in events]).exists()
    assert "events: 3" in capsys.readouterr().out


def test_settled_webhook_deliveries_past_retention_go_once_their_attempts_have(settings: Any) -> None:
    settings.WEBHOOK_DELIVERY_RETENTION = dt.timedelta(days=90)
    merchant = merchant_create(name="Shop")
    endpoint = WebhookEndpoint.objects.create(
        merchant=merchant, livemode=False, url="https://example.com/hook", secret="whsec_test"
    )

    def delivery(status: str, age: dt.timedelta) -> WebhookDelivery:
        made = WebhookDelivery.objects.create(
            merchant=merchant,
            livemode=False,
            endpoint=endpoint,
            event=_event(merchant, age),
            status=status,
            next_attempt_at=clock.now() if status == "pending" else None,
        )
        WebhookDelivery.objects.filter(pk=made.pk).update(created_at=clock.now() - age)
        return made

    settled_old, failed_old = delivery("succeeded", OLD), delivery("failed", OLD)
    pending_old, settled_young = delivery("pending", OLD), delivery("succeeded", dt.timedelta(days=89))
    logged_old = delivery("succeeded", OLD)  # its attempt's month is still kept
    WebhookDeliveryAttempt.objects.create(delivery=logged_old, request_body="{}", response_status=200)

    report = retention_sweep()

    assert report.webhook_deliveries == 2
    kept = set(WebhookDelivery.objects.values_list("pk", flat=True))
    assert kept == {pending_old.pk, settled_young.pk, logged_old.pk}
    assert not kept & {settled_old.pk, failed_old.pk}


@pytest.mark.postgres
def test_the_sweep_drops_audit_months_past_retention_and_makes_the_months_ahead(settings: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("declarative partitioning is PostgreSQL's")
    merchant = merchant_create(name="Shop")
    written = AuditLogEntry.objects.filter(merchant=merchant).values_list("pk", flat=True)
    assert written.exists()
    table = AuditLogEntry._meta.db_table
    legacy_end = partitions(table)[0].upper
    assert legacy_end is not None

    clock_advance(by=dt.timedelta(days=8 * 365))
    late = audit_log_record(action="merchant.updated", instance=merchant)  # no month for it yet: DEFAULT
    with connection.cursor() as cursor:  # as if those writes had committed long ago (a table with
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # deferred checks pending cannot be dropped)
    report = retention_sweep()

    cutoff = clock.now() - settings.AUDIT_LOG_RETENTION
    assert legacy_end <= cutoff
    assert f"{table}_legacy" in report.partitions_dropped
    assert not written.exists()  # the rows older than seven years went with their month
    assert f"{WebhookDeliveryAttempt._meta.db_table}_legacy" in report.partitions_dropped
    this_month = month_start(clock.now())
    assert report.left_in_default == [f"{table}_p{this_month:%Y_%m}"]
    assert f"{table}_p{months_later(this_month, 1):%Y_%m}" in report.partitions_created
    remaining = partitions(table)
    assert all(part.is_default or (part.upper and part.upper > cutoff) for part in remaining)
    entry = AuditLogEntry.objects.get(action="retention.swept")
    assert entry.after is not None and f"{table}_legacy" in entry.after["partitions_dropped"]
    assert AuditLogEntry.objects.filter(pk=late.pk).exists()  # DEFAULT is never dropped
