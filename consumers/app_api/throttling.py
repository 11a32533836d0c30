"""Per-consumer rate limits of the consumer app API: the partner API's two windows
(``API_THROTTLE_RATE`` and ``API_THROTTLE_BURST_RATE``), counted per consumer across their
devices. Requests before sign-in are limited by the one-time-code limits instead."""

from __future__ import annotations

import functools

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from bnpl.core import ratelimit
from consumers.app_auth import AppPrincipal


@functools.lru_cache(maxsize=16)
def _rates(rate: str, burst_rate: str) -> tuple[ratelimit.Rate, ...]:
    return (
        ratelimit.Rate.parse("consumer", rate, advertised=True),
        ratelimit.Rate.parse("consumer_burst", burst_rate, advertised=True),
    )


class ConsumerThrottle(BaseThrottle):
    verdict: ratelimit.Verdict | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        principal = request.user
        if not isinstance(principal, AppPrincipal):
            return True
        rates = _rates(settings.API_THROTTLE_RATE, settings.API_THROTTLE_BURST_RATE)
        self.verdict = ratelimit.take([ratelimit.check(rate, principal.consumer.public_id) for rate in rates])
        return self.verdict.allowed

    def wait(self) -> float | None:
        return float(self.verdict.retry_after) if self.verdict is not None else None
