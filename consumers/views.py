"""Consumer pages: sign in or sign up with a one-time code, the portal, the sandbox inbox.

The sign-in pages bind each code to the browser session that asked for it (a random sign-in token
kept in the session) and, after a sign-in, recognize the browser for that address with a signed
device cookie: ``consumers.services`` explains how these keep strangers from locking a shopper
out. Refusals by a rate limit answer 429 with ``Retry-After``."""

from __future__ import annotations

import re
import secrets

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from bnpl.checkout.models import CheckoutSession
from bnpl.core.errors import ApplicationError, RateLimitError
from bnpl.core.ids import is_well_formed
from bnpl.core.net import client_key
from consumers import checkout_summary, selectors, services
from consumers.selectors import PENDING_IDENTIFIER_KEY, SESSION_KEY

NEXT_KEY = "consumer_next"
RESEND_TOO_SOON = "code_resend_too_soon"  # a code for this address was sent to this browser moments ago
SIGN_IN_TOKEN_KEY = "consumer_sign_in_token"
DEVICE_COOKIE = "bnpl_device"
DEVICE_COOKIE_SALT = "consumers.device"


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


def _refusal_status(error: ApplicationError) -> int:
    return 429 if isinstance(error, RateLimitError) else 400


def _with_retry_after(response: HttpResponse, error: ApplicationError | None) -> HttpResponse:
    if isinstance(error, RateLimitError):
        response["Retry-After"] = str(error.retry_after)
    return response


def code_requester(request: HttpRequest) -> services.Requester:
    """This browser as the code services see it: its session's sign-in token (made on first use),
    the client address, and the device cookie when its signature and age check out."""
    token = request.session.get(SIGN_IN_TOKEN_KEY)
    if not token:
        token = request.session[SIGN_IN_TOKEN_KEY] = secrets.token_urlsafe(32)
    device = request.get_signed_cookie(
        DEVICE_COOKIE, default=None, salt=DEVICE_COOKIE_SALT, max_age=settings.ONE_TIME_CODE_DEVICE_DAYS * 86400
    )
    return services.Requester(session_token=token, address=client_key(request), device_token=device)


def _remember_device(response: HttpResponse, address: str) -> None:
    response.set_signed_cookie(
        DEVICE_COOKIE,
        services.device_token(address=address),
        salt=DEVICE_COOKIE_SALT,
        max_age=settings.ONE_TIME_CODE_DEVICE_DAYS * 86400,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    if request.method == "GET" and request.GET.get("next"):
        request.session[NEXT_KEY] = _safe_next(request, request.GET["next"])
    form = IdentifierForm(request.POST or None)
    refusal: ApplicationError | None = None
    if request.method == "POST" and form.is_valid():
        try:
            destination = services.one_time_code_request(
                identifier=form.cleaned_data["identifier"], requester=code_requester(request)
            )
        except ApplicationError as error:
            refusal = error
            if error.code == RESEND_TOO_SOON:
                # This browser asked for a code for this address moments ago: that code still
                # works, so offer to enter it rather than a dead end.
                request.session[PENDING_IDENTIFIER_KEY] = services.destination_parse(
                    form.cleaned_data["identifier"]
                ).address
            _form_error(form, error, "identifier")
        else:
            request.session[PENDING_IDENTIFIER_KEY] = destination.address
            return redirect("consumers:verify")
    status = (_refusal_status(refusal) if refusal else 400) if request.method == "POST" else 200
    pending = request.session.get(PENDING_IDENTIFIER_KEY)
    already_sent = pending if (request.method == "GET" or (refusal and refusal.code == RESEND_TOO_SOON)) else None
    context = {
        "form": form,
        "code_already_sent": already_sent,
        "retry_after": refusal.retry_after if isinstance(refusal, RateLimitError) else None,
        **_checkout_context(request),
    }
    return _with_retry_after(render(request, "consumers/sign_in.html", context, status=status), refusal)


@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    identifier = request.session.get(PENDING_IDENTIFIER_KEY)
    if not identifier:
        return redirect("consumers:sign-in")
    form = CodeForm(request.POST or None)
    refusal: ApplicationError | None = None
    if request.method == "POST" and form.is_valid():
        try:
            consumer = services.one_time_code_verify(
                identifier=identifier, code=form.cleaned_data["code"], requester=code_requester(request)
            )
        except ApplicationError as error:
            refusal = error
            _form_error(form, error, "code")
        else:
            next_url = request.session.get(NEXT_KEY)
            request.session.cycle_key()  # a new session id at sign-in: no fixation
            request.session[SESSION_KEY] = consumer.public_id
            for key in (PENDING_IDENTIFIER_KEY, NEXT_KEY, SIGN_IN_TOKEN_KEY):
                request.session.pop(key, None)
            response = redirect(_safe_next(request, next_url))
            _remember_device(response, identifier)
            return response
    return _verify_page(request, form, refusal)


def _verify_page(request: HttpRequest, form: CodeForm, refusal: ApplicationError | None) -> HttpResponse:
    status = (_refusal_status(refusal) if refusal else 400) if request.method == "POST" else 200
    context = {
        "form": form,
        "identifier": request.session.get(PENDING_IDENTIFIER_KEY),
        **_checkout_context(request),
    }
    return _with_retry_after(render(request, "consumers/verify.html", context, status=status), refusal)


CHECKOUT_PATH = re.compile(r"^/checkout/(cs_[A-Za-z0-9]+)$")


def _checkout_context(request: HttpRequest) -> dict[str, object]:
    """The checkout being signed in for (to cancel back to the shop), and whether it is a test."""
    checkout = _checkout_in_progress(request)
    if checkout is None:
        return {"checkout": None, "test_mode": False}
    return {
        **checkout_summary.order_summary(checkout),
        "checkout": checkout,
        "session": checkout,
        "steps": checkout_summary.steps(checkout_summary.SIGN_IN),
        "test_mode": not checkout.livemode,
    }


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
        services.one_time_code_request(identifier=identifier, requester=code_requester(request))
    except RateLimitError as error:
        messages.error(request, error.message)
        return _verify_page(request, CodeForm(), error)
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
