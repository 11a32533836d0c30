"""The consumer portal (``/account/``): the guard every account page passes, and the account's own
pages: cards, decisions with their reasons and notices, documents as PDF, notification preferences,
profile. A consumer's plans and what they can do to them are in ``consumers.plan_views``; bank-data
sharing is in ``consumers.data_sharing_views``.

Every page is the signed-in consumer's own: plans, cards, payments, disputes and consents are looked up
through them, so anything else is a 404. Every action calls the same service the rest of the
product uses and says what happened.

Test mode is marked wherever it shows: a test-mode plan's pages carry the test-mode banner, its rows
(and those of its payments and decisions) a "Test mode" badge; cards are listed and added per mode
(``?mode=test`` for the test-mode cards that pay test plans only)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from bnpl.core.errors import ApplicationError, InvalidRequestError
from bnpl.core.money import format_amount
from bnpl.payments.models import PaymentMethod
from bnpl.payments.selectors import payment_method_list
from bnpl.payments.services import (
    browser_card_form,
    installments_waiting_for_card,
    payment_method_add,
    payment_method_from_setup,
    payment_method_make_default,
)
from bnpl.plans.models import Plan
from consumers import documents, selectors, services
from consumers.history import decision_verdict
from consumers.models import Consumer


def account_consumer(request: HttpRequest) -> Consumer:
    """The signed-in consumer of a request that passed ``account_page``."""
    consumer: Consumer = request.consumer  # type: ignore[attr-defined]
    return consumer


def account_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in consumers only; resolves ``plan_id`` to the consumer's own plan (404 otherwise)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "consumer", None) is None:
            return redirect_to_login(request.get_full_path(), reverse("consumers:sign-in"))
        if "plan_id" in kwargs:
            plan = selectors.plan_get(consumer=account_consumer(request), public_id=kwargs.pop("plan_id"))
            if plan is None:
                raise Http404
            kwargs["plan"] = plan
        return view(request, *args, **kwargs)

    return wrapper


def account_action(request: HttpRequest, action: Callable[[], str], *, back: str) -> HttpResponse:
    """Run ``action`` (it returns the success message); a refusal is shown as it was said. Then back to
    ``back``, the page the action was taken from."""
    try:
        messages.success(request, action())
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect(back)


class CardForm(forms.Form):
    card_number = forms.CharField(max_length=23, required=False)
    exp_month = forms.IntegerField(min_value=1, max_value=12, required=False)
    exp_year = forms.IntegerField(min_value=2000, max_value=2100, required=False)
    cvc = forms.CharField(max_length=4, required=False)
    setup_intent = forms.CharField(max_length=100, required=False)


def _cards_url(livemode: bool) -> str:
    return reverse("consumers:cards") + ("?mode=live" if livemode else "?mode=test")


@account_page
def cards(request: HttpRequest) -> HttpResponse:
    """The cards of one mode: real cards (live plans), or with ``?mode=test`` the test-mode cards
    that pay test plans only (the page's own choice for a consumer with nothing live). A card added
    here is of the page's mode."""
    consumer = account_consumer(request)
    if request.method == "POST":
        form = CardForm(request.POST)
        livemode = request.POST.get("mode") != "test"

        def add() -> str:
            if not form.is_valid():
                raise InvalidRequestError("Check the card details.", param="card_number")
            data = form.cleaned_data
            waiting = installments_waiting_for_card(consumer=consumer, livemode=livemode).count()
            if data["setup_intent"]:
                card = payment_method_from_setup(consumer=consumer, livemode=livemode, reference=data["setup_intent"])
            else:
                card = payment_method_add(
                    consumer=consumer,
                    livemode=livemode,
                    number=data["card_number"] or "",
                    exp_month=data["exp_month"] or 0,
                    exp_year=data["exp_year"] or 0,
                    cvc=data["cvc"] or "",
                    verify=True,
                )
            rearmed = waiting - installments_waiting_for_card(consumer=consumer, livemode=livemode).count()
            return f"Added {card}. " + _now_default(card, rearmed=rearmed)  # saving it made it the default

        return account_action(request, add, back=_cards_url(livemode))
    has_test, has_live = selectors.has_test_mode(consumer=consumer), selectors.has_live_mode(consumer=consumer)
    asked = request.GET.get("mode")
    livemode = asked == "live" or (asked != "test" and (has_live or not has_test))  # test-only: their cards
    return render(
        request,
        "consumers/account/cards.html",
        {
            "section": "cards",
            "consumer": consumer,
            "livemode": livemode,
            "mode": "live" if livemode else "test",
            "show_mode_tabs": (has_test and has_live) or not livemode,
            "test_mode": not livemode,
            "test_mode_detail": "These are test-mode cards: they pay test plans only, and no real card is charged.",
            "cards": payment_method_list(consumer=consumer, livemode=livemode),
            "card_form": browser_card_form(consumer=consumer, livemode=livemode, purpose="account"),
        },
    )


@require_POST
@account_page
def card_make_default(request: HttpRequest, card_id: str) -> HttpResponse:
    consumer = account_consumer(request)
    card = selectors.payment_method_get(consumer=consumer, public_id=card_id)
    if card is None:
        raise Http404

    return account_action(request, lambda: _make_default(consumer, card), back=_cards_url(card.livemode))


def _make_default(consumer: Consumer, card: PaymentMethod) -> str:
    return _now_default(card, rearmed=payment_method_make_default(consumer=consumer, payment_method=card))


def _now_default(card: PaymentMethod, *, rearmed: int) -> str:
    again = f" {rearmed} payment(s) that had stopped will be collected from it." if rearmed else ""
    which = "Your" if card.livemode else "Your test-mode"
    return f"{which} payments now use {card}.{again}"


@require_GET
@account_page
def decisions(request: HttpRequest) -> HttpResponse:
    consumer = account_consumer(request)
    adverse = set(selectors.declined_decision_list(consumer=consumer, limit=200).values_list("pk", flat=True))
    rows = [
        {
            "decision": decision,
            "shop": selectors.shop_name(decision.merchant),
            "verdict": decision_verdict(decision),
            "amount": format_amount(decision.amount, decision.currency),
            "approved": format_amount(decision.approved_amount or 0, decision.currency),
            "adverse": decision.pk in adverse,
        }
        for decision in selectors.decision_list(consumer=consumer)
    ]
    return render(
        request, "consumers/account/decisions.html", {"section": "decisions", "consumer": consumer, "rows": rows}
    )


@require_GET
@account_page
def documents_list(request: HttpRequest) -> HttpResponse:
    consumer = account_consumer(request)
    return render(
        request,
        "consumers/account/documents.html",
        {
            "section": "documents",
            "consumer": consumer,
            "plans": selectors.plan_list(consumer=consumer),
            "charges": [
                {"charge": charge, "amount": format_amount(charge.amount, charge.currency)}
                for charge in selectors.receipt_list(consumer=consumer)
            ],
        },
    )


def _pdf(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


@require_GET
@account_page
def agreement_pdf(request: HttpRequest, plan: Plan) -> HttpResponse:
    return _pdf(documents.credit_agreement_pdf(plan), f"credit-agreement-{plan.public_id}.pdf")


@require_GET
@account_page
def receipt_pdf(request: HttpRequest, charge_id: str) -> HttpResponse:
    charge = selectors.receipt_get(consumer=account_consumer(request), public_id=charge_id)
    if charge is None:
        raise Http404
    return _pdf(documents.receipt_pdf(charge), f"receipt-{charge.public_id}.pdf")


@account_page
def preferences(request: HttpRequest) -> HttpResponse:
    consumer = account_consumer(request)
    if request.method == "POST":

        def save() -> str:
            services.consumer_preferences_update(
                consumer=consumer,
                notify_by_email="notify_by_email" in request.POST,
                notify_by_sms="notify_by_sms" in request.POST,
            )
            return "Saved. Reminders and notices follow your choice."

        return account_action(request, save, back=reverse("consumers:preferences"))
    return render(request, "consumers/account/preferences.html", {"section": "preferences", "consumer": consumer})


@require_GET
@account_page
def profile(request: HttpRequest) -> HttpResponse:
    consumer = account_consumer(request)
    identity = getattr(consumer, "identity", None)
    return render(
        request,
        "consumers/account/profile.html",
        {"section": "profile", "consumer": consumer, "identity": identity},
    )
