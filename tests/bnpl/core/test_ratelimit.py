"""The rate-limit counters (bnpl.core.ratelimit): fixed windows anchored at first use by the project
clock, all-or-nothing over several limits, atomic under parallel requests. Runs on the configured
cache: locmem by default, Redis with CACHE_URL=redis://... (as CI does)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import time_machine

from bnpl.core import clock, ratelimit
from bnpl.core.ratelimit import Rate, check, give_back, take
from bnpl.core.services import clock_advance

# The project clock reads the sandbox offset from the database.
pytestmark = pytest.mark.django_db

MINUTE = Rate(name="per_minute", limit=3, window=60, advertised=True)
HOUR = Rate(name="per_hour", limit=5, window=3600)


def test_a_window_opens_at_the_first_unit_and_closes_a_window_later() -> None:
    start = clock.real_now()
    with time_machine.travel(start, tick=False) as traveller:
        first = take([check(MINUTE, "client")])
        traveller.shift(20.5)
        second = take([check(MINUTE, "client")])
        third = take([check(MINUTE, "client")])
        refused = take([check(MINUTE, "client")])
        traveller.shift(39.5)
        reopened = take([check(MINUTE, "client")])

    assert [(usage.used, usage.remaining, usage.reset) for usage in first.usages] == [(1, 2, 60)]
    assert [(usage.used, usage.remaining, usage.reset) for usage in second.usages] == [(2, 1, 40)]
    assert third.allowed
    assert not refused.allowed
    assert (refused.refusal, refused.retry_after) == (refused.usages[0], 40)
    assert [(usage.used, usage.remaining, usage.reset) for usage in refused.usages] == [(3, 0, 40)]
    assert reopened.allowed
    assert [(usage.used, usage.reset) for usage in reopened.usages] == [(1, 60)]


def test_keys_count_apart() -> None:
    for _ in range(3):
        take([check(MINUTE, "one")])

    assert not take([check(MINUTE, "one")]).allowed
    assert take([check(MINUTE, "two")]).allowed
    assert take([check(HOUR, "one")]).allowed  # another policy, another counter


def test_a_request_refused_by_one_limit_uses_up_none_of_the_others() -> None:
    for _ in range(3):
        take([check(MINUTE, "address")])

    refused = take([check(HOUR, "destination"), check(MINUTE, "address")])
    after = take([check(HOUR, "destination")])

    assert not refused.allowed
    assert [usage.allowed for usage in refused.usages] == [True, False]
    assert refused.refusal is not None and refused.refusal.rate == MINUTE
    assert [usage.used for usage in after.usages] == [1]  # the refused request counted nowhere


def test_given_back_units_can_be_taken_again_but_never_below_zero() -> None:
    for _ in range(3):
        take([check(MINUTE, "client")])
    give_back([check(MINUTE, "client")])
    give_back([check(HOUR, "never-taken")])

    assert [usage.used for usage in take([check(MINUTE, "client")]).usages] == [3]
    assert [usage.used for usage in take([check(HOUR, "never-taken")]).usages] == [1]


def test_parallel_requests_never_overshoot_a_limit() -> None:
    rate = Rate(name="parallel", limit=7, window=60)
    barrier = threading.Barrier(20)

    def one(_: int) -> bool:
        barrier.wait()
        return take([check(rate, "client"), check(HOUR, "parallel-client")]).allowed

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(one, range(20)))

    assert outcomes.count(True) == 5  # HOUR allows 5: every limit holds together
    assert [usage.used for usage in take([check(rate, "client")]).usages] == [6]


def test_the_sandbox_clock_moves_the_windows() -> None:
    take([check(MINUTE, "client")])
    for _ in range(2):
        take([check(MINUTE, "client")])
    assert not take([check(MINUTE, "client")]).allowed

    clock_advance(by=dt.timedelta(minutes=1))

    assert take([check(MINUTE, "client")]).allowed


def test_only_advertised_limits_are_reported_as_headers() -> None:
    with ratelimit.collecting_usages() as collected:
        take([check(MINUTE, "client"), check(HOUR, "destination")])

    assert list(collected) == ["per_minute"]
    assert ratelimit.header_fields(collected.values()) == {
        "RateLimit-Policy": '"per_minute";q=3;w=60',
        "RateLimit": '"per_minute";r=2;t=60',
    }
    assert ratelimit.header_fields([]) == {}


@pytest.mark.parametrize(
    ("text", "limit", "window"),
    [("100/s", 100, 1), ("1000/min", 1000, 60), ("20/hour", 20, 3600), ("30/day", 30, 86400), ("5 / m", 5, 60)],
)
def test_rates_read_like_drf_rates(text: str, limit: int, window: int) -> None:
    assert Rate.parse("api_key", text) == Rate(name="api_key", limit=limit, window=window)


@pytest.mark.parametrize("text", ["100", "x/s", "100/fortnight", "-1/s", ""])
def test_a_malformed_rate_is_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="api_key: a rate looks like"):
        Rate.parse("api_key", text)
