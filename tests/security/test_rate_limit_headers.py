"""Security review, issue 13 item 14: rate limits are documented, and responses carry them.

Every response of a limited endpoint reports the limits its request counted against in the IETF
httpapi draft's fields (``RateLimit-Policy`` and ``RateLimit``, draft-ietf-httpapi-ratelimit-headers),
and every 429, on the partner API and on the sign-in pages, says when to retry (``Retry-After``).
Limits that would tell one client about others (per destination, platform-wide) are never shown."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client

from bnpl.core import clock
from tests.conftest import ApiClient
from tests.consumers.conftest import another_code, latest_code
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

ACCOUNT = "/api/v1/account"


@pytest.fixture(autouse=True)
def _still_clock() -> Iterator[None]:
    with time_machine.travel(clock.real_now(), tick=False):
        yield


@pytest.fixture
def api_limits(settings: Any) -> None:
    settings.API_THROTTLE_RATE = "5/s"
    settings.API_THROTTLE_BURST_RATE = "7/min"


# --- Partner API ------------------------------------------------------------------------------


@pytest.mark.usefixtures("api_limits")
def test_every_api_response_reports_both_per_key_policies(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)

    first = api.get(ACCOUNT)
    second = api.get(ACCOUNT)

    assert first.status_code == 200
    assert first["RateLimit-Policy"] == '"api_key";q=5;w=1, "api_key_burst";q=7;w=60'
    assert first["RateLimit"] == '"api_key";r=4;t=1, "api_key_burst";r=6;t=60'
    assert second["RateLimit"] == '"api_key";r=3;t=1, "api_key_burst";r=5;t=60'


@pytest.mark.usefixtures("api_limits")
def test_a_throttled_api_request_says_when_to_retry(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    for _ in range(5):
        api.get(ACCOUNT)

    refused = api.get(ACCOUNT)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "1"
    assert refused["RateLimit"] == '"api_key";r=0;t=1, "api_key_burst";r=2;t=60'
    assert refused.json()["error"]["message"] == "Too many requests for this API key. Retry in 1 s."


@pytest.mark.usefixtures("api_limits")
def test_errors_and_idempotent_replays_report_the_limits_too(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)

    invalid = api.post("/api/v1/webhook_endpoints", {"url": "not a url", "enabled_events": ["*"]})
    body = {"url": "https://shop.example.com/hooks", "enabled_events": ["*"]}
    created = api.post("/api/v1/webhook_endpoints", body, idempotency_key="replay-me")
    replayed = api.post("/api/v1/webhook_endpoints", body, idempotency_key="replay-me")

    assert invalid.status_code == 400
    assert invalid["RateLimit"] == '"api_key";r=4;t=1, "api_key_burst";r=6;t=60'
    assert created.status_code == 201
    assert (replayed.status_code, replayed["Idempotent-Replayed"]) == (201, "true")
    assert replayed["RateLimit"] == '"api_key";r=2;t=1, "api_key_burst";r=4;t=60'


def test_invalid_keys_report_the_address_limit_and_the_429_says_when(settings: Any) -> None:
    settings.API_AUTH_FAILURES_PER_MINUTE = 2

    responses = [ApiClient(f"sk_test_guess{index}").get(ACCOUNT) for index in range(3)]

    assert [response.status_code for response in responses] == [401, 401, 429]
    assert responses[0]["RateLimit-Policy"] == '"invalid_api_key";q=2;w=60'
    assert [response["RateLimit"] for response in responses] == [
        '"invalid_api_key";r=1;t=60',
        '"invalid_api_key";r=0;t=60',
        '"invalid_api_key";r=0;t=60',
    ]
    assert responses[2]["Retry-After"] == "60"


# --- Sign-in pages ----------------------------------------------------------------------------


def test_the_sign_in_pages_report_the_limits_of_this_browser_and_address_only(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post("/account/sign-in", {"identifier": "ada@example.com"})
    wrong = client.post("/account/verify", {"code": another_code(latest_code("ada@example.com"))})

    assert asked.status_code == 302
    assert asked["RateLimit-Policy"] == (
        '"code_resend";q=1;w=60, "code_requests_client";q=5;w=3600, "code_requests_address";q=30;w=3600'
    )
    assert asked["RateLimit"] == (
        '"code_resend";r=0;t=60, "code_requests_client";r=4;t=3600, "code_requests_address";r=29;t=3600'
    )
    assert wrong.status_code == 400
    assert wrong["RateLimit-Policy"] == '"code_verifies_address";q=60;w=3600, "code_failures_client";q=10;w=86400'
    assert wrong["RateLimit"] == '"code_verifies_address";r=59;t=3600, "code_failures_client";r=9;t=86400'
    for response in (asked, wrong):
        assert "destination" not in response["RateLimit-Policy"]
        assert "global" not in response["RateLimit-Policy"]


def test_a_refused_sign_in_page_answers_429_with_retry_after(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/account/sign-in", {"identifier": "ada@example.com"})
        again = client.post("/account/sign-in", {"identifier": "ada@example.com"})
        resend = client.post("/account/resend")

    for response in (again, resend):
        assert response.status_code == 429
        assert response["Retry-After"] == "60"
        assert response["RateLimit"].startswith('"code_resend";r=0;t=60')
