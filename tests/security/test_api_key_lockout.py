"""Security review, issue 13 item 1: the bad-key lockout anyone could trigger.

The per-address counter of invalid API keys was checked before the key was looked up and keyed on
REMOTE_ADDR, so behind a load balancer ~30 bogus-key requests a minute denied the partner API to
every merchant. Now the key is looked up first, only a failed lookup counts (for the client address
read through the trusted proxy), and only requests whose key fails are ever refused for it."""

from __future__ import annotations

from typing import Any

import pytest
import time_machine
from django.test import Client

from bnpl.core import clock
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

ACCOUNT = "/api/v1/account"
BALANCER = "10.0.0.5"
GUESSER = "203.0.113.66"
MERCHANT_SERVER = "198.51.100.20"


@pytest.fixture(autouse=True)
def _behind_one_load_balancer(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    settings.API_AUTH_FAILURES_PER_MINUTE = 30


def _call(token: str, *, client_address: str, written_by_the_client: str | None = None) -> Any:
    """A request as the load balancer hands it on: from its own address, with the client's address
    appended to whatever X-Forwarded-For the client sent."""
    forwarded = f"{written_by_the_client}, {client_address}" if written_by_the_client else client_address
    return Client().get(
        ACCOUNT, headers={"Authorization": f"Bearer {token}"}, REMOTE_ADDR=BALANCER, HTTP_X_FORWARDED_FOR=forwarded
    )


def test_a_hundred_bogus_keys_through_the_balancer_do_not_stop_a_merchant_with_a_valid_key(tenant: Tenant) -> None:
    statuses = []
    merchant_statuses = []

    with time_machine.travel(clock.real_now(), tick=False):
        for index in range(100):
            statuses.append(_call(f"sk_test_guess{index:04d}", client_address=GUESSER).status_code)
            if index % 10 == 9:
                merchant_statuses.append(_call(tenant.test_key, client_address=MERCHANT_SERVER).status_code)
        # Even from the guesser's own address, a valid key is served: others' failures never count.
        same_address = _call(tenant.test_key, client_address=GUESSER)

    assert statuses == [401] * 30 + [429] * 70
    assert merchant_statuses == [200] * 10
    assert same_address.status_code == 200
    assert same_address.json()["id"] == tenant.merchant.public_id


def test_the_guesser_is_throttled_with_retry_after_until_the_minute_has_passed(tenant: Tenant) -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False) as traveller:
        for index in range(30):
            _call(f"sk_test_guess{index:04d}", client_address=GUESSER)
        traveller.shift(15)
        refused = _call("sk_test_guess_more", client_address=GUESSER)
        traveller.shift(46)
        after_the_minute = _call("sk_test_guess_later", client_address=GUESSER)

    assert refused.status_code == 429
    assert refused["Retry-After"] == "45"
    assert refused.json()["error"] == {
        "type": "rate_limit_error",
        "code": "rate_limited",
        "message": "Too many requests with invalid API keys from this address. Retry in 45 s.",
        "param": None,
    }
    assert after_the_minute.status_code == 401


def test_a_fake_leftmost_forwarded_for_entry_does_not_escape_the_guessers_counter(tenant: Tenant) -> None:
    with time_machine.travel(clock.real_now(), tick=False):
        statuses = [
            _call(
                f"sk_test_guess{index:04d}", client_address=GUESSER, written_by_the_client=f"192.0.2.{index % 250}"
            ).status_code
            for index in range(100)
        ]
        merchant = _call(tenant.test_key, client_address=MERCHANT_SERVER, written_by_the_client="192.0.2.1")

    assert statuses == [401] * 30 + [429] * 70
    assert merchant.status_code == 200


def test_a_second_client_behind_the_same_balancer_keeps_its_own_failure_count(tenant: Tenant) -> None:
    with time_machine.travel(clock.real_now(), tick=False):
        for index in range(40):
            _call(f"sk_test_guess{index:04d}", client_address=GUESSER)
        mistyped_by_someone_else = _call("sk_test_typo", client_address=MERCHANT_SERVER)

    assert mistyped_by_someone_else.status_code == 401
    assert mistyped_by_someone_else.json()["error"]["code"] == "invalid_api_key"
