"""The consumer's plans in the portal (``/account/`` and ``/account/plans/…``): the overview of plans
with their progress and the next payment, a plan's page (schedule, payments, refunds, returns and
disputes, history), and what the consumer can do to a plan: pay now, pay early, pay off; move one due
date; ask for hardship help; report a return or a dispute, and withdraw it.

Plans and disputes are looked up through the signed-in consumer (``account_views.account_page``), so
another's is a 404. Every action calls the same servicing or dispute service the rest of the product
uses and says what happened. A test-mode plan's pages carry the test-mode banner."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from bnpl.checkout import dispute_holds, disputes
from bnpl.checkout.models import Dispute
from bnpl.core.errors import InvalidRequestError
from bnpl.core.money import MAX_AMOUNT, format_amount, from_decimal
from bnpl.payments.models import Charge, ConsumerBalance
from bnpl.plans.models import Installment, Plan, ProductKind
from bnpl.servicing import actions
from bnpl.servicing import selectors as servicing_selectors
from bnpl.servicing import services as servicing
from bnpl.servicing.balances import consumer_balances_open
from consumers import selectors
from consumers.account_views import account_action, account_consumer, account_page
from consumers.history import plan_history


def _plan_summary(plan: Plan) -> dict[str, Any]:
    rows = [row for row in plan.installments.all() if row.status != Installment.Status.CANCELED]
    total = sum(row.amount for row in rows)
    paid = sum(row.paid_amount for row in rows)
    upcoming = sorted(
        (row for row in rows if row.status == Installment.Status.SCHEDULED and row.amount > row.paid_amount),
        key=lambda row: (row.due_date, row.sequence),
    )
    return {
        "plan": plan,
        "merchant": selectors.shop_name(plan.merchant),
        "total": format_amount(total, plan.currency),
        "paid": format_amount(paid, plan.currency),
        "left": format_amount(total - paid, plan.currency),
        "progress": round(100 * paid / total) if total else 100,
        "next": upcoming[0] if upcoming else None,
        "next_amount": format_amount(upcoming[0].amount - upcoming[0].paid_amount, plan.currency) if upcoming else "",
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


@require_GET
@account_page
def overview(request: HttpRequest) -> HttpResponse:
    consumer = account_consumer(request)
    found = selectors.plan_list(consumer=consumer).prefetch_related("installments", "order__disputes")
    plans = [_plan_summary(plan) for plan in found]
    return render(
        request,
        "consumers/account/overview.html",
        {
            "section": "plans",
            "consumer": consumer,
            "shops": _by_shop(plans),
            "notices": selectors.declined_decision_list(consumer=consumer).count(),
            "balances": [_balance_summary(balance) for balance in consumer_balances_open(consumer_id=consumer.pk)],
        },
    )


def _by_shop(plans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The plans grouped by shop, each group with the shop's logo (or its initial) and what is left
    to pay there: shops with plans to pay first, then by their newest plan (``plans`` is newest first)."""
    groups: dict[int, dict[str, Any]] = {}
    for item in plans:
        merchant = item["plan"].merchant
        group = groups.setdefault(
            merchant.pk,
            {
                "merchant": merchant,
                "name": item["merchant"],
                "initial": item["merchant"][:1].upper() or "?",
                "has_logo": selectors.shop_has_logo(merchant),
                "active": [],
                "finished": [],
            },
        )
        group["active" if item["plan"].status == Plan.Status.ACTIVE else "finished"].append(item)
    return sorted(groups.values(), key=lambda group: not group["active"])  # stable: newest first within each


def _balance_summary(balance: ConsumerBalance) -> dict[str, Any]:
    """Money we hold for the consumer because their card refused a refund."""
    return {
        "balance": balance,
        "left": format_amount(balance.remaining_amount, balance.currency),
        "card": str(balance.source_charge.payment_method),
    }


