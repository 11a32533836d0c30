"""A member's own sign-in security: the code step after the password, and the authenticator app
(enroll with a QR code or the key typed by hand, confirm with a code, backup codes shown once;
remove with a current code). The rules are in ``bnpl.accounts.two_factor``."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from bnpl.accounts import two_factor
from bnpl.core.errors import ApplicationError
from merchants import selectors
from merchants.views.base import Dashboard, dashboard_view


class CodeForm(forms.Form):
    token = forms.CharField(
        label="Authentication code",
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "none", "autofocus": True}
        ),
    )


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("merchants:dashboard")


def _wrong_code_message(request: HttpRequest) -> str:
    wait = two_factor.second_factor_wait_seconds(user=request.user)  # type: ignore[arg-type]
    return "That code is not right, or was already used." + (
        f" Wait {wait} seconds before the next try." if wait else ""
    )


@require_http_methods(["GET", "POST"])
def login_verify(request: HttpRequest) -> HttpResponse:
    """The second step of signing in, for a member who enrolled: the password was right; now a code."""
    if not request.user.is_authenticated:
        return redirect("merchants:login")
    next_url = _next_url(request)
    if two_factor.is_verified(request) or not two_factor.has_second_factor(request.user):
        return redirect(next_url)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor.second_factor_verify(user=request.user, token=form.cleaned_data["token"])  # type: ignore[arg-type]
        if device is not None:
            two_factor.second_factor_login(request, device)
            return redirect(next_url)
        form.add_error("token", _wrong_code_message(request))
    response = render(
        request, "merchants/login_verify.html", {"form": form, "next": next_url}, status=400 if form.errors else 200
    )
    response["Cache-Control"] = "no-store"
    return response


def _security(
    dashboard: Dashboard,
    *,
    form: CodeForm | None = None,
    backup_codes: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = dashboard.request.user
    enrolled = two_factor.authenticator_for(user)
    pending = None
    if enrolled is None:
        pending = two_factor.pending_authenticator_for(user)
    return dashboard.render(
        "merchants/security.html",
        {
            "nav": "security",
            "enrolled": enrolled,
            "setup": two_factor.authenticator_setup(pending) if pending is not None else None,
            "required": selectors.two_factor_required_for(user_id=int(user.pk or 0)),
            "backup_codes": backup_codes,
            "backup_codes_left": len(two_factor.backup_codes_for(user)) if enrolled else 0,  # type: ignore[arg-type]
            "form": form or CodeForm(),
        },
        status=status,
    )


@require_GET
@dashboard_view(access="personal")
def security(dashboard: Dashboard) -> HttpResponse:
    return _security(dashboard)


@require_POST
@dashboard_view(access="personal")
def security_start(dashboard: Dashboard) -> HttpResponse:
    """A pending authenticator to scan (the same one until confirmed)."""
    if two_factor.has_second_factor(dashboard.request.user):
        messages.info(dashboard.request, "Your authenticator app is already set up.")
    else:
        two_factor.authenticator_enrollment_start(user=dashboard.request.user)  # type: ignore[arg-type]
    return redirect("merchants:security")


@require_POST
@dashboard_view(access="personal")
def security_confirm(dashboard: Dashboard) -> HttpResponse:
    """The first code from the app turns the authenticator on; the backup codes show this once."""
    request = dashboard.request
    form = CodeForm(request.POST)
    if not form.is_valid():
        return _security(dashboard, form=form, status=400)
    try:
        device, codes = two_factor.authenticator_enrollment_confirm(user=request.user, token=form.cleaned_data["token"])  # type: ignore[arg-type]
    except ApplicationError as error:
        if error.code == "no_pending_device" and two_factor.has_second_factor(request.user):
            messages.info(request, "Your authenticator app is already set up.")
            return redirect("merchants:security")
        form.add_error("token", error.message)
        return _security(dashboard, form=form, status=400)
    two_factor.second_factor_login(request, device)
    messages.success(request, "Two-step sign-in is on: every sign-in now asks for a code from your app.")
    return _security(dashboard, backup_codes=codes)


@require_POST
@dashboard_view(access="personal")
def security_remove(dashboard: Dashboard) -> HttpResponse:
    """Turning it off takes a current code (or a backup code), not just this session."""
    request = dashboard.request
    form = CodeForm(request.POST)
    if form.is_valid():
        if two_factor.second_factor_verify(user=request.user, token=form.cleaned_data["token"]) is None:  # type: ignore[arg-type]
            form.add_error("token", _wrong_code_message(request))
        else:
            two_factor.two_factor_remove(user=request.user)  # type: ignore[arg-type]
            messages.success(request, "Two-step sign-in is off: your authenticator and backup codes were removed.")
            return redirect("merchants:security")
    return _security(dashboard, form=form, status=400)
