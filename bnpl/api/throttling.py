"""Per-key rate limits of the partner API: two fixed windows per API key (``API_THROTTLE_RATE``,
default 100 a second, and ``API_THROTTLE_BURST_RATE``, default 1000 a minute), counted together
in one ``bnpl.core.ratelimit.take``: a request refused by one window uses up neither."""

from __future__ import annotations

import functools

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from bnpl.core import ratelimit
from merchants.models import ApiKey


def api_key_rates() -> tuple[ratelimit.Rate, ...]:
    """The per-key policies, as the headers name them (the settings are read on each request: they
    may change; each pair of values is parsed once)."""
    return _parsed_rates(settings.API_THROTTLE_RATE, settings.API_THROTTLE_BURST_RATE)


@functools.lru_cache(maxsize=16)
def _parsed_rates(rate: str, burst_rate: str) -> tuple[ratelimit.Rate, ...]:
    return (
        ratelimit.Rate.parse("api_key", rate, advertised=True),
        ratelimit.Rate.parse("api_key_burst", burst_rate, advertised=True),
    )


class ApiKeyThrottle(BaseThrottle):
    """Counts every authenticated request against its key's windows; requests without a key were
    refused by authentication already (and counted against their address there)."""

    verdict: ratelimit.Verdict | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):
            return True
        self.verdict = ratelimit.take([ratelimit.check(rate, api_key.public_id) for rate in api_key_rates()])
        return self.verdict.allowed

    def wait(self) -> float | None:
        return float(self.verdict.retry_after) if self.verdict is not None else None
