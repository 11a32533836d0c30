"""Project-level pages: the home page, the health checks (alive and ready), and the error pages: JSON for API paths, and
for people the branded page of the area they were in (shopper, merchant dashboard, operators' admin),
which says what happened and where to go, never a stack trace, an exception's text or an id."""

from __future__ import annotations

import sys
from typing import Any

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader

import decisioning
from bnpl.core import clock


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html", {"now": clock.now()})


def _database_status() -> dict[str, Any]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as error:  # noqa: BLE001 - any failure means "down"; the reason is reported
        return {"ok": False, "vendor": connection.vendor, "error": str(error)[:200]}
    return {"ok": True, "vendor": connection.vendor}


def _broker_status() -> dict[str, Any]:
    from bnpl.celery import app

    transport = app.conf.broker_url.split("://", 1)[0]
    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1, timeout=2)
    except Exception as error:  # noqa: BLE001 - any failure means "down"; the reason is reported
        return {"ok": False, "transport": transport, "error": str(error)[:200]}
    return {"ok": True, "transport": transport}


def _cache_status() -> dict[str, Any]:
    from django.core.cache import cache

    backend = type(cache).__name__
    try:
        cache.set("readyz:probe", "1", timeout=10)
        if cache.get("readyz:probe") != "1":
            raise RuntimeError("the cache did not return what was just written")
    except Exception as error:  # noqa: BLE001 - any failure means "down"; the reason is reported
        return {"ok": False, "backend": backend, "error": str(error)[:200]}
    return {"ok": True, "backend": backend}


def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: 200 whenever this process answers. It touches no dependency, so a database or broker
    outage never makes the orchestrator restart healthy web processes (``/readyz`` says whether to
    send traffic)."""
    return JsonResponse({"status": "ok", "time": clock.now().isoformat()})


def readyz(request: HttpRequest) -> JsonResponse:
    """Ready for traffic: 200 when the database, the cache and the broker answer and the credit model
    is loaded; 503 otherwise, with each part's status."""
    checks = {
        "database": _database_status(),
        "cache": _cache_status(),
        "broker": _broker_status(),
        "model": decisioning.model_readiness(),
    }
    ready = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "degraded", "checks": checks, "time": clock.now().isoformat()},
        status=200 if ready else 503,
    )


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        {
            "error": {
                "type": "invalid_request_error" if status < 500 else "api_error",
                "code": code,
                "message": message,
                "param": None,
            }
        },
        status=status,
    )


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return _api_error(404, "resource_missing", f"Unrecognized request URL ({request.method}: {request.path}).")


# The API's own paths answer errors in the API's JSON shape; everything else is a page for people.
API_PREFIXES = ("/api/", "/ops/api/")

# What each status says to a person: a title and a sentence of what to do.
ERROR_TEXT = {
    400: ("We could not read that request", "Something in it was not what this page expects. Go back and try again."),
    403: ("You cannot open this page", "It needs a different sign-in or permission. Sign in again, or go back."),
    404: ("We could not find that page", "The link may be old or mistyped, or the page belongs to another account."),
    500: (
        "Something went wrong on our side",
        "We have been told and are looking into it. Please try again in a minute.",
    ),
    503: (
        "We are briefly unavailable",
        "A part of our service is not answering for a moment. Nothing you sent was lost: try again in a minute.",
    ),
}
CSRF_TEXT = (
    "This page had expired",
    "For your security, forms work only for a while after the page opens and with cookies on. Go back, reload the "
    "page and send it again.",
)


def error_area(path: str) -> str:
    """Whose look an error page takes, from where the visitor was: the merchant dashboard, the
    operators' admin, or (everything else) the shopper's pages."""
    if path.startswith("/merchant"):
        return "merchant"
    if path.startswith("/admin"):
        return "operator"
    return "shopper"


def _error_page(request: HttpRequest, status: int, text: tuple[str, str]) -> HttpResponse:
    title, detail = text
    context = {"status": status, "title": title, "detail": detail, "area": error_area(request.path)}
    try:
        body = loader.get_template("errors/error.html").render(context, request)
    except Exception:  # noqa: BLE001 - an error page must answer even when rendering fails (a database down)
        body = f"<!doctype html><title>{title}</title><h1>{title}</h1><p>{detail}</p>"
    return HttpResponse(body, status=status)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIXES):
        return _api_error(400, "bad_request", "The request could not be read.")
    return _error_page(request, 400, ERROR_TEXT[400])


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIXES):
        return _api_error(403, "permission_denied", "This key or user may not do that.")
    return _error_page(request, 403, ERROR_TEXT[403])


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(API_PREFIXES):
        return api_not_found(request)
    return _error_page(request, 404, ERROR_TEXT[404])


# How long a client is told to wait (Retry-After) when a part the request needs is down: Django
# reconnects to the database on the next request (CONN_HEALTH_CHECKS), the cache client on the next
# command, so a retry after this long finds them back as soon as they are.
UNAVAILABLE_RETRY_AFTER_SECONDS = 30


def _part_down(exception: BaseException | None) -> bool:
    """The request failed because a part it needs is down, not because of a bug: the database
    (``OperationalError``: refused, terminated, restarting; ``InterfaceError``: a closed connection),
    the cache or the rate limits' Redis (redis ``ConnectionError``/``TimeoutError``), the broker
    (kombu ``OperationalError``), or the card gateway not answering or answering 5xx (Stripe's
    ``APIConnectionError``/``APIError``, after its own retries; a charge left pending is sent again
    with its own idempotency key, so the retry moves money at most once). Rate limits fail closed: a
    limit that cannot be counted refuses the request (503) rather than letting it through unlimited."""
    import stripe
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    down = (
        OperationalError,
        InterfaceError,
        RedisConnectionError,
        RedisTimeoutError,
        BrokerError,
        stripe.APIConnectionError,
        stripe.APIError,
    )
    while exception is not None:  # the part's error may be the cause of the one raised
        if isinstance(exception, down):
            return True
        exception = exception.__cause__ or exception.__context__
    return False


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: JSON in the API's shape for API paths, the branded page for people."""
    if request.path.startswith(API_PREFIXES):
        response: HttpResponse = _api_error(
            503,
            "service_unavailable",
            "The service is briefly unavailable: retry the request (with the same Idempotency-Key for a POST).",
        )
    else:
        response = _error_page(request, 503, ERROR_TEXT[503])
    response["Retry-After"] = str(UNAVAILABLE_RETRY_AFTER_SECONDS)
    return response


def handler500(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its ``except`` block, so the exception that failed the request is at hand.
    if _part_down(sys.exc_info()[1]):
        return service_unavailable(request)
    if request.path.startswith(API_PREFIXES):
        return _api_error(500, "internal_error", "Something went wrong on our side. It has been logged.")
    return _error_page(request, 500, ERROR_TEXT[500])


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: a form refused for a missing or stale CSRF token (the reason is not shown)."""
    if request.path.startswith(API_PREFIXES):
        return _api_error(403, "csrf_failed", "The request was refused: send it again from a fresh page.")
    return _error_page(request, 403, CSRF_TEXT)
