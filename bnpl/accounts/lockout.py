"""Password sign-in lockout (django-axes, configured in bnpl/settings/base.py, "Staff and merchant
sign-in"): how the email is counted, and the page a locked-out sign-in gets."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def sign_in_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str | None:
    """The email a sign-in tried, as counted: trimmed and lower-case, so that case variants of one
    address share one count (accounts are stored lower-case, bnpl.accounts.models.UserManager)."""
    value = (credentials or {}).get("username")
    if value is None:
        value = request.POST.get("username") if request is not None and request.method == "POST" else None
    return str(value).strip().lower() if value is not None else None


def locked_out_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """A 429 page that says what happened and when to try again (never a 500, never which of the
    email or the password was wrong), with Retry-After. Each further try while locked starts the
    wait again, so the wait stated is the whole lockout."""
    wait_seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())  # SIGN_IN_LOCKOUT_MINUTES
    address_limited = getattr(request, "sign_in_retry_after", None)  # bnpl.accounts.backends
    if address_limited is not None:
        wait_seconds = max(1, int(address_limited))
    response = TemplateResponse(
        request,
        "accounts/locked_out.html",
        {
            "minutes": max(1, -(-wait_seconds // 60)),
            "failure_limit": settings.AXES_FAILURE_LIMIT,  # SIGN_IN_FAILURE_LIMIT
            "address_limited": address_limited is not None,
            "retry_path": request.path,
        },
        status=429,
    )
    response["Retry-After"] = str(wait_seconds)
    response["Cache-Control"] = "no-store"
    return response.render()
