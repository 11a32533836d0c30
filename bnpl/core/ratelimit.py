"""Rate limits: the one home of every counter the project limits requests with (partner API keys,
invalid API keys per client address, one-time codes), and of the response headers that report them.

A limit is a ``Rate``: at most ``limit`` units per ``window`` seconds for one key (an API key, a
client address, a destination...). Each key's window opens at its first unit, by the project clock
(so tests move it with time-machine and the sandbox clock moves it too), and closes ``window``
seconds later: a fixed window anchored at first use, so "ask again in 40 seconds" is exact and no
client meets a boundary it did not start. ``take`` checks several limits and counts a request
against all of them, or against none when any is full: a request refused by one limit (a stranger's
request refused for its address) never uses up another (the shopper's per-destination quota).

Storage is the default cache. On Redis (production and CI) ``take`` is one Lua script: one round
trip and atomic across every web process, whatever the number of limits. On any other backend (the
demo's per-process locmem cache) the same steps run under a process lock, which is atomic exactly
as far as that cache is shared. Production must use Redis.

Limits marked ``advertised`` are reported on the response (``bnpl.core.middleware
.RateLimitHeadersMiddleware``) with the IETF httpapi draft's fields (draft-ietf-httpapi-ratelimit-
headers-10): ``RateLimit-Policy: "api_key";q=100;w=1`` (the quota and its window) and
``RateLimit: "api_key";r=99;t=1`` (remaining units and seconds until more are available). Limits
whose state would tell one client about another's activity (per destination, platform-wide) are
enforced but never advertised.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import math
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from bnpl.core import clock

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
KEY_PREFIX = "ratelimit"
# Kept in the cache this much longer than its window, so a key is never dropped while it counts.
EXPIRY_MARGIN_MS = 5_000


@dataclass(frozen=True)
class Rate:
    """At most ``limit`` units per ``window`` seconds. ``name`` names the policy in the headers and
    the counters in the cache; ``advertised`` reports it on the response."""

    name: str
    limit: int
    window: int  # seconds
    advertised: bool = False

    @classmethod
    def parse(cls, name: str, text: str, *, advertised: bool = False) -> Rate:
        """``"100/s"``, ``"1000/min"``, ``"20/hour"``, ``"30/day"`` (the unit's first letter counts)."""
        count, _, period = text.partition("/")
        seconds = PERIODS.get(period.strip()[:1].lower())
        if seconds is None or not count.strip().isdigit():
            raise ValueError(f"{name}: a rate looks like '100/s', '1000/min', '20/hour' or '30/day', not {text!r}")
        return cls(name=name, limit=int(count), window=seconds, advertised=advertised)


@dataclass(frozen=True)
class Check:
    """One limit applied to one key: ``parts`` identify whose counter it is (hashed in the cache, so
    no address or email is stored in clear)."""

    rate: Rate
    parts: tuple[str, ...]

    @property
    def cache_key(self) -> str:
        digest = hashlib.sha256("\x1f".join(self.parts).encode()).hexdigest()[:32]
        return f"{KEY_PREFIX}:{self.rate.name}:{self.rate.window}:{digest}"


def check(rate: Rate, *parts: str) -> Check:
    return Check(rate=rate, parts=parts)


@dataclass(frozen=True)
class Usage:
    """One limit's state after a request: ``used`` units in the window (this request included when
    it was counted), and ``reset`` seconds until the window closes."""

    rate: Rate
    used: int
    reset: int  # seconds, at least 1
    allowed: bool

    @property
    def remaining(self) -> int:
        return max(0, self.rate.limit - self.used)


@dataclass(frozen=True)
class Verdict:
    """The outcome of ``take``: counted against every limit, or (refused) against none."""

    usages: tuple[Usage, ...]

    @property
    def allowed(self) -> bool:
        return all(usage.allowed for usage in self.usages)

    @property
    def refusal(self) -> Usage | None:
        """The first limit (in the order checked) that refused the request."""
        return next((usage for usage in self.usages if not usage.allowed), None)

    @property
    def retry_after(self) -> int:
        """Seconds until every limit that refused has room again (0 when allowed)."""
        return max((usage.reset for usage in self.usages if not usage.allowed), default=0)


def take(checks: Sequence[Check], *, cost: int = 1) -> Verdict:
    """Count ``cost`` units against every check, or against none when any of them is full."""
    now_ms = _now_ms()
    if isinstance(caches["default"], RedisCache):
        states = _redis_take(checks, cost=cost, now_ms=now_ms)
    else:
        states = _local_take(checks, cost=cost, now_ms=now_ms)
    usages = []
    for item, (used, started_ms, allowed) in zip(checks, states, strict=True):
        closes_ms = started_ms + item.rate.window * 1000
        reset = min(item.rate.window, max(1, math.ceil((closes_ms - now_ms) / 1000)))
        usages.append(Usage(rate=item.rate, used=used, reset=reset, allowed=allowed))
    verdict = Verdict(usages=tuple(usages))
    _record(verdict)
    return verdict


def give_back(checks: Sequence[Check], *, cost: int = 1) -> None:
    """Return units taken earlier in the same window (a reserved attempt that turned out not to
    count). Never below zero; a window that closed meanwhile is left alone."""
    if isinstance(caches["default"], RedisCache):
        _redis_give_back(checks, cost=cost)
        return
    cache = caches["default"]
    with _local_lock:
        for item in checks:
            state = cache.get(item.cache_key)
            if state is not None:
                used, started_ms = state
                cache.set(item.cache_key, (max(0, used - cost), started_ms), timeout=_timeout_seconds(item, started_ms))


def _now_ms() -> int:
    return int(clock.now().timestamp() * 1000)


def _timeout_seconds(item: Check, started_ms: int) -> int:
    closes_ms = started_ms + item.rate.window * 1000 + EXPIRY_MARGIN_MS
    return max(1, math.ceil((closes_ms - _now_ms()) / 1000))


# --- Redis: one script, one round trip, atomic ---------------------------------------------------

# KEYS: the counters (hashes of used units "u" and window start "s", in project-clock milliseconds).
# ARGV: now, cost, margin, then limit and window (ms) per key. Returns allowed, then used and start
# per key. A window that closed opens afresh. (``now`` is read before the call: a window opened by
# a parallel request a moment later still counts this one.)
_TAKE_SCRIPT = """
local now, cost, margin = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local used, started, allowed = {}, {}, 1
for index, key in ipairs(KEYS) do
  local limit, window = tonumber(ARGV[2 + 2 * index]), tonumber(ARGV[3 + 2 * index])
  local state = redis.call('HMGET', key, 'u', 's')
  local count, start = tonumber(state[1]) or 0, tonumber(state[2]) or now
  if now >= start + window then count, start = 0, now end
  used[index], started[index] = count, start
  if count + cost > limit then allowed = 0 end
end
local result = {allowed}
for index, key in ipairs(KEYS) do
  local window = tonumber(ARGV[3 + 2 * index])
  if allowed == 1 and cost > 0 then
    used[index] = used[index] + cost
    redis.call('HSET', key, 'u', used[index], 's', started[index])
    redis.call('PEXPIRE', key, math.max(1000, started[index] + window - now + margin))
  end
  table.insert(result, used[index])
  table.insert(result, started[index])
end
return result
"""

_GIVE_BACK_SCRIPT = """
for _, key in ipairs(KEYS) do
  local used = tonumber(redis.call('HGET', key, 'u'))
  if used then redis.call('HSET', key, 'u', math.max(0, used - tonumber(ARGV[1]))) end
end
return 1
"""

_scripts: dict[str, Any] = {}


def _redis_script(source: str) -> tuple[Any, Any]:
    backend = caches["default"]
    assert isinstance(backend, RedisCache)
    # One client per pool on the project's backend (bnpl.core.cache); Django's own builds one per call.
    shared = getattr(backend, "redis", None)
    client = shared() if shared is not None else backend._cache.get_client(write=True)  # type: ignore[attr-defined]
    if source not in _scripts:
        _scripts[source] = client.register_script(source)
    return client, _scripts[source]


def _redis_keys(checks: Sequence[Check]) -> list[str]:
    backend = caches["default"]
    # Our own short hex keys: nothing for Django's memcached-safety check to find.
    return [backend.make_key(item.cache_key) for item in checks]


def _redis_take(checks: Sequence[Check], *, cost: int, now_ms: int) -> list[tuple[int, int, bool]]:
    client, script = _redis_script(_TAKE_SCRIPT)
    arguments: list[int] = [now_ms, cost, EXPIRY_MARGIN_MS]
    for item in checks:
        arguments += [item.rate.limit, item.rate.window * 1000]
    result = [int(value) for value in script(keys=_redis_keys(checks), args=arguments, client=client)]
    allowed = result[0] == 1
    return [
        (used, started, allowed or used + cost <= item.rate.limit)
        for item, used, started in zip(checks, result[1::2], result[2::2], strict=True)
    ]


def _redis_give_back(checks: Sequence[Check], *, cost: int) -> None:
    client, script = _redis_script(_GIVE_BACK_SCRIPT)
    script(keys=_redis_keys(checks), args=[cost], client=client)


# --- Any other cache (the demo's locmem): the same steps under a process lock ---------------------

_local_lock = threading.Lock()


def _local_take(checks: Sequence[Check], *, cost: int, now_ms: int) -> list[tuple[int, int, bool]]:
    cache = caches["default"]
    with _local_lock:
        stored = cache.get_many([item.cache_key for item in checks])
        states = []
        for item in checks:
            used, started_ms = stored.get(item.cache_key) or (0, now_ms)
            if now_ms >= started_ms + item.rate.window * 1000:
                used, started_ms = 0, now_ms
            states.append((used, started_ms))
        allowed = all(used + cost <= item.rate.limit for item, (used, _) in zip(checks, states, strict=True))
        results = []
        for item, (used, started_ms) in zip(checks, states, strict=True):
            if allowed and cost > 0:
                used += cost
                cache.set(item.cache_key, (used, started_ms), timeout=_timeout_seconds(item, started_ms))
            results.append((used, started_ms, allowed or used + cost <= item.rate.limit))
        return results


# --- What the response reports ----------------------------------------------------------------

_request_usages: contextvars.ContextVar[dict[str, Usage] | None] = contextvars.ContextVar(
    "rate_limit_usages", default=None
)


def _record(verdict: Verdict) -> None:
    collected = _request_usages.get()
    if collected is None:
        return
    for usage in verdict.usages:
        if usage.rate.advertised:
            collected[usage.rate.name] = usage


@contextlib.contextmanager
def collecting_usages() -> Iterator[dict[str, Usage]]:
    """Collect the advertised limits that this context counts against (the middleware wraps every
    request in one); the last state of each policy wins."""
    collected: dict[str, Usage] = {}
    token = _request_usages.set(collected)
    try:
        yield collected
    finally:
        _request_usages.reset(token)


def header_fields(usages: Iterable[Usage]) -> dict[str, str]:
    """``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers-10) for the
    advertised limits a request counted against; empty when there are none."""
    listed = list(usages)
    if not listed:
        return {}
    return {
        "RateLimit-Policy": ", ".join(
            f'"{usage.rate.name}";q={usage.rate.limit};w={usage.rate.window}' for usage in listed
        ),
        "RateLimit": ", ".join(f'"{usage.rate.name}";r={usage.remaining};t={usage.reset}' for usage in listed),
    }
