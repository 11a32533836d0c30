"""Request ids: taken from a well-formed ``X-Request-Id`` header or generated, echoed on the
response, put in every log line and every audit row and event the request writes."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from bnpl.core import ratelimit
from bnpl.core.context import SYSTEM, Actor, actor_var, consumer_actor, request_id_var

REQUEST_ID_HEADER = "X-Request-Id"
_ACCEPTED = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = supplied if _ACCEPTED.match(supplied) else f"req_{uuid.uuid4().hex}"
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        actor_token = actor_var.set(SYSTEM)  # authentication replaces it for this request only
        try:
            response = self.get_response(request)
        finally:
            actor_var.reset(actor_token)
            request_id_var.reset(token)
        response[REQUEST_ID_HEADER] = request_id
        return response


class RateLimitHeadersMiddleware:
    """Reports on every response the advertised limits its request counted against
    (``RateLimit-Policy`` / ``RateLimit``, see ``bnpl.core.ratelimit``), whichever view, error or
    idempotent replay produced it: one place, so no limited endpoint can forget them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with ratelimit.collecting_usages() as usages:
            response = self.get_response(request)
        for name, value in ratelimit.header_fields(usages.values()).items():
            response[name] = value
        return response


class ActorMiddleware:
    """Names the person behind a web request (operator, merchant user or consumer) for the audit log.
    Partner API requests are named by their API key during authentication instead."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        consumer = getattr(request, "consumer", None)
        if user is not None and user.is_authenticated:
            kind = "operator" if user.is_staff else "merchant_user"
            actor_var.set(Actor(kind=kind, identifier=str(user.email), label=str(user.email)))
        elif consumer is not None:
            actor_var.set(consumer_actor(consumer.public_id))
        return self.get_response(request)


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        return True
