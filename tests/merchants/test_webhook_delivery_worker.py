"""End to end: the partner API writes an event, the outbox listener queues it after commit, a real
Celery worker (on the configured broker) fans it out and POSTs it to a real HTTP receiver, which
verifies the signature with ``verify_signature``. A 500 is retried once the clock has moved past
the backoff; a replay sends the event again."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable

import pytest
import time_machine

from bnpl.core import clock
from bnpl.core.models import Event
from merchants.models import WebhookDelivery, WebhookEndpoint
from merchants.tasks import webhook_deliveries_send
from tests.conftest import ApiClient
from tests.helpers import wait_until
from tests.merchants.conftest import WebhookReceiver
from tests.merchants.factories import Tenant


def _delivery(event_id: str) -> WebhookDelivery | None:
    return WebhookDelivery.objects.filter(event__public_id=event_id).first()


def _settled(event_id: str, status: str, attempts: int) -> Callable[[], bool]:
    def check() -> bool:
        delivery = _delivery(event_id)
        return delivery is not None and (delivery.status, delivery.attempt_count) == (status, attempts)

    return check


def _update(api: ApiClient, endpoint_id: str, description: str) -> str:
    response = api.post(f"/api/v1/webhook_endpoints/{endpoint_id}", {"description": description})
    assert response.status_code == 200, response.content
    return Event.objects.filter(type="webhook_endpoint.updated", object_id=endpoint_id).order_by("pk").last().public_id  # type: ignore[union-attr]


@pytest.mark.django_db(transaction=True)
def test_events_reach_a_real_receiver_signed_through_a_real_worker_retried_and_replayed(
    celery_worker: None, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    api = ApiClient(tenant.test_key)
    created = api.post(
        "/api/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["webhook_endpoint.updated"]}
    ).json()
    receiver.secret = created["secret"]
    endpoint_id = created["id"]

    # An event the endpoint asked for is delivered, signed, as the API shows it.
    updated = _update(api, endpoint_id, "v2")
    assert wait_until(lambda: receiver.count() == 1, timeout=90.0), "the worker never delivered the event"
    assert wait_until(_settled(updated, "succeeded", 1), timeout=30.0)
    first = receiver.received[0]
    assert first.signature_valid is True
    assert first.headers["Content-Type"] == "application/json"
    assert first.headers["User-Agent"] == "BNPL-Webhooks/1"
    assert json.loads(first.body) == api.get(f"/api/v1/events/{updated}").json()

    # The test event goes to this endpoint even though its filter does not name the type.
    test_event = api.post(f"/api/v1/webhook_endpoints/{endpoint_id}/test", {})
    assert test_event.status_code == 201
    assert wait_until(lambda: receiver.count() == 2, timeout=30.0)
    assert json.loads(receiver.received[1].body) == test_event.json()
    assert receiver.received[1].signature_valid is True

    # A 500 is logged and retried once the clock has passed the first backoff (1 minute).
    receiver.statuses = [500]
    failing = _update(api, endpoint_id, "v3")
    assert wait_until(_settled(failing, "pending", 1), timeout=30.0)
    delivery = _delivery(failing)
    assert delivery is not None and delivery.last_attempt_at is not None
    assert delivery.next_attempt_at == delivery.last_attempt_at + dt.timedelta(minutes=1)
    assert receiver.count() == 3

    with time_machine.travel(clock.real_now() + dt.timedelta(minutes=1, seconds=1)):
        webhook_deliveries_send.delay()
        assert wait_until(_settled(failing, "succeeded", 2), timeout=30.0), "the retry never went out"
        assert receiver.count() == 4
        assert all(received.signature_valid for received in receiver.received)

        # A replay sends the first event again; the receiver sees the same event id twice.
        replay = api.post(f"/api/v1/webhook_deliveries/{_delivery(updated).public_id}/replay", {})  # type: ignore[union-attr]
        assert replay.status_code == 200
        assert wait_until(_settled(updated, "succeeded", 2), timeout=30.0), "the replay never went out"

    received = [json.loads(item.body) for item in receiver.received]
    assert [(body["id"], body["type"]) for body in received] == [
        (updated, "webhook_endpoint.updated"),
        (test_event.json()["id"], "webhook_endpoint.test"),
        (failing, "webhook_endpoint.updated"),
        (failing, "webhook_endpoint.updated"),
        (updated, "webhook_endpoint.updated"),
    ]
    assert all(item.signature_valid for item in receiver.received)
    endpoint = WebhookEndpoint.objects.get(public_id=endpoint_id)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == 3  # the created event was not asked for
