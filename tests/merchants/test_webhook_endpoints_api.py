"""The webhook endpoint API (create, retrieve, update, soft delete, list) and the event feed it
feeds: every write is audited as the API key and emits its event in the key's mode only."""

from __future__ import annotations

import re

import pytest

from bnpl.core.event_types import merchant_visible_types
from bnpl.core.models import AuditLogEntry, Event, IdempotencyKey
from bnpl.tenancy.keys import api_key_hash
from merchants.models import ApiKey, WebhookEndpoint
from merchants.representations import webhook_endpoint_data
from tests.conftest import ApiClient
from tests.helpers import row_counts
from tests.merchants.factories import Tenant, make_webhook_endpoint

URL = "/api/v1/webhook_endpoints"
EVENTS = "/api/v1/events"


def _detail(endpoint_id: str) -> str:
    return f"{URL}/{endpoint_id}"


def _walk(api: ApiClient, path: str, params: dict[str, object]) -> list[list[str]]:
    """Every page's ids, following ``next`` until it runs out."""
    pages: list[list[str]] = []
    response = api.get(path, params)
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        pages.append([row["id"] for row in body["results"]])
        if body["next"] is None:
            return pages
        response = api.get(body["next"])


# --- Create -----------------------------------------------------------------------------------


def test_creating_an_endpoint_shows_its_secret_once_and_is_audited_as_the_api_key(
    api: ApiClient, tenant: Tenant
) -> None:
    response = api.post(
        URL,
        {
            "url": "https://shop.example.com/bnpl/webhooks",
            "enabled_events": ["webhook_endpoint.created", "merchant.approved", "merchant.approved"],
            "description": "Production",
        },
    )

    assert response.status_code == 201
    body = response.json()
    endpoint = WebhookEndpoint.objects.get()
    assert body == {
        "id": endpoint.public_id,
        "object": "webhook_endpoint",
        "livemode": False,
        "url": "https://shop.example.com/bnpl/webhooks",
        "description": "Production",
        "enabled_events": ["merchant.approved", "webhook_endpoint.created"],
        "status": "enabled",
        "created_at": body["created_at"],
        "secret": endpoint.secret,
    }
    assert re.fullmatch(r"whsec_[0-9A-Za-z]{32}", body["secret"])
    assert re.fullmatch(r"we_[0-9A-Za-z]{24}", body["id"])
    assert endpoint.merchant == tenant.merchant
    assert endpoint.livemode is False
    assert endpoint.deleted_at is None

    event = Event.objects.get(type="webhook_endpoint.created")
    assert event.merchant == tenant.merchant
    assert event.livemode is False
    assert event.object_id == endpoint.public_id
    assert event.data == webhook_endpoint_data(endpoint)
    assert "secret" not in event.data
    assert event.request_id == response["X-Request-Id"]

    api_key = ApiKey.objects.get(token_hash=api_key_hash(tenant.test_key))
    audit = AuditLogEntry.objects.get(action="webhook_endpoint.created")
    assert audit.actor_kind == "api_key"
    assert audit.actor_identifier == api_key.public_id
    assert audit.actor_label == f"Merchant A {api_key.token_hint}"
    assert audit.merchant == tenant.merchant
    assert audit.object_id == endpoint.public_id
    assert audit.before is None
    assert audit.after == webhook_endpoint_data(endpoint)
    assert audit.request_id == response["X-Request-Id"]


def test_the_secret_is_not_shown_again_on_retrieve_or_list(api: ApiClient) -> None:
    created = api.post(URL, {"url": "https://shop.example.com/hooks", "enabled_events": ["*"]}).json()

    retrieved = api.get(_detail(created["id"]))
    listed = api.get(URL)

    assert retrieved.status_code == 200
    assert retrieved.json() == {key: value for key, value in created.items() if key != "secret"}
    assert listed.json()["results"] == [retrieved.json()]
    assert created["secret"] not in retrieved.content.decode()
    assert created["secret"] not in listed.content.decode()