@require_GET
@account_page
def plan_detail(request: HttpRequest, plan: Plan) -> HttpResponse:
    consumer = account_consumer(request)
    currency = plan.currency
    installments = [
        {
            "row": row,
            "amount": format_amount(row.amount, currency),
            "paid": format_amount(row.paid_amount, currency),
            "is_fee": row.fee_for_id is not None,
            "movable": row.status == Installment.Status.SCHEDULED and row.fee_for_id is None,
        }
        for row in plan.installments.exclude(status=Installment.Status.CANCELED).order_by("due_date", "sequence")
    ]
    payments = plan.charges.filter(kind=Charge.Kind.PAYMENT, status=Charge.Status.SUCCEEDED).order_by("created_at")
    refunds = plan.order.refunds.order_by("created_at")
    summary = _plan_summary(plan)
    can_pay = plan.status == Plan.Status.ACTIVE and plan.standing != Plan.Standing.CHARGED_OFF
    payoff_amount = servicing_selectors.plan_payoff_amount(plan=plan) if can_pay else 0
    payoff = format_amount(payoff_amount, currency) if payoff_amount else ""  # nothing to pay: no "$0.00" button
    return render(
        request,
        "consumers/account/plan.html",
        {
            **summary,
            **_plan_mode(plan),
            "section": "plans",
            "consumer": consumer,
            "installments": installments,
            "payments": [{"charge": charge, "amount": format_amount(charge.amount, currency)} for charge in payments],
            "refunds": [
                {
                    "refund": refund,
                    "amount": format_amount(refund.amount, currency),
                    "off_plan": format_amount(refund.applied_to_plan_amount, currency),
                    "to_card": format_amount(refund.returned_to_card_amount, currency),
                }
                for refund in refunds
            ],
            "history": plan_history(plan=plan, shop=summary["merchant"]),
            "disputes": plan.order.disputes.order_by("-created_at"),
            "can_pay": can_pay,
            "payoff": payoff,
            "is_financing": plan.product.kind == ProductKind.FINANCING,
            "can_move": can_pay and not plan.due_date_moved,
            "move_latest": actions.MAX_DUE_DATE_MOVE.days,
            "open_hardship": plan.hardship_requests.filter(status="open").exists(),
            "refundable": format_amount(plan.order.refundable_amount, currency),
            "dispute_reasons": Dispute.Reason.choices,
        },
    )


@require_POST
@account_page
def plan_pay_now(request: HttpRequest, plan: Plan) -> HttpResponse:
    def pay() -> str:
        charge = servicing.plan_pay_next_installment(plan=plan)
        return f"Paid {format_amount(charge.amount, charge.currency)}. Thank you!"

    overview = reverse("consumers:portal")  # paid from the overview: back there, never elsewhere
    back = overview if request.POST.get("back") == overview else reverse("consumers:plan", args=[plan.public_id])
    return account_action(request, pay, back=back)


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
        return f"Paid {format_amount(charge.amount, charge.currency)} early. It goes to your next payments."

    return account_action(request, pay, back=back)


@require_POST
@account_page
def plan_pay_off(request: HttpRequest, plan: Plan) -> HttpResponse:
    def pay() -> str:
        charge = servicing.plan_pay_early(plan=plan)
        return f"Paid {format_amount(charge.amount, charge.currency)}: this plan is paid off."

    return account_action(request, pay, back=reverse("consumers:plan", args=[plan.public_id]))


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

    return account_action(request, move, back=back)


@require_POST
@account_page
def plan_hardship(request: HttpRequest, plan: Plan) -> HttpResponse:
    def ask() -> str:
        actions.hardship_request(plan=plan, reason=request.POST.get("reason", "")[:2000])
        return "We have your request. Payments and late fees are paused while our team looks at it."

    return account_action(request, ask, back=reverse("consumers:plan", args=[plan.public_id]))


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
            consumer=account_consumer(request),
            kind=data["kind"],
            reason=data["reason"],
            amount=amount,
            description=data["description"],
        )
        held = dispute_holds.held_installments(plan)
        on_hold = (
            f"Payment{'s' if len(held) > 1 else ''} {', '.join(f'#{row.sequence}' for row in held)} "
            f"({format_amount(sum(row.remaining_amount for row in held), plan.currency)}) "
            f"{'are' if len(held) > 1 else 'is'} on hold until it is resolved; keep paying the others."
            if held
            else "Nothing on this plan is left to pay, so nothing is put on hold."
        )
        return f"We told {plan.merchant.name} (the shop answers by {dispute.respond_by:%-d %b %Y}). {on_hold}"

    return account_action(request, open_it, back=back)


@require_POST
@account_page
def dispute_withdraw(request: HttpRequest, dispute_id: str) -> HttpResponse:
    consumer = account_consumer(request)
    dispute = selectors.dispute_get(consumer=consumer, public_id=dispute_id)
    if dispute is None:
        raise Http404

    def withdraw() -> str:
        disputes.dispute_withdraw(dispute=dispute, consumer=consumer)
        return (
            "Withdrawn. The payments it held keep their original due dates: any already due are collected "
            "now, and late fees count from those dates. Pay now below to settle them at once."
        )

    return account_action(request, withdraw, back=reverse("consumers:plan", args=[dispute.order.plan.public_id]))
