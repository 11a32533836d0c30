from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import time_machine
from django.db import connection

from bnpl.core import clock
from bnpl.core.errors import ConflictError
from bnpl.core.idempotency import (
    StoredResponse,
    fingerprint,
    idempotency_claim,
    idempotency_complete,
    idempotency_keys_purge,
)
from bnpl.core.models import Event, IdempotencyKey
from merchants.models import WebhookEndpoint
from tests.conftest import ApiClient
from tests.helpers import row_counts
from tests.merchants.factories import Tenant

URL = "/api/v1/webhook_endpoints"
BODY = {"url": "https://shop.example.com/hooks", "enabled_events": ["*"]}


def test_a_retry_replays_the_first_response_byte_for_byte(api: ApiClient) -> None:
    first = api.post(URL, BODY, idempotency_key="key-1")
    second = api.post(URL, BODY, idempotency_key="key-1")

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert WebhookEndpoint.objects.count() == 1
    assert Event.objects.filter(type="webhook_endpoint.created").count() == 1


def test_the_same_key_with_other_parameters_is_refused_and_writes_nothing(api: ApiClient) -> None:
    api.post(URL, BODY, idempotency_key="key-1")
    before = row_counts()

    response = api.post(URL, {**BODY, "url": "https://elsewhere.example.com/"}, idempotency_key="key-1")

    assert response.status_code == 422
    assert response.json()["error"]["type"] == "idempotency_error"
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert response.json()["error"]["param"] == "Idempotency-Key"
    assert row_counts() == before


def test_the_same_key_on_another_path_is_refused(api: ApiClient, tenant: Tenant) -> None:
    created = api.post(URL, BODY, idempotency_key="key-1").json()

    response = api.post(f"{URL}/{created['id']}", {"description": "x"}, idempotency_key="key-1")

    assert response.status_code == 422
    assert WebhookEndpoint.objects.get().description == ""


def test_a_post_without_a_key_is_refused_and_writes_nothing(api: ApiClient) -> None:
    before = row_counts()

    response = api.post(URL, BODY, idempotency_key=None)

    assert response.status_code == 400
    assert response.json()["error"] == {
        "type": "invalid_request_error",
        "code": "idempotency_key_missing",
        "message": "Every POST needs an Idempotency-Key header (a UUID is a good choice).",
        "param": "Idempotency-Key",
    }
    assert row_counts() == before


def test_an_overlong_key_is_refused(api: ApiClient) -> None:
    response = api.post(URL, BODY, idempotency_key="k" * 256)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_invalid"
    assert not IdempotencyKey.objects.exists()


def test_an_invalid_request_stores_nothing_so_the_corrected_retry_succeeds(api: ApiClient) -> None:
    rejected = api.post(URL, {**BODY, "url": "not a url"}, idempotency_key="key-1")
    corrected = api.post(URL, BODY, idempotency_key="key-1")

    assert rejected.status_code == 400
    assert corrected.status_code == 201
    assert WebhookEndpoint.objects.count() == 1


def test_keys_are_per_merchant_and_mode(api: ApiClient, tenant: Tenant, other_tenant: Tenant) -> None:
    mine = api.post(URL, BODY, idempotency_key="shared")
    theirs = ApiClient(other_tenant.test_key).post(URL, BODY, idempotency_key="shared")
    my_live = ApiClient(tenant.live_key).post(URL, BODY, idempotency_key="shared")

    assert mine.status_code == theirs.status_code == my_live.status_code == 201
    assert len({mine.json()["id"], theirs.json()["id"], my_live.json()["id"]}) == 3