def test_a_live_key_creates_a_live_endpoint_with_a_live_event(tenant: Tenant) -> None:
    response = ApiClient(tenant.live_key).post(URL, {"url": "https://shop.example.com/hooks", "enabled_events": ["*"]})

    assert response.status_code == 201
    assert response.json()["livemode"] is True
    assert WebhookEndpoint.objects.get().livemode is True
    assert list(Event.objects.filter(type="webhook_endpoint.created").values_list("livemode", flat=True)) == [True]


def test_a_test_mode_endpoint_may_use_plain_http(api: ApiClient) -> None:
    response = api.post(URL, {"url": "http://localhost:8080/hooks", "enabled_events": ["*"]})

    assert response.status_code == 201
    assert response.json()["url"] == "http://localhost:8080/hooks"


def test_an_unknown_event_type_is_refused_naming_enabled_events(api: ApiClient) -> None:
    before = row_counts()

    response = api.post(URL, {"url": "https://shop.example.com/hooks", "enabled_events": ["*", "order.exploded"]})

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "event_type_invalid",
            "message": "Unknown event type 'order.exploded'.",
            "param": "enabled_events",
        }
    }
    assert row_counts() == before
    assert not WebhookEndpoint.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_an_event_type_merchants_cannot_see_is_refused(api: ApiClient) -> None:
    before = row_counts()

    response = api.post(URL, {"url": "https://shop.example.com/hooks", "enabled_events": ["clock.advanced"]})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "enabled_events"
    assert response.json()["error"]["code"] == "event_type_invalid"
    assert row_counts() == before


def test_a_live_endpoint_with_a_plain_http_url_is_refused_naming_url(tenant: Tenant) -> None:
    before = row_counts()

    response = ApiClient(tenant.live_key).post(URL, {"url": "http://shop.example.com/hooks", "enabled_events": ["*"]})

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "url_invalid",
            "message": "Live-mode webhook endpoints must use https.",
            "param": "url",
        }
    }
    assert row_counts() == before
    assert not WebhookEndpoint.objects.exists()


# --- Update -----------------------------------------------------------------------------------


def test_updating_changes_the_fields_and_records_before_and_after(api: ApiClient, tenant: Tenant) -> None:
    endpoint = make_webhook_endpoint(merchant=tenant.merchant, livemode=False)
    before_data = webhook_endpoint_data(endpoint)

    response = api.post(
        _detail(endpoint.public_id),
        {
            "url": "https://new.example.com/hooks",
            "enabled_events": ["merchant.suspended"],
            "description": "Paused for maintenance",
            "status": "disabled",
        },
    )

    endpoint.refresh_from_db()
    after_data = webhook_endpoint_data(endpoint)
    assert response.status_code == 200
    assert response.json() == after_data
    assert (endpoint.url, endpoint.enabled_events, endpoint.description, endpoint.status) == (
        "https://new.example.com/hooks",
        ["merchant.suspended"],
        "Paused for maintenance",
        "disabled",
    )
    event = Event.objects.get(type="webhook_endpoint.updated")
    assert (event.object_id, event.livemode, event.merchant) == (endpoint.public_id, False, tenant.merchant)
    assert event.data == after_data
    audit = AuditLogEntry.objects.get(action="webhook_endpoint.updated")
    assert audit.actor_kind == "api_key"
    assert audit.actor_identifier == ApiKey.objects.get(token_hash=api_key_hash(tenant.test_key)).public_id
    assert audit.before == before_data
    assert audit.after == after_data
    assert audit.before["url"] != audit.after["url"]


def test_an_update_that_changes_nothing_emits_nothing(api: ApiClient, tenant: Tenant) -> None:
    endpoint = make_webhook_endpoint(merchant=tenant.merchant, livemode=False)

    response = api.post(_detail(endpoint.public_id), {"url": endpoint.url})

    assert response.status_code == 200
    assert not Event.objects.filter(type="webhook_endpoint.updated").exists()
    assert not AuditLogEntry.objects.filter(action="webhook_endpoint.updated").exists()


def test_a_live_endpoint_cannot_be_moved_to_plain_http(tenant: Tenant) -> None:
    endpoint = make_webhook_endpoint(merchant=tenant.merchant, livemode=True)
    before = row_counts()

    response = ApiClient(tenant.live_key).post(_detail(endpoint.public_id), {"url": "http://shop.example.com/hooks"})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "url"
    assert WebhookEndpoint.objects.get().url == endpoint.url
    assert row_counts() == before


