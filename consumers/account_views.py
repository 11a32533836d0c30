"""The consumer portal (``/account/``): plans with their progress, a plan's schedule, payments,
refunds and history; pay now, pay early, pay off; cards; one due-date move; hardship; returns and
disputes; decisions with their reasons; bank-data sharing (consents: widen, narrow, revoke, grant
again); documents as PDF; notification preferences; profile.

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

from bnpl.checkout import dispute_holds, disputes
from bnpl.checkout.models import Dispute
from bnpl.core.errors import ApplicationError, InvalidRequestError
from bnpl.core.models import AuditLogEntry
from bnpl.core.money import MAX_AMOUNT, format_amount, from_decimal
from bnpl.payments.models import Charge, ConsumerBalance, PaymentMethod
from bnpl.payments.selectors import payment_method_list
from bnpl.payments.services import (
    browser_card_form,
    installments_waiting_for_card,
    payment_method_add,
    payment_method_from_setup,
    payment_method_make_default,
)
from bnpl.plans.models import Installment, Plan, ProductKind
from bnpl.servicing import actions
from bnpl.servicing import selectors as servicing_selectors
from bnpl.servicing import services as servicing
from bnpl.servicing.balances import consumer_balances_open
from consumers import documents, selectors, services
from consumers.models import Consumer
from decisioning import bank_data
from decisioning.models import BankDataConsent

# What the plan's history says for each audited action (others show their action name).
HISTORY_TEXT = {
    "plan.created": "Plan started",
    "plan.payment_succeeded": "Payment received",
    "plan.payment_failed": "A payment failed",
    "plan.reduced": "Plan reduced by a refund or a release",
    "plan.late_fee_charged": "Late fee added",
    "plan.late": "A payment is past due",
    "plan.delinquent": "30 days past due",
    "plan.current": "Back on track",
    "plan.charged_off": "Written off",
    "plan.due_date_moved": "You moved a due date",
    "plan.hardship_requested": "You asked for hardship help",
    "plan.hardship_granted": "Hardship help granted",
    "plan.hardship_declined": "Hardship help declined: payments resumed",
    "order.captured": "The shop shipped and captured",
    "order.refunded": "The shop refunded",
    "order.voided": "The shop released the rest",
    "dispute.created": "You opened a return or dispute",
    "plan.held": "The payments your return or dispute covers are on hold",
    "plan.released": "Payments on hold are due again",
    "dispute.contested": "The shop contested it: our team decides",
    "dispute.escalated": "The shop did not answer: our team decides",
    "dispute.closed": "Return or dispute closed",
}


def _consumer(request: HttpRequest) -> Consumer:
    consumer: Consumer = request.consumer  # type: ignore[attr-defined]
    return consumer


def account_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in consumers only; resolves ``plan_id`` to the consumer's own plan (404 otherwise)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if getattr(request, "consumer", None) is None:
            return redirect_to_login(request.get_full_path(), reverse("consumers:sign-in"))
        if "plan_id" in kwargs:
            plan = selectors.plan_get(consumer=_consumer(request), public_id=kwargs.pop("plan_id"))
            if plan is None:
                raise Http404
            kwargs["plan"] = plan
        return view(request, *args, **kwargs)

    return wrapper


def _done(request: HttpRequest, action: Callable[[], str], *, back: str) -> HttpResponse:
    """Run ``action`` (it returns the success message); a refusal is shown as it was said."""
    try:
        messages.success(request, action())
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect(back)


def _money(amount: int, currency: str) -> str:
    return format_amount(amount, currency)


def _plan_summary(plan: Plan) -> dict[str, Any]:
    rows = [row for row in plan.installments.all() if row.status != Installment.Status.CANCELED]
    total = sum(row.amount for row in rows)
    paid = sum(row.paid_amount for row in rows)
    upcoming = sorted(
        (row for row in rows if row.status == Installment.Status.SCHEDULED),
        key=lambda row: (row.due_date, row.sequence),
    )
    return {
        "plan": plan,
        "merchant": plan.merchant.name,
        "total": _money(total, plan.currency),
        "paid": _money(paid, plan.currency),
        "left": _money(total - paid, plan.currency),
        "progress": round(100 * paid / total) if total else 100,
        "next": upcoming[0] if upcoming else None,
        "next_amount": _money(upcoming[0].amount - upcoming[0].paid_amount, plan.currency) if upcoming else "",
        "open_dispute": next((row for row in plan.order.disputes.all() if row.is_open), None),
    }


def _plan_mode(plan: Plan) -> dict[str, Any]:
    """A test-mode plan's pages carry the test-mode banner."""
    if plan.livemode:
        return {"test_mode": False}
    return {
        "test_mode": True,
        "test_mode_detail": f"This plan is a test by {plan.merchant.name}: nothing here is owed or charged for real.",
    }


