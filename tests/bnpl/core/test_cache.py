"""The Redis cache backend (bnpl.core.cache) and what the partner API asks of Redis per request.

Django's own backend built a new Redis client for every cache call (about 50 µs each, more than a
round trip to a local Redis); ours keeps one per connection pool. The per-key throttle is one Lua
script, and an authenticated request whose key this process knows costs nothing else: one round
trip to Redis in all. Runs only on Redis (CACHE_URL=redis://..., as CI sets)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.cache import caches

from bnpl.core import clock
from bnpl.core.cache import RedisCache
from bnpl.core.ratelimit import Rate, check, take
from tests.conftest import ApiClient

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        not str(settings.CACHES["default"]["BACKEND"]).endswith("RedisCache"),
        reason="needs Redis: set CACHE_URL=redis://... (as .ci/run does)",
    ),
]


@pytest.fixture
def redis_commands(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The commands sent to Redis through the shared client (each is one round trip)."""
    client = _backend().redis()
    sent: list[str] = []
    send = client.execute_command

    def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return send(*args, **options)

    monkeypatch.setattr(client, "execute_command", counted)
    yield sent


def _backend() -> Any:
    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    return backend


def test_every_cache_call_reuses_one_client() -> None:
    backend = _backend()

    clients = {id(backend.redis()), id(backend._cache.get_client()), id(backend._cache.get_client(write=True))}
    backend.set("one-client", 1)
    backend.get("one-client")

    assert len(clients) == 1
    assert backend._cache.get_client() is backend.redis()


def test_a_rate_limit_check_is_one_round_trip_whatever_the_number_of_limits(redis_commands: list[str]) -> None:
    limits = [check(Rate(name="a", limit=10, window=1), "key"), check(Rate(name="b", limit=100, window=60), "key")]
    take(limits)  # the script is loaded once per server
    redis_commands.clear()

    verdict = take(limits)

    assert verdict.allowed
    assert redis_commands == ["EVALSHA"]


def test_an_authenticated_request_is_one_round_trip_to_redis_once_its_key_is_known(
    api: ApiClient, redis_commands: list[str]
) -> None:
    with time_machine.travel(clock.real_now(), tick=False):
        api.get("/api/v1/account")
        api.get("/api/v1/account")  # the first use stamped the key: read once more
        redis_commands.clear()

        response = api.get("/api/v1/account")

    assert response.status_code == 200
    assert redis_commands == ["EVALSHA"]  # the throttle; the key came from this process's memory
