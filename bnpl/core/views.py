"""Project-level pages: the home page, the health check, and JSON errors for API paths."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.defaults import page_not_found, server_error

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


def healthz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the broker answer, 503 otherwise, with each part's status."""
    checks = {"database": _database_status(), "broker": _broker_status()}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks, "time": clock.now().isoformat()},
        status=200 if healthy else 503,
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


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return api_not_found(request)
    return page_not_found(request, exception or Exception())


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return _api_error(500, "internal_error", "Something went wrong on our side. It has been logged.")
    return server_error(request)