# --- Pages ------------------------------------------------------------------------------------------


@require_GET
@account_page
def overview(request: HttpRequest) -> HttpResponse:
    consumer = _consumer(request)
    found = selectors.plan_list(consumer=consumer).prefetch_related("installments", "order__disputes")
    plans = [_plan_summary(plan) for plan in found]
    active = [item for item in plans if item["plan"].status == Plan.Status.ACTIVE]
    return render(
        request,
        "consumers/account/overview.html",
        {
            "section": "plans",
            "consumer": consumer,
            "active": active,
            "finished": [item for item in plans if item["plan"].status != Plan.Status.ACTIVE],
            "notices": selectors.declined_decision_list(consumer=consumer).count(),
            "balances": [_balance_summary(balance) for balance in consumer_balances_open(consumer_id=consumer.pk)],
        },
    )


def _balance_summary(balance: ConsumerBalance) -> dict[str, Any]:
    """Money we hold for the consumer because their card refused a refund."""
    return {
        "balance": balance,
        "left": _money(balance.remaining_amount, balance.currency),
        "card": str(balance.source_charge.payment_method),
    }


@require_GET
@account_page
def plan_detail(request: HttpRequest, plan: Plan) -> HttpResponse:
    consumer = _consumer(request)
    currency = plan.currency
    installments = [
        {
            "row": row,
            "amount": _money(row.amount, currency),
            "paid": _money(row.paid_amount, currency),
            "is_fee": row.fee_for_id is not None,
            "movable": row.status == Installment.Status.SCHEDULED and row.fee_for_id is None,
        }
        for row in plan.installments.exclude(status=Installment.Status.CANCELED).order_by("due_date", "sequence")
    ]
    payments = plan.charges.filter(kind=Charge.Kind.PAYMENT, status=Charge.Status.SUCCEEDED).order_by("created_at")
    refunds = plan.order.refunds.order_by("created_at")
    objects = [plan.public_id, plan.order.public_id, *plan.order.disputes.values_list("public_id", flat=True)]
    history = AuditLogEntry.objects.filter(object_id__in=objects).order_by("created_at", "id")
    summary = _plan_summary(plan)
    can_pay = plan.status == Plan.Status.ACTIVE and plan.standing != Plan.Standing.CHARGED_OFF
    return render(
        request,
        "consumers/account/plan.html",
        {
            **summary,
            **_plan_mode(plan),
            "section": "plans",
            "consumer": consumer,
            "installments": installments,
            "payments": [{"charge": charge, "amount": _money(charge.amount, currency)} for charge in payments],
            "refunds": [
                {
                    "refund": refund,
                    "amount": _money(refund.amount, currency),
                    "off_plan": _money(refund.applied_to_plan_amount, currency),
                    "to_card": _money(refund.returned_to_card_amount, currency),
                }
                for refund in refunds
            ],
            "history": [
                {"at": entry.created_at, "text": HISTORY_TEXT.get(entry.action, entry.action)} for entry in history
            ],
            "disputes": plan.order.disputes.order_by("-created_at"),
            "can_pay": can_pay,
            "payoff": _money(servicing_selectors.plan_payoff_amount(plan=plan), currency) if can_pay else "",
            "is_financing": plan.product.kind == ProductKind.FINANCING,
            "can_move": can_pay and not plan.due_date_moved,
            "move_latest": actions.MAX_DUE_DATE_MOVE.days,
            "open_hardship": plan.hardship_requests.filter(status="open").exists(),
            "refundable": _money(plan.order.refundable_amount, currency),
            "dispute_reasons": Dispute.Reason.choices,
        },
    )


# --- Paying -----------------------------------------------------------------------------------------


@require_POST
@account_page
def plan_pay_now(request: HttpRequest, plan: Plan) -> HttpResponse:
    def pay() -> str:
        charge = servicing.plan_pay_next_installment(plan=plan)
        return f"Paid {_money(charge.amount, charge.currency)}. Thank you!"

    overview = reverse("consumers:portal")  # paid from the overview: back there, never elsewhere
    back = overview if request.POST.get("back") == overview else reverse("consumers:plan", args=[plan.public_id])
    return _done(request, pay, back=back)


class AmountForm(forms.Form):
    amount = forms.DecimalField(min_value=0, decimal_places=3, max_digits=15)


