"""Consumer pages: sign in or sign up with a one-time code, the portal, the sandbox inbox."""

from __future__ import annotations

import re

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from bnpl.checkout.models import CheckoutSession
from bnpl.core.errors import ApplicationError
from bnpl.core.ids import is_well_formed
from consumers import selectors, services
from consumers.middleware import SESSION_KEY

PENDING_IDENTIFIER_KEY = "consumer_pending_identifier"
NEXT_KEY = "consumer_next"


class IdentifierForm(forms.Form):
    identifier = forms.CharField(label="Email or mobile number", max_length=254)


class CodeForm(forms.Form):
    code = forms.CharField(label="6-digit code", max_length=6, min_length=6)


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()}):
        return candidate
    return reverse("consumers:portal")


def _form_error(form: forms.Form, error: ApplicationError, field: str) -> None:
    form.add_error(field if field in form.fields else None, error.message)


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and request.GET.get("next"):
        request.session[NEXT_KEY] = _safe_next(request, request.GET["next"])
    form = IdentifierForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            destination = services.one_time_code_request(identifier=form.cleaned_data["identifier"])
        except ApplicationError as error:
            _form_error(form, error, "identifier")
        else:
            request.session[PENDING_IDENTIFIER_KEY] = destination.address
            return redirect("consumers:verify")
    status = 400 if request.method == "POST" else 200
    context = {"form": form, **_checkout_context(request)}
    return render(request, "consumers/sign_in.html", context, status=status)


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    identifier = request.session.get(PENDING_IDENTIFIER_KEY)
    if not identifier:
        return redirect("consumers:sign-in")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            consumer = services.one_time_code_verify(identifier=identifier, code=form.cleaned_data["code"])
        except ApplicationError as error:
            _form_error(form, error, "code")
        else:
            next_url = request.session.get(NEXT_KEY)
            request.session.cycle_key()  # a new session id at sign-in: no fixation
            request.session[SESSION_KEY] = consumer.public_id
            request.session.pop(PENDING_IDENTIFIER_KEY, None)
            request.session.pop(NEXT_KEY, None)
            return redirect(_safe_next(request, next_url))
    status = 400 if request.method == "POST" else 200
    context = {"form": form, "identifier": identifier, **_checkout_context(request)}
    return render(request, "consumers/verify.html", context, status=status)


CHECKOUT_PATH = re.compile(r"^/checkout/(cs_[A-Za-z0-9]+)$")


def _checkout_context(request: HttpRequest) -> dict[str, object]:
    """The checkout being signed in for (to cancel back to the shop), and whether it is a test."""
    checkout = _checkout_in_progress(request)
    return {"checkout": checkout, "test_mode": checkout is not None and not checkout.livemode}


def _checkout_in_progress(request: HttpRequest) -> CheckoutSession | None:
    """The open checkout a shopper is signing in for, so these pages can cancel back to the shop."""
    match = CHECKOUT_PATH.match(str(request.session.get(NEXT_KEY) or ""))
    if match is None or not is_well_formed(match.group(1)):
        return None
    return (
        CheckoutSession.objects.select_related("merchant")
        .filter(public_id=match.group(1), status=CheckoutSession.Status.OPEN)
        .first()
    )


@require_POST
def resend(request: HttpRequest) -> HttpResponse:
    identifier = request.session.get(PENDING_IDENTIFIER_KEY)
    if not identifier:
        return redirect("consumers:sign-in")
    try:
        services.one_time_code_request(identifier=identifier)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "A new code is on its way.")
    return redirect("consumers:verify")


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    request.session.pop(SESSION_KEY, None)
    request.session.cycle_key()
    return redirect("consumers:sign-in")


@require_http_methods(["GET", "HEAD"])
def moved_to_account(request: HttpRequest, rest: str) -> HttpResponse:
    """The portal lived at /portal/ first; links sent before it moved still land."""
    query = request.META.get("QUERY_STRING", "")
    return redirect(f"/account/{rest}" + (f"?{query}" if query else ""), permanent=True)


def sandbox_inbox(request: HttpRequest) -> HttpResponse:
    """Sandbox only: the messages the sandbox sender 'delivered', newest first."""
    if not settings.BNPL_SANDBOX:
        raise Http404
    destination = request.GET.get("to", "").strip()[:254]
    return render(
        request,
        "consumers/sandbox_inbox.html",
        {"messages_sent": selectors.sandbox_message_list(destination=destination or None), "destination": destination},
    )
