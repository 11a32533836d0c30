"""API-key authentication on the partner API: every way a key is refused answers the one error shape
with a stable code and writes nothing; a good key is stamped as used and rate limited per key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.test import Client

from bnpl.core import clock
from bnpl.tenancy.keys import api_key_hash
from merchants import services
from merchants.models import ApiKey, Merchant, WebhookEndpoint
from tests.conftest import ApiClient
from tests.helpers import row_counts
from tests.merchants.factories import Tenant, make_merchant

ACCOUNT = "/api/v1/account"
WWW_AUTHENTICATE = 'Bearer realm="api"'
ERROR_KEYS = {"type", "code", "message", "param"}


def _key_row(token: str) -> ApiKey:
    return ApiKey.objects.get(token_hash=api_key_hash(token))


def _error(response: object) -> dict[str, object]:
    """The error object, after checking the body is exactly ``{"error": {type, code, message, param}}``."""
    body = response.json()  # type: ignore[attr-defined]
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    return body["error"]


# --- Refusals -------------------------------------------------------------------------------


def test_a_request_without_an_authorization_header_is_refused_with_401(tenant: Tenant) -> None:
    before = row_counts()

    response = Client().get(ACCOUNT)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert _error(response) == {
        "type": "authentication_error",
        "code": "api_key_missing",
        "message": "No API key provided. Use 'Authorization: Bearer <secret key>'.",
        "param": None,
    }
    assert row_counts() == before
    assert list(ApiKey.objects.values_list("last_used_at", flat=True)) == [None, None]


@pytest.mark.parametrize("header", ["Basic x", "Bearer", "Bearer    ", "Token sk_test_abc"])
def test_a_malformed_authorization_header_is_refused_with_401(tenant: Tenant, header: str) -> None:
    before = row_counts()

    response = Client().get(ACCOUNT, headers={"Authorization": header})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert _error(response) == {
        "type": "authentication_error",
        "code": "authorization_malformed",
        "message": "Use 'Authorization: Bearer <secret key>'.",
        "param": None,
    }
    assert row_counts() == before


@pytest.mark.parametrize("token", ["sk_test_" + "x" * 32, "sk_live_unknown", "k" * 201])
def test_an_unknown_key_is_refused_with_401(tenant: Tenant, token: str) -> None:
    before = row_counts()

    response = ApiClient(token).get(ACCOUNT)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert _error(response) == {
        "type": "authentication_error",
        "code": "invalid_api_key",
        "message": "Invalid API key.",
        "param": None,
    }
    assert row_counts() == before
    assert list(ApiKey.objects.values_list("last_used_at", flat=True)) == [None, None]


def test_a_revoked_key_is_refused_with_401_and_not_stamped(tenant: Tenant) -> None:
    services.api_key_revoke(api_key=_key_row(tenant.test_key))
    before = row_counts()

    response = ApiClient(tenant.test_key).get(ACCOUNT)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert _error(response) == {
        "type": "authentication_error",
        "code": "api_key_revoked",
        "message": "This API key was revoked.",
        "param": None,
    }
    assert row_counts() == before
    assert _key_row(tenant.test_key).last_used_at is None


def test_a_revoked_key_cannot_write(tenant: Tenant) -> None:
    services.api_key_revoke(api_key=_key_row(tenant.test_key))
    before = row_counts()

    response = ApiClient(tenant.test_key).post(
        "/api/v1/webhook_endpoints", {"url": "https://shop.example.com/hooks", "enabled_events": ["*"]}
    )

    assert response.status_code == 401
    assert _error(response)["code"] == "api_key_revoked"
    assert row_counts() == before
    assert not WebhookEndpoint.objects.exists()


def test_every_key_of_a_suspended_merchant_is_refused_with_403(tenant: Tenant) -> None:
    publishable = services.api_key_create(merchant=tenant.merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=False).token
    services.merchant_suspend(merchant=tenant.merchant)
    before = row_counts()

    responses = [ApiClient(token).get(ACCOUNT) for token in (tenant.test_key, tenant.live_key, publishable)]

    for response in responses:
        assert response.status_code == 403
        assert "WWW-Authenticate" not in response
        assert _error(response) == {
            "type": "permission_error",
            "code": "merchant_suspended",
            "message": "This merchant account is suspended.",
            "param": None,
        }
    assert row_counts() == before
    assert list(ApiKey.objects.values_list("last_used_at", flat=True)) == [None, None, None]


def test_a_live_key_of_a_merchant_that_is_not_approved_is_refused_with_403(db: None) -> None:
    # given a live key issued honestly (after approval), and the merchant then back at pending
    merchant = make_merchant(name="Back to pending")
    live_key = services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=True).token
    test_key = services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=False).token
    Merchant.objects.filter(pk=merchant.pk).update(status=Merchant.Status.PENDING)
    before = row_counts()

    live = ApiClient(live_key).get(ACCOUNT)
    test = ApiClient(test_key).get(ACCOUNT)

    assert live.status_code == 403
    assert "WWW-Authenticate" not in live
    assert _error(live) == {
        "type": "permission_error",
        "code": "merchant_not_approved",
        "message": "Live mode opens once the merchant is approved.",
        "param": None,
    }
    assert _key_row(live_key).last_used_at is None
    assert test.status_code == 200  # test mode stays open to a pending merchant
    assert test.json()["status"] == "pending"
    assert row_counts() == before


def test_a_publishable_key_is_refused_on_a_secret_key_endpoint(tenant: Tenant) -> None:
    publishable = services.api_key_create(merchant=tenant.merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=False).token
    before = row_counts()

    response = ApiClient(publishable).get(ACCOUNT)

    assert publishable.startswith("pk_test_")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == WWW_AUTHENTICATE
    assert _error(response) == {
        "type": "authentication_error",
        "code": "secret_key_required",
        "message": "This endpoint needs a secret key (sk_…); publishable keys are for public widget calls only.",
        "param": None,
    }
    assert row_counts() == before


def test_a_publishable_key_cannot_write(tenant: Tenant) -> None:
    publishable = services.api_key_create(merchant=tenant.merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=False).token
    before = row_counts()

    response = ApiClient(publishable).post(
        "/api/v1/webhook_endpoints", {"url": "https://shop.example.com/hooks", "enabled_events": ["*"]}
    )

    assert response.status_code == 401
    assert _error(response)["code"] == "secret_key_required"
    assert row_counts() == before


# --- Accepted keys ----------------------------------------------------------------------------


def test_each_key_resolves_its_own_merchant_and_mode(tenant: Tenant, other_tenant: Tenant) -> None:
    mine_test = ApiClient(tenant.test_key).get(ACCOUNT)
    mine_live = ApiClient(tenant.live_key).get(ACCOUNT)
    theirs = ApiClient(other_tenant.test_key).get(ACCOUNT)

    assert mine_test.status_code == mine_live.status_code == theirs.status_code == 200
    assert mine_test.json()["id"] == mine_live.json()["id"] == tenant.merchant.public_id
    assert mine_test.json()["name"] == "Merchant A"
    assert theirs.json()["id"] == other_tenant.merchant.public_id


def test_last_used_at_is_stamped_at_most_once_a_minute(tenant: Tenant) -> None:
    start = dt.datetime(2031, 5, 4, 12, 0, 0, tzinfo=dt.UTC)

    with time_machine.travel(start, tick=False) as traveller:
        first = ApiClient(tenant.test_key).get(ACCOUNT)
        stamped_first = _key_row(tenant.test_key).last_used_at
        traveller.shift(dt.timedelta(seconds=59))
        ApiClient(tenant.test_key).get(ACCOUNT)
        stamped_within_the_minute = _key_row(tenant.test_key).last_used_at
        traveller.shift(dt.timedelta(seconds=1))
        ApiClient(tenant.test_key).get(ACCOUNT)
        stamped_a_minute_later = _key_row(tenant.test_key).last_used_at

    assert first.status_code == 200
    assert stamped_first == start
    assert stamped_within_the_minute == start
    assert stamped_a_minute_later == start + dt.timedelta(seconds=60)
    assert _key_row(tenant.live_key).last_used_at is None  # only the key that was used


# --- Rate limits ------------------------------------------------------------------------------


@pytest.fixture
def three_requests_a_minute(settings: Any) -> None:
    settings.API_THROTTLE_RATE = "3/min"
    settings.API_THROTTLE_BURST_RATE = "1000/min"


@pytest.mark.usefixtures("three_requests_a_minute")
def test_the_request_over_the_per_key_limit_is_refused_with_429_and_retry_after(tenant: Tenant) -> None:
    other_key = services.api_key_create(merchant=tenant.merchant, kind=ApiKey.Kind.SECRET, livemode=False).token
    api = ApiClient(tenant.test_key)

    with time_machine.travel(clock.real_now(), tick=False):
        allowed = [api.get(ACCOUNT) for _ in range(3)]
        refused = api.get(ACCOUNT)
        same_merchant_other_key = ApiClient(other_key).get(ACCOUNT)

    assert [response.status_code for response in allowed] == [200, 200, 200]
    assert refused.status_code == 429
    assert refused["Retry-After"] == "60"
    assert "WWW-Authenticate" not in refused
    assert _error(refused) == {
        "type": "rate_limit_error",
        "code": "rate_limited",
        "message": "Too many requests for this API key. Retry in 60 s.",
        "param": None,
    }
    assert same_merchant_other_key.status_code == 200
    assert same_merchant_other_key.json()["id"] == tenant.merchant.public_id


@pytest.mark.usefixtures("three_requests_a_minute")
def test_a_throttled_post_writes_nothing(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)

    with time_machine.travel(clock.real_now(), tick=False):
        for _ in range(3):
            assert api.get(ACCOUNT).status_code == 200
        before = row_counts()
        refused = api.post(
            "/api/v1/webhook_endpoints", {"url": "https://shop.example.com/hooks", "enabled_events": ["*"]}
        )

    assert refused.status_code == 429
    assert _error(refused)["type"] == "rate_limit_error"
    assert row_counts() == before
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.usefixtures("three_requests_a_minute")
def test_the_limit_opens_again_after_the_window(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)

    with time_machine.travel(clock.real_now(), tick=False) as traveller:
        for _ in range(3):
            api.get(ACCOUNT)
        refused = api.get(ACCOUNT)
        traveller.shift(dt.timedelta(seconds=61))
        allowed_again = api.get(ACCOUNT)

    assert refused.status_code == 429
    assert allowed_again.status_code == 200


def test_guessing_keys_is_throttled_per_client_address(settings: Any, tenant: Tenant) -> None:
    settings.API_AUTH_FAILURES_PER_MINUTE = 3
    with time_machine.travel(clock.real_now(), tick=False):
        guesses = [ApiClient(f"sk_test_guess{index}").get("/api/v1/account") for index in range(4)]
        valid_key_from_the_same_address = ApiClient(tenant.test_key).get("/api/v1/account")

    assert [response.status_code for response in guesses] == [401, 401, 401, 429]
    assert _error(guesses[-1]) == {
        "type": "rate_limit_error",
        "code": "rate_limited",
        "message": "Too many requests with invalid API keys from this address. Retry in 60 s.",
        "param": None,
    }
    assert guesses[-1]["Retry-After"] == "60"
    # Only requests whose key fails are refused: a valid key from the same address is served
    # (tests/security/test_api_key_lockout.py plays the load-balancer case).
    assert valid_key_from_the_same_address.status_code == 200
