"""Request ids: taken from a well-formed ``X-Request-Id`` header or generated, echoed on the
response, put in every log line and every audit row and event the request writes."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import resolve

from bnpl.core import metrics, ratelimit
from bnpl.core.context import SYSTEM, Actor, actor_var, consumer_actor, merchant_var, request_id_var

REQUEST_ID_HEADER = "X-Request-Id"
_ACCEPTED = re.compile(r"^[A-Za-z0-9_.:-]{8,64}$")


class LivenessMiddleware:
    """Answers ``/healthz`` before anything else runs, so the load balancer's and the orchestrator's
    health checks pass as they are sent: an ALB health check asks the target's own address
    (``Host: 10.0.1.23:8000``, not an allowed host) over plain HTTP, which the host check (400) and
    the HTTPS redirect (301) would otherwise answer. Only this path, which reveals nothing and touches
    no dependency; ``/readyz`` goes through every check like any other page."""

    PATH = "/healthz"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == self.PATH and request.method in ("GET", "HEAD"):
            match = resolve(self.PATH)  # the URLconf's view, named as any route is (metrics, logs)
            request.resolver_match = match
            response: HttpResponse = match.func(request)
            return response
        return self.get_response(request)


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        supplied = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = supplied if _ACCEPTED.match(supplied) else f"req_{uuid.uuid4().hex}"
        request.request_id = request_id  # type: ignore[attr-defined]
        token = request_id_var.set(request_id)
        actor_token = actor_var.set(SYSTEM)  # authentication replaces it for this request only
        merchant_token = merchant_var.set(None)
        try:
            response = self.get_response(request)
        finally:
            merchant_var.reset(merchant_token)
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


class MetricsMiddleware:
    """Times every request into ``bnpl_http_request_duration_seconds``, labelled by the route that
    matched (its URL pattern, e.g. ``api/v1/orders/<str:public_id>``: ids never become labels, so
    the series stay few) and the status class (``2xx`` …). Unmatched paths count as ``unmatched``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            match = request.resolver_match
            if match is not None:
                route = match.route or match.view_name
            else:  # WhiteNoise answers static files before any URL is resolved
                route = "static" if request.path_info.startswith(_STATIC_PREFIX) else "unmatched"
            method = request.method if request.method in _METHODS else "other"
            metrics.http_request_duration.labels(route=route, method=method, status=f"{status // 100}xx").observe(
                time.perf_counter() - started
            )


_STATIC_PREFIX = "/" + settings.STATIC_URL.strip("/") + "/"
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