def test_an_update_with_an_unknown_event_type_changes_nothing(api: ApiClient, tenant: Tenant) -> None:
    endpoint = make_webhook_endpoint(merchant=tenant.merchant, livemode=False)
    before = row_counts()

    response = api.post(
        _detail(endpoint.public_id), {"description": "would change", "enabled_events": ["order.exploded"]}
    )

    endpoint.refresh_from_db()
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "enabled_events"
    assert (endpoint.description, endpoint.enabled_events) == ("", ["*"])
    assert row_counts() == before


# --- Delete -----------------------------------------------------------------------------------


def test_deleting_soft_deletes_and_the_endpoint_disappears_from_the_api(api: ApiClient, tenant: Tenant) -> None:
    kept = make_webhook_endpoint(merchant=tenant.merchant, livemode=False)
    endpoint = make_webhook_endpoint(merchant=tenant.merchant, livemode=False)
    before_data = webhook_endpoint_data(endpoint)

    response = api.delete(_detail(endpoint.public_id))
    retrieved = api.get(_detail(endpoint.public_id))
    listed = api.get(URL)
    deleted_again = api.delete(_detail(endpoint.public_id))

    assert response.status_code == 200
    assert response.json() == {"id": endpoint.public_id, "object": "webhook_endpoint", "deleted": True}
    row = WebhookEndpoint.objects.get(pk=endpoint.pk)  # the row stays
    assert row.deleted_at is not None
    assert row.status == WebhookEndpoint.Status.DISABLED
    assert retrieved.status_code == 404
    assert retrieved.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"No such webhook endpoint: '{endpoint.public_id}'.",
            "param": "id",
        }
    }
    assert [item["id"] for item in listed.json()["results"]] == [kept.public_id]
    assert deleted_again.status_code == 404
    event = Event.objects.get(type="webhook_endpoint.deleted")
    assert event.data == {**webhook_endpoint_data(row), "deleted": True}
    audit = AuditLogEntry.objects.get(action="webhook_endpoint.deleted")
    assert audit.actor_kind == "api_key"
    assert audit.before == before_data
    assert audit.after == {**webhook_endpoint_data(row), "deleted": True}
    assert Event.objects.filter(type="webhook_endpoint.deleted").count() == 1


def test_a_deleted_endpoint_cannot_be_updated(api: ApiClient, tenant: Tenant) -> None:
    endpoint = make_webhook_endpoint(merchant=tenant.merchant, livemode=False)
    api.delete(_detail(endpoint.public_id))
    before = row_counts()

    response = api.post(_detail(endpoint.public_id), {"status": "enabled"})

    assert response.status_code == 404
    assert WebhookEndpoint.objects.get().status == WebhookEndpoint.Status.DISABLED
    assert row_counts() == before


# --- Tenancy ----------------------------------------------------------------------------------


def test_another_merchants_endpoint_is_not_found_for_any_method(api: ApiClient, other_tenant: Tenant) -> None:
    theirs = make_webhook_endpoint(merchant=other_tenant.merchant, livemode=False)
    before = row_counts()
    snapshot = webhook_endpoint_data(theirs)

    responses = [
        api.get(_detail(theirs.public_id)),
        api.post(_detail(theirs.public_id), {"description": "hijacked"}),
        api.delete(_detail(theirs.public_id)),
    ]
    listed = api.get(URL)

    for response in responses:
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_missing"
    assert listed.json()["results"] == []
    theirs.refresh_from_db()
    assert webhook_endpoint_data(theirs) == snapshot
    assert theirs.deleted_at is None
    assert row_counts() == before


def test_the_own_endpoint_of_the_other_mode_is_not_found(api: ApiClient, tenant: Tenant) -> None:
    live = make_webhook_endpoint(merchant=tenant.merchant, livemode=True)

    response = api.get(_detail(live.public_id))
    listed = api.get(URL)

    assert response.status_code == 404
    assert listed.json()["results"] == []


# --- Lists ------------------------------------------------------------------------------------