@require_POST
@account_page
def plan_pay_early(request: HttpRequest, plan: Plan) -> HttpResponse:
    form = AmountForm(request.POST)
    back = reverse("consumers:plan", args=[plan.public_id])
    if not form.is_valid():
        messages.error(request, "Enter the amount to pay, e.g. 25.00.")
        return redirect(back)

    def pay() -> str:
        amount = from_decimal(form.cleaned_data["amount"], plan.currency)
        if not 0 < amount <= MAX_AMOUNT:
            raise InvalidRequestError("Enter an amount above zero.", param="amount")
        charge = servicing.plan_pay_early(plan=plan, amount=amount)
        return f"Paid {_money(charge.amount, charge.currency)} early. It goes to your next payments."

    return _done(request, pay, back=back)


@require_POST
@account_page
def plan_pay_off(request: HttpRequest, plan: Plan) -> HttpResponse:
    def pay() -> str:
        charge = servicing.plan_pay_early(plan=plan)
        return f"Paid {_money(charge.amount, charge.currency)}: this plan is paid off."

    return _done(request, pay, back=reverse("consumers:plan", args=[plan.public_id]))


# --- Changing the plan ------------------------------------------------------------------------------


class MoveForm(forms.Form):
    installment = forms.IntegerField(min_value=1)
    due_date = forms.DateField()


@require_POST
@account_page
def plan_move_due_date(request: HttpRequest, plan: Plan) -> HttpResponse:
    form = MoveForm(request.POST)
    back = reverse("consumers:plan", args=[plan.public_id])
    if not form.is_valid():
        messages.error(request, "Choose a payment and a new date.")
        return redirect(back)

    def move() -> str:
        moved = actions.installment_move_due_date(
            plan=plan, sequence=form.cleaned_data["installment"], due_date=form.cleaned_data["due_date"]
        )
        return f"Moved: that payment is now due on {moved.due_date:%-d %b %Y}."

    return _done(request, move, back=back)


@require_POST
@account_page
def plan_hardship(request: HttpRequest, plan: Plan) -> HttpResponse:
    def ask() -> str:
        actions.hardship_request(plan=plan, reason=request.POST.get("reason", "")[:2000])
        return "We have your request. Payments and late fees are paused while our team looks at it."

    return _done(request, ask, back=reverse("consumers:plan", args=[plan.public_id]))


class DisputeForm(forms.Form):
    kind = forms.ChoiceField(choices=Dispute.Kind.choices)
    reason = forms.ChoiceField(choices=Dispute.Reason.choices, required=False)
    amount = forms.DecimalField(min_value=0, decimal_places=3, max_digits=15, required=False)
    description = forms.CharField(max_length=disputes.MAX_TEXT, required=False)


@require_POST
@account_page
def plan_dispute(request: HttpRequest, plan: Plan) -> HttpResponse:
    form = DisputeForm(request.POST)
    back = reverse("consumers:plan", args=[plan.public_id])
    if not form.is_valid():
        messages.error(request, "Choose a return or a dispute and say why.")
        return redirect(back)
    data = form.cleaned_data

    def open_it() -> str:
        amount = from_decimal(data["amount"], plan.currency) if data["amount"] else None
        dispute = disputes.dispute_open(
            order=plan.order,
            consumer=_consumer(request),
            kind=data["kind"],
            reason=data["reason"],
            amount=amount,
            description=data["description"],
        )
        held = dispute_holds.held_installments(plan)
        on_hold = (
            f"Payment{'s' if len(held) > 1 else ''} {', '.join(f'#{row.sequence}' for row in held)} "
            f"({_money(sum(row.remaining_amount for row in held), plan.currency)}) "
            f"{'are' if len(held) > 1 else 'is'} on hold until it is resolved; keep paying the others."
            if held
            else "Nothing on this plan is left to pay, so nothing is put on hold."
        )
        return f"We told {plan.merchant.name} (the shop answers by {dispute.respond_by:%-d %b %Y}). {on_hold}"

    return _done(request, open_it, back=back)


@require_POST
@account_page
def dispute_withdraw(request: HttpRequest, dispute_id: str) -> HttpResponse:
    consumer = _consumer(request)
    dispute = selectors.dispute_get(consumer=consumer, public_id=dispute_id)
    if dispute is None:
        raise Http404

    def withdraw() -> str:
        disputes.dispute_withdraw(dispute=dispute, consumer=consumer)
        return (
            "Withdrawn. The payments it held keep their original due dates: any already due are collected "
            "now, and late fees count from those dates. Pay now below to settle them at once."
        )

    return _done(request, withdraw, back=reverse("consumers:plan", args=[dispute.order.plan.public_id]))


# --- Cards ------------------------------------------------------------------------------------------


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
    consumer = _consumer(request)
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

        return _done(request, add, back=_cards_url(livemode))
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
    consumer = _consumer(request)
    card = selectors.payment_method_get(consumer=consumer, public_id=card_id)
    if card is None:
        raise Http404

    return _done(request, lambda: _make_default(consumer, card), back=_cards_url(card.livemode))


