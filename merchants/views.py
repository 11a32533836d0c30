"""The merchant dashboard (Django sessions). Every page acts through the signed-in user's
membership; writes need an owner or admin (analysts are read-only, enforced here on the server)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from bnpl.core.errors import ApplicationError
from merchants import selectors, services
from merchants.models import ApiKey, Membership


class MerchantLoginView(auth_views.LoginView):
    template_name = "merchants/login.html"
    redirect_authenticated_user = True


CURRENT_MERCHANT_SESSION_KEY = "merchant_public_id"


def _current_membership(request: HttpRequest) -> Membership | None:
    """The merchant a team member is working on: chosen with ``?merchant=mer_…`` (remembered in the
    session) among their own memberships, else their first one."""
    user_id = int(request.user.pk or 0)
    requested = request.GET.get("merchant", "")
    if requested and selectors.membership_for_user(user_id=user_id, merchant_public_id=requested):
        request.session[CURRENT_MERCHANT_SESSION_KEY] = requested
    chosen = request.session.get(CURRENT_MERCHANT_SESSION_KEY)
    return (chosen and selectors.membership_for_user(user_id=user_id, merchant_public_id=chosen)) or (
        selectors.membership_for_user(user_id=user_id)
    )


def membership_required(*, write: bool = False) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            membership = _current_membership(request)
            if membership is None:
                return render(request, "merchants/no_membership.html", status=403)
            if write and not membership.can_write:
                return HttpResponseForbidden("Analysts have read-only access. Ask an owner or admin.")
            return view(request, membership, *args, **kwargs)

        return wrapper

    return decorator


class ApiKeyCreateForm(forms.Form):
    kind = forms.ChoiceField(choices=ApiKey.Kind.choices)
    livemode = forms.TypedChoiceField(
        choices=[("false", "Test"), ("true", "Live")], coerce=lambda value: value == "true"
    )
    name = forms.CharField(max_length=100, required=False)


def _dashboard(request: HttpRequest, membership: Membership, *, revealed_token: str | None = None) -> HttpResponse:
    merchant = membership.merchant
    response = render(
        request,
        "merchants/dashboard.html",
        {
            "membership": membership,
            "merchant": merchant,
            "api_keys": selectors.api_key_list(merchant=merchant),
            "create_form": ApiKeyCreateForm(),
            "revealed_token": revealed_token,
            "memberships": selectors.memberships_for_user(user_id=membership.user_id),
        },
    )
    response["Cache-Control"] = "no-store"
    return response


@membership_required()
def dashboard(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _dashboard(request, membership)


@require_POST
@membership_required(write=True)
def api_key_create(request: HttpRequest, membership: Membership) -> HttpResponse:
    """The new secret is rendered in this response only (not stored, not put in the session, not
    cached): the merchant copies it now or creates another key."""
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a key type and a mode.")
        return redirect("merchants:dashboard")
    try:
        created = services.api_key_create(merchant=membership.merchant, created_by=request.user, **form.cleaned_data)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("merchants:dashboard")
    return _dashboard(request, membership, revealed_token=created.token)


@require_POST
@membership_required(write=True)
def api_key_revoke(request: HttpRequest, membership: Membership, key_id: str) -> HttpResponse:
    api_key = selectors.api_key_get(merchant=membership.merchant, public_id=key_id)
    if api_key is None:
        raise Http404("No such key.")
    services.api_key_revoke(api_key=api_key)
    messages.success(request, f"Key {api_key.token_hint} revoked.")
    return redirect("merchants:dashboard")