def test_the_list_pages_through_every_endpoint_newest_first_without_duplicates(
    api: ApiClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = [make_webhook_endpoint(merchant=tenant.merchant, livemode=False).public_id for _ in range(5)]
    make_webhook_endpoint(merchant=tenant.merchant, livemode=True)
    make_webhook_endpoint(merchant=other_tenant.merchant, livemode=False)

    pages = _walk(api, URL, {"limit": 2})

    assert [len(page) for page in pages] == [2, 2, 1]
    walked = [endpoint_id for page in pages for endpoint_id in page]
    assert walked == list(reversed(mine))
    assert len(set(walked)) == 5


def test_the_event_feed_filters_by_type(api: ApiClient, tenant: Tenant) -> None:
    endpoints = [make_webhook_endpoint(merchant=tenant.merchant, livemode=False) for _ in range(3)]
    api.post(_detail(endpoints[0].public_id), {"description": "changed"})

    response = api.get(EVENTS, {"type": "webhook_endpoint.created"})

    assert response.status_code == 200
    results = response.json()["results"]
    expected = Event.objects.filter(type="webhook_endpoint.created", merchant=tenant.merchant, livemode=False)
    assert [event["id"] for event in results] == [event.public_id for event in expected.order_by("-created_at", "-id")]
    assert [event["data"]["object"]["id"] for event in results] == [
        endpoint.public_id for endpoint in reversed(endpoints)
    ]
    assert {event["type"] for event in results} == {"webhook_endpoint.created"}
    assert {event["livemode"] for event in results} == {False}


def test_the_event_feed_lists_only_the_keys_mode_and_merchant(
    api: ApiClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    test_endpoint = make_webhook_endpoint(merchant=tenant.merchant, livemode=False)
    live_endpoint = make_webhook_endpoint(merchant=tenant.merchant, livemode=True)
    theirs = make_webhook_endpoint(merchant=other_tenant.merchant, livemode=False)

    test_feed = [event_id for page in _walk(api, EVENTS, {"limit": 2}) for event_id in page]
    live_feed = [event_id for page in _walk(ApiClient(tenant.live_key), EVENTS, {"limit": 2}) for event_id in page]

    visible = merchant_visible_types()
    test_events = Event.objects.filter(merchant=tenant.merchant, livemode=False, type__in=visible)
    live_events = Event.objects.filter(merchant=tenant.merchant, livemode=True, type__in=visible)
    assert len(test_feed) == len(set(test_feed))
    assert sorted(test_feed) == sorted(test_events.values_list("public_id", flat=True))
    assert sorted(live_feed) == sorted(live_events.values_list("public_id", flat=True))
    created = dict(Event.objects.filter(type="webhook_endpoint.created").values_list("object_id", "public_id"))
    assert created[test_endpoint.public_id] in test_feed
    assert created[test_endpoint.public_id] not in live_feed
    assert created[live_endpoint.public_id] in live_feed
    assert created[live_endpoint.public_id] not in test_feed
    assert created[theirs.public_id] not in test_feed + live_feed


@pytest.mark.parametrize("event_type", ["order.exploded", "clock.advanced"])
def test_the_event_feed_refuses_a_type_merchants_cannot_see(api: ApiClient, event_type: str) -> None:
    response = api.get(EVENTS, {"type": event_type})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "type"


def test_an_event_of_the_other_mode_is_not_found(api: ApiClient, tenant: Tenant) -> None:
    live_endpoint = make_webhook_endpoint(merchant=tenant.merchant, livemode=True)
    test_endpoint = make_webhook_endpoint(merchant=tenant.merchant, livemode=False)
    live_event = Event.objects.get(object_id=live_endpoint.public_id)
    test_event = Event.objects.get(object_id=test_endpoint.public_id)

    live = api.get(f"{EVENTS}/{live_event.public_id}")
    test = api.get(f"{EVENTS}/{test_event.public_id}")

    assert live.status_code == 404
    assert live.json()["error"]["code"] == "resource_missing"
    assert test.status_code == 200
    assert test.json()["data"] == {"object": webhook_endpoint_data(test_endpoint)}


def test_private_webhook_targets_are_refused_outside_the_sandbox(settings, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = ApiClient(tenant.test_key).post(
        "/api/v1/webhook_endpoints", {"url": "http://127.0.0.1:9000/hook", "enabled_events": ["*"]}
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "url"