def _make_default(consumer: Consumer, card: PaymentMethod) -> str:
    return _now_default(card, rearmed=payment_method_make_default(consumer=consumer, payment_method=card))


def _now_default(card: PaymentMethod, *, rearmed: int) -> str:
    again = f" {rearmed} payment(s) that had stopped will be collected from it." if rearmed else ""
    which = "Your" if card.livemode else "Your test-mode"
    return f"{which} payments now use {card}.{again}"


# --- Data sharing -----------------------------------------------------------------------------------


@require_GET
@account_page
def data_sharing(request: HttpRequest) -> HttpResponse:
    """Every consent to share the consumer's bank data: who shares it, what, since when, until when,
    and for which decisions; with the choices that are theirs alone."""
    consumer = _consumer(request)
    rows = [
        {"consent": consent, "shared": bank_data.consent_sharing_summary(consent=consent)}
        for consent in selectors.bank_data_consent_list(consumer=consumer)
    ]
    return render(
        request,
        "consumers/account/data_sharing.html",
        {
            "section": "data-sharing",
            "consumer": consumer,
            "rows": rows,
            "all_decisions": BankDataConsent.Scope.ALL_DECISIONS,
        },
    )


def _consent_action(request: HttpRequest, consent_id: str, action: Callable[[BankDataConsent], str]) -> HttpResponse:
    consent = selectors.bank_data_consent_get(consumer=_consumer(request), public_id=consent_id)
    if consent is None:
        raise Http404
    return _done(request, lambda: action(consent), back=reverse("consumers:data-sharing"))


@require_POST
@account_page
def data_sharing_scope(request: HttpRequest, consent_id: str) -> HttpResponse:
    def choose(consent: BankDataConsent) -> str:
        scope = request.POST.get("scope", "")
        bank_data.consent_scope_set(consent=consent, scope=scope)
        if scope == BankDataConsent.Scope.ALL_DECISIONS:
            return f"Done: what {consent.source.name} shares may now help any pay-later decision about you."
        return f"Done: what {consent.source.name} shares is used only when you buy from {consent.source.name}."

    return _consent_action(request, consent_id, choose)


@require_POST
@account_page
def data_sharing_revoke(request: HttpRequest, consent_id: str) -> HttpResponse:
    def revoke(consent: BankDataConsent) -> str:
        bank_data.consent_revoke(consent=consent, revoked_by=BankDataConsent.RevokedBy.CONSUMER)
        return f"Revoked: {consent.source.name} can no longer share your bank data, and what it shared is deleted."

    return _consent_action(request, consent_id, revoke)


@require_POST
@account_page
def data_sharing_grant(request: HttpRequest, consent_id: str) -> HttpResponse:
    def grant(consent: BankDataConsent) -> str:
        bank_data.consent_grant_again(consent=consent)
        return f"Granted: {consent.source.name} may share your bank data again, for its own decisions."

    return _consent_action(request, consent_id, grant)


# --- Decisions, documents, preferences, profile -----------------------------------------------------


@require_GET
@account_page
def decisions(request: HttpRequest) -> HttpResponse:
    consumer = _consumer(request)
    adverse = set(selectors.declined_decision_list(consumer=consumer, limit=200).values_list("pk", flat=True))
    rows = [
        {
            "decision": decision,
            "amount": _money(decision.amount, decision.currency),
            "approved": _money(decision.approved_amount or 0, decision.currency),
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
    consumer = _consumer(request)
    return render(
        request,
        "consumers/account/documents.html",
        {
            "section": "documents",
            "consumer": consumer,
            "plans": selectors.plan_list(consumer=consumer),
            "charges": [
                {"charge": charge, "amount": _money(charge.amount, charge.currency)}
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
    charge = selectors.receipt_get(consumer=_consumer(request), public_id=charge_id)
    if charge is None:
        raise Http404
    return _pdf(documents.receipt_pdf(charge), f"receipt-{charge.public_id}.pdf")


@account_page
def preferences(request: HttpRequest) -> HttpResponse:
    consumer = _consumer(request)
    if request.method == "POST":

        def save() -> str:
            services.consumer_preferences_update(
                consumer=consumer,
                notify_by_email="notify_by_email" in request.POST,
                notify_by_sms="notify_by_sms" in request.POST,
            )
            return "Saved. Reminders and notices follow your choice."

        return _done(request, save, back=reverse("consumers:preferences"))
    return render(request, "consumers/account/preferences.html", {"section": "preferences", "consumer": consumer})


@require_GET
@account_page
def profile(request: HttpRequest) -> HttpResponse:
    consumer = _consumer(request)
    identity = getattr(consumer, "identity", None)
    return render(
        request,
        "consumers/account/profile.html",
        {"section": "profile", "consumer": consumer, "identity": identity},
    )