def test_a_request_still_in_progress_gets_409(api: ApiClient, tenant: Tenant) -> None:
    fingerprint_source = api.post(URL, BODY, idempotency_key="probe")  # learn the stored fingerprint shape
    record = IdempotencyKey.objects.get(key="probe")
    IdempotencyKey.objects.create(
        merchant=tenant.merchant,
        livemode=False,
        key="busy",
        request_method="POST",
        request_path=URL,
        request_fingerprint=record.request_fingerprint,
        locked_at=clock.now(),
    )

    response = api.post(URL, BODY, idempotency_key="busy")

    assert fingerprint_source.status_code == 201
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_key_in_use"
    assert WebhookEndpoint.objects.count() == 1


def test_a_claim_left_by_a_dead_request_is_taken_over_after_the_lock_timeout(api: ApiClient, tenant: Tenant) -> None:
    api.post(URL, BODY, idempotency_key="probe")
    fingerprint = IdempotencyKey.objects.get(key="probe").request_fingerprint
    IdempotencyKey.objects.create(
        merchant=tenant.merchant,
        livemode=False,
        key="orphan",
        request_method="POST",
        request_path=URL,
        request_fingerprint=fingerprint,
        locked_at=clock.now() - dt.timedelta(minutes=5),
    )

    response = api.post(URL, BODY, idempotency_key="orphan")

    assert response.status_code == 201
    assert IdempotencyKey.objects.get(key="orphan").status == IdempotencyKey.Status.COMPLETED


def test_keys_live_24_hours_then_the_purge_removes_them(api: ApiClient) -> None:
    api.post(URL, BODY, idempotency_key="old")
    with time_machine.travel(clock.real_now() + dt.timedelta(hours=23, minutes=59)):
        assert idempotency_keys_purge() == 0
    with time_machine.travel(clock.real_now() + dt.timedelta(hours=24, minutes=1)):
        assert idempotency_keys_purge() == 1
    assert not IdempotencyKey.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_parallel_requests_with_one_key_create_exactly_one_object(tenant: Tenant) -> None:
    barrier = threading.Barrier(50)
    key = str(uuid.uuid4())

    def call(_: int) -> tuple[int, bytes]:
        client = ApiClient(tenant.test_key)
        barrier.wait()
        try:
            response = client.post(URL, BODY, idempotency_key=key)
            return response.status_code, response.content
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(call, range(50)))

    statuses = [status for status, _ in results]
    assert set(statuses) <= {201, 409}
    assert WebhookEndpoint.objects.count() == 1
    assert Event.objects.filter(type="webhook_endpoint.created").count() == 1
    created = [body for status, body in results if status == 201]
    assert created and all(body == created[0] for body in created)  # every success is the same bytes
    conflicts = [json.loads(body) for status, body in results if status == 409]
    assert all(body["error"]["code"] == "idempotency_key_in_use" for body in conflicts)
    replay = ApiClient(tenant.test_key).post(URL, BODY, idempotency_key=key)
    assert replay.status_code == 201 and replay.content == created[0]


def test_a_request_overtaken_by_a_retry_cannot_complete(tenant: Tenant) -> None:
    print_ = fingerprint(method="POST", path="/x", data={})
    arguments: dict[str, Any] = {
        "merchant_id": tenant.merchant.pk,
        "livemode": False,
        "key": "k",
        "method": "POST",
        "path": "/x",
    }
    slow = idempotency_claim(**arguments, request_fingerprint=print_)
    assert isinstance(slow, IdempotencyKey)
    IdempotencyKey.objects.filter(pk=slow.pk).update(locked_at=clock.now() - dt.timedelta(minutes=5))
    slow.refresh_from_db()
    retry = idempotency_claim(**arguments, request_fingerprint=print_)
    assert isinstance(retry, IdempotencyKey)

    with pytest.raises(ConflictError) as raised:
        idempotency_complete(
            record=slow, response=StoredResponse(status=201, content_type="application/json", body=b"{}")
        )
    idempotency_complete(record=retry, response=StoredResponse(status=201, content_type="application/json", body=b"[]"))

    assert raised.value.code == "idempotency_key_taken_over"
    stored = IdempotencyKey.objects.get(pk=retry.pk).response_body
    assert stored is not None and bytes(stored) == b"[]"
