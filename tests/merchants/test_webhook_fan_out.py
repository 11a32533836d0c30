"""Fan-out: each merchant-visible event owes one pending delivery to every enabled, undeleted
endpoint of its merchant and mode that asked for its type. Fed by the outbox listener (after commit)
and by the sweep over the events after a persisted watermark; idempotent either way."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.db import transaction
from kombu.exceptions import OperationalError

from bnpl.core import clock
from bnpl.core.models import Event
from bnpl.core.services import event_emit
from merchants import services, webhooks
from merchants.models import Merchant, WebhookDelivery, WebhookEndpoint, WebhookFanOutWatermark
from tests.merchants.factories import Tenant, make_merchant

START = dt.datetime(2030, 1, 15, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def _endpoint(merchant: Merchant, *, livemode: bool = False, events: list[str] | None = None) -> WebhookEndpoint:
    return services.webhook_endpoint_create(
        merchant=merchant,
        livemode=livemode,
        url="https://hooks.example.com/bnpl",
        enabled_events=events or ["*"],
    )


def _event(merchant: Merchant | None, *, livemode: bool = False, type: str = "merchant.updated") -> Event:
    instance = merchant or make_merchant()
    with transaction.atomic():
        return event_emit(type=type, instance=instance, merchant=merchant, livemode=livemode, data={"n": 1})


def _deliveries() -> set[tuple[str, str]]:
    return set(WebhookDelivery.objects.values_list("endpoint__public_id", "event__public_id"))


def test_an_event_owes_a_delivery_to_each_endpoint_of_its_merchant_and_mode_that_wants_it(
    frozen: time_machine.Traveller, tenant: Tenant, other_tenant: Tenant
) -> None:
    merchant = tenant.merchant
    everything = _endpoint(merchant, events=["*"])
    this_type = _endpoint(merchant, events=["merchant.updated", "api_key.created"])
    _endpoint(merchant, events=["api_key.created"])  # another type
    _endpoint(merchant, livemode=True, events=["*"])  # the other mode
    disabled = _endpoint(merchant, events=["*"])
    services.webhook_endpoint_update(endpoint=disabled, status=WebhookEndpoint.Status.DISABLED)
    services.webhook_endpoint_delete(endpoint=_endpoint(merchant, events=["*"]))
    _endpoint(other_tenant.merchant, events=["*"])  # another merchant
    event = _event(merchant)

    pending = webhooks.deliveries_create_for_events(event_ids=[event.pk])

    assert _deliveries() == {(everything.public_id, event.public_id), (this_type.public_id, event.public_id)}
    assert sorted(pending) == sorted(WebhookDelivery.objects.values_list("pk", flat=True))
    for delivery in WebhookDelivery.objects.all():
        assert delivery.public_id.startswith("whd_") and len(delivery.public_id) == 28
        assert delivery.merchant == merchant
        assert delivery.livemode is False
        assert delivery.status == WebhookDelivery.Status.PENDING
        assert delivery.attempt_count == 0
        assert delivery.next_attempt_at == START
        assert delivery.first_attempt_at is None
        assert delivery.last_attempt_at is None
        assert delivery.succeeded_at is None
        assert delivery.claim_token == ""
        assert delivery.created_at == START


def test_a_live_event_goes_to_live_endpoints_only(tenant: Tenant) -> None:
    test_endpoint = _endpoint(tenant.merchant, livemode=False)
    live_endpoint = _endpoint(tenant.merchant, livemode=True)
    event = _event(tenant.merchant, livemode=True)

    webhooks.deliveries_create_for_events(event_ids=[event.pk])

    assert _deliveries() == {(live_endpoint.public_id, event.public_id)}
    assert not WebhookDelivery.objects.filter(endpoint=test_endpoint).exists()
    assert WebhookDelivery.objects.get().livemode is True


def test_fan_out_is_idempotent(tenant: Tenant) -> None:
    _endpoint(tenant.merchant)
    _endpoint(tenant.merchant)
    first, second = _event(tenant.merchant), _event(tenant.merchant)
    webhooks.deliveries_create_for_events(event_ids=[first.pk])
    before = set(WebhookDelivery.objects.values_list("public_id", "endpoint_id", "event_id", "status"))

    webhooks.deliveries_create_for_events(event_ids=[first.pk])
    webhooks.deliveries_create_for_events(event_ids=[first.pk, first.pk])
    webhooks.deliveries_create_for_events(event_ids=[first.pk, second.pk])

    after = set(WebhookDelivery.objects.values_list("public_id", "endpoint_id", "event_id", "status"))
    assert before < after
    assert WebhookDelivery.objects.filter(event=first).count() == 2
    assert WebhookDelivery.objects.filter(event=second).count() == 2
    assert WebhookDelivery.objects.count() == 4


@pytest.mark.parametrize("event_type", ["consumer.created", "clock.advanced", "not.registered"])
def test_events_merchants_do_not_see_owe_nothing(tenant: Tenant, event_type: str) -> None:
    _endpoint(tenant.merchant)
    event = _event(tenant.merchant, type=event_type)

    assert webhooks.deliveries_create_for_events(event_ids=[event.pk]) == []
    assert WebhookDelivery.objects.count() == 0


def test_events_without_a_merchant_owe_nothing(tenant: Tenant) -> None:
    _endpoint(tenant.merchant)
    event = _event(None, type="merchant.updated")

    assert webhooks.deliveries_create_for_events(event_ids=[event.pk]) == []
    assert WebhookDelivery.objects.count() == 0


def test_an_endpoint_receives_no_event_older_than_itself(tenant: Tenant) -> None:
    with time_machine.travel(START, tick=False) as traveller:
        event = _event(tenant.merchant)
        traveller.shift(dt.timedelta(seconds=1))
        _endpoint(tenant.merchant)

        webhooks.deliveries_create_for_events(event_ids=[event.pk])

    assert WebhookDelivery.objects.count() == 0


def test_a_test_event_goes_to_the_endpoint_tested_only_whatever_its_filter(tenant: Tenant) -> None:
    tested = _endpoint(tenant.merchant, events=["api_key.created"])
    everything = _endpoint(tenant.merchant, events=["*"])
    asked_for_tests = _endpoint(tenant.merchant, events=[webhooks.TEST_EVENT_TYPE])

    event = webhooks.webhook_endpoint_test(endpoint=tested)
    webhooks.deliveries_create_for_events(event_ids=[event.pk])

    assert event.type == "webhook_endpoint.test"
    assert _deliveries() == {(tested.public_id, event.public_id)}
    assert not WebhookDelivery.objects.filter(endpoint__in=[everything, asked_for_tests]).exists()


# --- The listener -----------------------------------------------------------------------------


@pytest.fixture
def queued(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The broker's side of the listener: what it was asked to queue."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(webhooks.fan_out_task, "send", lambda args: calls.append({"args": args}))
    return calls


def test_the_listener_queues_the_event_ids_only_after_commit(
    tenant: Tenant, queued: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    _endpoint(tenant.merchant)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = _event(tenant.merchant)
    assert queued == []  # the transaction is over, but its callbacks have not run yet

    for callback in callbacks:
        callback()

    assert queued == [{"args": ([event.pk],)}]
    assert WebhookDelivery.objects.count() == 0  # the worker creates the deliveries, not the request


def test_the_listener_queues_nothing_when_the_transaction_rolls_back(
    tenant: Tenant, queued: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    _endpoint(tenant.merchant)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        event_emit(type="merchant.updated", instance=tenant.merchant, merchant=tenant.merchant, data={})
        raise RuntimeError("boom")

    assert queued == []
    assert not Event.objects.filter(type="merchant.updated").exists()


def test_the_listener_queues_nothing_when_no_endpoint_could_want_the_events(
    tenant: Tenant, other_tenant: Tenant, queued: list[dict[str, Any]], django_capture_on_commit_callbacks: Any
) -> None:
    _endpoint(tenant.merchant, livemode=True)
    _endpoint(other_tenant.merchant)
    disabled = _endpoint(tenant.merchant)
    services.webhook_endpoint_update(endpoint=disabled, status=WebhookEndpoint.Status.DISABLED)

    with django_capture_on_commit_callbacks(execute=True):
        _event(tenant.merchant, livemode=False)  # only a disabled endpoint in this mode
        _event(tenant.merchant, livemode=True, type="consumer.created")  # not merchant-visible
        _event(None)

    assert queued == []


def test_an_unreachable_broker_does_not_fail_the_request(
    tenant: Tenant,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def unreachable(args: Any) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(webhooks.fan_out_task, "send", unreachable)
    _endpoint(tenant.merchant)

    with (
        caplog.at_level(logging.WARNING, logger="merchants.webhooks"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        event = _event(tenant.merchant)

    assert Event.objects.filter(pk=event.pk).exists()
    assert [record.getMessage() for record in caplog.records] == [
        f"webhook fan-out of events [{event.pk}] not queued (broker unreachable); the sweep will"
    ]
    assert WebhookDelivery.objects.count() == 0  # until the sweep runs:
    webhooks.events_sweep()
    assert WebhookDelivery.objects.filter(event=event).count() == 1


# --- The sweep --------------------------------------------------------------------------------


def _watermark() -> int:
    watermark, _ = WebhookFanOutWatermark.objects.get_or_create(pk=WebhookFanOutWatermark.SINGLETON_ID)
    return watermark.last_event_id


def _set_watermark(last_event_id: int) -> None:
    WebhookFanOutWatermark.objects.update_or_create(
        pk=WebhookFanOutWatermark.SINGLETON_ID, defaults={"last_event_id": last_event_id}
    )


def test_the_sweep_fans_out_every_event_after_the_watermark_and_passes_those_settled(
    frozen: time_machine.Traveller, tenant: Tenant
) -> None:
    endpoint = _endpoint(tenant.merchant)
    older = _event(tenant.merchant)
    frozen.shift(dt.timedelta(minutes=4))
    newer = _event(tenant.merchant)
    start = _watermark()

    read = webhooks.events_sweep()

    assert read == Event.objects.filter(pk__gt=start).count()
    assert {(endpoint.public_id, older.public_id), (endpoint.public_id, newer.public_id)} <= _deliveries()
    assert _watermark() == start  # nothing is five minutes old yet

    frozen.shift(dt.timedelta(minutes=1))  # `older` (and everything before it) has settled
    webhooks.events_sweep()
    assert _watermark() == older.pk

    frozen.shift(dt.timedelta(minutes=4))
    webhooks.events_sweep()
    assert _watermark() == newer.pk == Event.objects.order_by("pk").last().pk  # type: ignore[union-attr]


def test_the_sweep_is_idempotent_and_does_not_reread_what_it_passed(
    frozen: time_machine.Traveller, tenant: Tenant
) -> None:
    _endpoint(tenant.merchant)
    _event(tenant.merchant)
    webhooks.events_sweep()
    before = set(WebhookDelivery.objects.values_list("public_id", flat=True))
    frozen.shift(dt.timedelta(minutes=5))

    assert webhooks.events_sweep() > 0  # still unsettled last time: read again, creates nothing new
    assert webhooks.events_sweep() == 0  # passed: not read again

    assert set(WebhookDelivery.objects.values_list("public_id", flat=True)) == before


def test_the_sweep_reads_in_batches(frozen: time_machine.Traveller, tenant: Tenant) -> None:
    _endpoint(tenant.merchant)
    events = [_event(tenant.merchant) for _ in range(3)]
    frozen.shift(dt.timedelta(minutes=5))
    _set_watermark(events[0].pk - 1)

    assert webhooks.events_sweep(batch_size=2) == 2
    assert _watermark() == events[1].pk
    assert webhooks.events_sweep(batch_size=2) == 1
    assert _watermark() == events[2].pk
    assert WebhookDelivery.objects.filter(event__in=events).count() == 3


def test_the_sweep_starts_after_the_events_that_existed_when_webhooks_were_installed(
    frozen: time_machine.Traveller, tenant: Tenant
) -> None:
    """The migration seeds the watermark with the newest event: the backlog is never sent."""
    _endpoint(tenant.merchant)
    event = _event(tenant.merchant)
    _set_watermark(event.pk)
    frozen.shift(dt.timedelta(days=1))

    assert webhooks.events_sweep() == 0
    assert WebhookDelivery.objects.count() == 0
    assert clock.now() == START + dt.timedelta(days=1)
