"""The delivery log in the partner API: an endpoint's deliveries (newest first), one delivery with
its attempts, replay, and the test event. Another merchant's ids (and the other mode's) are 404:
the schema-walking tests in tests/tenancy cover every one of these paths."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest
import time_machine

from bnpl.core.models import AuditLogEntry, Event
from merchants import services, webhooks
from merchants.models import WebhookDelivery, WebhookEndpoint
from merchants.representations import webhook_endpoint_data
from tests.conftest import ApiClient
from tests.helpers import row_counts
from tests.merchants.conftest import WebhookReceiver
from tests.merchants.factories import Tenant

START = dt.datetime(2030, 1, 15, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def frozen() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _endpoint(api: ApiClient, receiver: WebhookReceiver, *, events: list[str] | None = None) -> WebhookEndpoint:
    response = api.post("/api/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": events or ["*"]})
    assert response.status_code == 201, response.content
    receiver.secret = response.json()["secret"]
    return WebhookEndpoint.objects.get(public_id=response.json()["id"])


def _update(api: ApiClient, endpoint: WebhookEndpoint, description: str) -> Event:
    response = api.post(f"/api/v1/webhook_endpoints/{endpoint.public_id}", {"description": description})
    assert response.status_code == 200, response.content
    return Event.objects.filter(type="webhook_endpoint.updated", object_id=endpoint.public_id).order_by("pk").last()  # type: ignore[return-value]


def _fan_out(*events: Event) -> None:
    webhooks.deliveries_create_for_events(event_ids=[event.pk for event in events])


def test_an_endpoints_deliveries_are_listed_newest_first_a_page_at_a_time(
    frozen: time_machine.Traveller, api: ApiClient, receiver: WebhookReceiver
) -> None:
    endpoint = _endpoint(api, receiver, events=["webhook_endpoint.updated"])
    other = _endpoint(api, receiver, events=["*"])
    events = []
    for number in range(3):
        frozen.shift(dt.timedelta(minutes=1))
        events.append(_update(api, endpoint, f"v{number}"))
    _fan_out(*events, Event.objects.get(type="webhook_endpoint.created", object_id=other.public_id))
    deliveries = {delivery.event_id: delivery for delivery in WebhookDelivery.objects.filter(endpoint=endpoint)}
    assert len(deliveries) == 3
    assert WebhookDelivery.objects.filter(endpoint=other).count() == 4

    first_page = api.get(f"/api/v1/webhook_endpoints/{endpoint.public_id}/deliveries", {"limit": 2}).json()
    second_page = api.get(first_page["next"]).json()

    newest = deliveries[events[2].pk]
    assert first_page["results"][0] == {
        "id": newest.public_id,
        "object": "webhook_delivery",
        "livemode": False,
        "webhook_endpoint": endpoint.public_id,
        "event": events[2].public_id,
        "event_type": "webhook_endpoint.updated",
        "status": "pending",
        "attempt_count": 0,
        "next_attempt_at": _iso(START + dt.timedelta(minutes=3)),
        "last_attempt_at": None,
        "succeeded_at": None,
        "created_at": _iso(START + dt.timedelta(minutes=3)),
    }
    assert [row["event"] for row in first_page["results"] + second_page["results"]] == [
        events[2].public_id,
        events[1].public_id,
        events[0].public_id,
    ]
    assert second_page["next"] is None


def test_a_delivery_shows_its_attempts_newest_first(
    frozen: time_machine.Traveller, api: ApiClient, receiver: WebhookReceiver
) -> None:
    endpoint = _endpoint(api, receiver, events=["webhook_endpoint.updated"])
    event = _update(api, endpoint, "v2")
    _fan_out(event)
    receiver.statuses = [500]
    receiver.answer_body = b'{"error": "busy"}'
    webhooks.deliveries_send_due()
    frozen.shift(dt.timedelta(minutes=1))
    receiver.answer_body = b"thanks"
    webhooks.deliveries_send_due()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)

    body = api.get(f"/api/v1/webhook_deliveries/{delivery.public_id}").json()

    sent = [json.loads(received.body) for received in receiver.received]
    assert sent[0] == sent[1] == api.get(f"/api/v1/events/{event.public_id}").json()
    headers = [attempt.request_headers for attempt in delivery.attempts.order_by("pk")]
    assert body == {
        "id": delivery.public_id,
        "object": "webhook_delivery",
        "livemode": False,
        "webhook_endpoint": endpoint.public_id,
        "event": event.public_id,
        "event_type": "webhook_endpoint.updated",
        "status": "succeeded",
        "attempt_count": 2,
        "next_attempt_at": None,
        "last_attempt_at": _iso(START + dt.timedelta(minutes=1)),
        "succeeded_at": _iso(START + dt.timedelta(minutes=1)),
        "created_at": _iso(START),
        "attempts": [
            {
                "attempted_at": _iso(START + dt.timedelta(minutes=1)),
                "request_headers": headers[1],
                "request_body": receiver.received[1].body.decode(),
                "response_status": 200,
                "response_body": "thanks",
                "error": "",
                "duration_ms": body["attempts"][0]["duration_ms"],
            },
            {
                "attempted_at": _iso(START),
                "request_headers": headers[0],
                "request_body": receiver.received[0].body.decode(),
                "response_status": 500,
                "response_body": '{"error": "busy"}',
                "error": "",
                "duration_ms": body["attempts"][1]["duration_ms"],
            },
        ],
    }
    assert headers[0]["Bnpl-Signature"] != headers[1]["Bnpl-Signature"]  # each attempt is signed afresh
    assert all(received.signature_valid for received in receiver.received)


def test_replay_sends_a_delivered_event_again_and_keeps_its_history(
    frozen: time_machine.Traveller, tenant: Tenant, api: ApiClient, receiver: WebhookReceiver
) -> None:
    endpoint = _endpoint(api, receiver, events=["webhook_endpoint.updated"])
    _fan_out(_update(api, endpoint, "v2"))
    webhooks.deliveries_send_due()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    frozen.shift(dt.timedelta(hours=5))

    response = api.post(f"/api/v1/webhook_deliveries/{delivery.public_id}/replay", {})

    assert response.status_code == 200
    assert response.json()["status"] == "pending"
    assert response.json()["next_attempt_at"] == _iso(START + dt.timedelta(hours=5))
    assert response.json()["attempt_count"] == 1
    entry = AuditLogEntry.objects.get(action="webhook_delivery.replayed")
    assert (entry.object_id, entry.actor_kind, entry.merchant) == (delivery.public_id, "api_key", tenant.merchant)
    assert entry.before == {"status": "succeeded", "attempt_count": 1, "next_attempt_at": None}
    assert entry.after == {
        "status": "pending",
        "attempt_count": 1,
        "next_attempt_at": (START + dt.timedelta(hours=5)).isoformat(),
    }

    assert webhooks.deliveries_send_due() == 1

    assert [json.loads(received.body)["id"] for received in receiver.received] == [delivery.event.public_id] * 2
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempt_count == 2
    assert delivery.succeeded_at == START + dt.timedelta(hours=5)
    assert delivery.attempts.count() == 2


def test_replaying_a_delivery_that_gave_up_is_one_attempt_after_the_window(
    frozen: time_machine.Traveller, api: ApiClient, receiver: WebhookReceiver
) -> None:
    endpoint = _endpoint(api, receiver, events=["webhook_endpoint.updated"])
    _fan_out(_update(api, endpoint, "v2"))
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.FAILED,
        next_attempt_at=None,
        attempt_count=12,
        first_attempt_at=START - dt.timedelta(days=4),
        last_attempt_at=START - dt.timedelta(days=1),
    )
    receiver.statuses = [500]

    api.post(f"/api/v1/webhook_deliveries/{delivery.public_id}/replay", {})
    webhooks.deliveries_send_due()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("failed", 13, None)

    api.post(f"/api/v1/webhook_deliveries/{delivery.public_id}/replay", {})
    webhooks.deliveries_send_due()

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.succeeded_at) == ("succeeded", 14, START)
    assert receiver.count() == 2


def test_replaying_with_the_same_idempotency_key_replays_the_response_not_the_delivery(
    frozen: time_machine.Traveller, api: ApiClient, receiver: WebhookReceiver
) -> None:
    endpoint = _endpoint(api, receiver, events=["webhook_endpoint.updated"])
    _fan_out(_update(api, endpoint, "v2"))
    webhooks.deliveries_send_due()
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    path = f"/api/v1/webhook_deliveries/{delivery.public_id}/replay"

    first = api.post(path, {}, idempotency_key="replay-1")
    webhooks.deliveries_send_due()
    again = api.post(path, {}, idempotency_key="replay-1")

    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert webhooks.deliveries_send_due() == 0
    assert receiver.count() == 2
    assert AuditLogEntry.objects.filter(action="webhook_delivery.replayed").count() == 1


def test_a_delivery_of_a_deleted_endpoint_cannot_be_replayed(
    frozen: time_machine.Traveller, api: ApiClient, receiver: WebhookReceiver
) -> None:
    endpoint = _endpoint(api, receiver, events=["webhook_endpoint.updated"])
    _fan_out(_update(api, endpoint, "v2"))
    webhooks.deliveries_send_due()
    services.webhook_endpoint_delete(endpoint=endpoint)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    before = row_counts()

    response = api.post(f"/api/v1/webhook_deliveries/{delivery.public_id}/replay", {})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "webhook_endpoint_deleted"
    assert {**row_counts(), "core.idempotencykey": 0} == {**before, "core.idempotencykey": 0}
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.next_attempt_at) == ("succeeded", 1, None)
    assert webhooks.deliveries_send_due() == 0
    assert receiver.count() == 1


def test_the_test_event_is_returned_and_delivered_to_this_endpoint_only(
    frozen: time_machine.Traveller, tenant: Tenant, api: ApiClient, receiver: WebhookReceiver
) -> None:
    endpoint = _endpoint(api, receiver, events=["api_key.created"])  # a filter the test ignores
    everything = services.webhook_endpoint_create(
        merchant=tenant.merchant, livemode=False, url="https://other.example.com/hooks", enabled_events=["*"]
    )

    response = api.post(f"/api/v1/webhook_endpoints/{endpoint.public_id}/test", {})

    assert response.status_code == 201
    event = Event.objects.get(type="webhook_endpoint.test")
    assert response.json() == api.get(f"/api/v1/events/{event.public_id}").json()
    assert response.json() == {
        "id": event.public_id,
        "object": "event",
        "type": "webhook_endpoint.test",
        "livemode": False,
        "created_at": _iso(START),
        "request_id": event.request_id,
        "data": {"object": webhook_endpoint_data(endpoint)},
    }
    assert (event.merchant, event.object_id) == (tenant.merchant, endpoint.public_id)
    entry = AuditLogEntry.objects.get(action="webhook_endpoint.test")
    assert (entry.object_id, entry.actor_kind) == (endpoint.public_id, "api_key")

    _fan_out(event)
    webhooks.deliveries_send_due()

    assert not WebhookDelivery.objects.filter(endpoint=everything).exists()
    [received] = receiver.received
    assert received.signature_valid is True
    assert json.loads(received.body) == response.json()


def test_a_disabled_endpoint_cannot_be_tested(
    frozen: time_machine.Traveller, api: ApiClient, receiver: WebhookReceiver
) -> None:
    endpoint = _endpoint(api, receiver)
    services.webhook_endpoint_update(endpoint=endpoint, status=WebhookEndpoint.Status.DISABLED)
    before = row_counts()

    response = api.post(f"/api/v1/webhook_endpoints/{endpoint.public_id}/test", {})

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "webhook_endpoint_disabled"
    assert {**row_counts(), "core.idempotencykey": 0} == {**before, "core.idempotencykey": 0}
    assert not Event.objects.filter(type="webhook_endpoint.test").exists()


def test_the_test_event_type_is_in_the_catalogue_merchants_see(api: ApiClient) -> None:
    response = api.get("/api/v1/events", {"type": "webhook_endpoint.test"})

    assert response.status_code == 200
    assert response.json()["results"] == []
