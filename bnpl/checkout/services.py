"""Checkout sessions, confirmation (decision, first payment, order, plan) and order management:
capture, void, refund, expiry. Every write validates, changes state, posts a balanced journal entry,
and records an audit row and an event in one transaction; card calls happen outside it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from bnpl.checkout import accounting, balances
from bnpl.checkout.disputes import disputes_order_changed
from bnpl.checkout.models import Capture, CheckoutSession, Order, Refund
from bnpl.checkout.representations import checkout_session_data, hosted_url, order_data, refund_data
from bnpl.checkout.step_up import step_up_check
from bnpl.core import clock
from bnpl.core.errors import ApplicationError, ConflictError, InvalidRequestError, PaymentDeclinedError, StateError
from bnpl.core.ids import is_well_formed
from bnpl.core.money import MAX_AMOUNT, basis_points, normalize_currency
from bnpl.core.services import change_record
from bnpl.payments.gateways import get_gateway
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.selectors import payment_method_default
from bnpl.payments.services import charge_execute, charge_prepare, payment_method_check_mode
from bnpl.plans import services as plan_services
from bnpl.plans.models import Installment, PaymentProduct, Plan
from bnpl.plans.representations import plan_data
from bnpl.plans.schedule import ScheduleInputError
from bnpl.tenancy.services import merchant_consumer_ensure
from consumers.models import Consumer
from consumers.senders import get_sender
from consumers.services import Requester
from decisioning import decide, decline_on_recheck, review_referral
from decisioning.models import CreditDecision
from decisioning.policy import Application, Decision, Reason, evaluate, features_for
from merchants.models import Merchant

# --- Sessions -----------------------------------------------------------------------------------


def _validate_line_items(line_items: Sequence[dict[str, Any]], amount: int) -> list[dict[str, Any]]:
    if not line_items:
        raise InvalidRequestError("Add at least one line item.", code="line_items_missing", param="line_items")
    normalized = []
    for index, item in enumerate(line_items):
        total = item["quantity"] * item["unit_amount"]
        if total > MAX_AMOUNT:
            raise InvalidRequestError("This line item's total is too large.", param=f"line_items[{index}].unit_amount")
        normalized.append({**item, "total_amount": total})
    items_total = sum(item["total_amount"] for item in normalized)
    if items_total != amount:
        raise InvalidRequestError(
            f"The line items add up to {items_total}, not the amount {amount}.", code="amount_mismatch", param="amount"
        )
    return normalized


def checkout_session_create(
    *,
    merchant: Merchant,
    livemode: bool,
    amount: int,
    currency: str,
    line_items: Sequence[dict[str, Any]],
    return_url: str,
    cancel_url: str,
    merchant_reference: str = "",
    customer_email: str = "",
    customer_phone: str = "",
    product_kinds: Sequence[str] = (),
) -> CheckoutSession:
    currency = normalize_currency(currency)
    if currency not in merchant.currencies:
        raise InvalidRequestError(
            f"{currency} is not one of this merchant's currencies ({', '.join(merchant.currencies)}).",
            code="currency_not_enabled",
            param="currency",
        )
    items = _validate_line_items(line_items, amount)
    if not plan_services.eligible_products(
        merchant=merchant, livemode=livemode, currency=currency, amount=amount, kinds=product_kinds
    ).exists():
        raise InvalidRequestError(
            "No enabled payment product takes this amount in this currency.", code="no_eligible_product", param="amount"
        )
    with transaction.atomic():
        session = CheckoutSession.objects.create(
            merchant=merchant,
            livemode=livemode,
            amount=amount,
            currency=currency,
            line_items=items,
            merchant_reference=merchant_reference,
            customer_email=customer_email.lower(),
            customer_phone=customer_phone,
            return_url=return_url,
            cancel_url=cancel_url,
            product_kinds=sorted(set(product_kinds)),
            expires_at=clock.now() + settings.CHECKOUT_SESSION_TTL,
        )
        change_record(
            action="checkout_session.created",
            instance=session,
            merchant=merchant,
            livemode=livemode,
            data=checkout_session_data(session),
        )
    return session


def _session_transition(session: CheckoutSession, status: str, action: str, **fields: Any) -> CheckoutSession:
    before = checkout_session_data(session)
    session.status = status
    for name, value in fields.items():
        setattr(session, name, value)
    session.save()
    change_record(
        action=action,
        instance=session,
        before=before,
        data=checkout_session_data(session),
    )
    return session


CLOSED_SESSION_MESSAGES = {
    CheckoutSession.Status.EXPIRED: "This checkout has expired. Return to the shop to start again.",
    CheckoutSession.Status.COMPLETE: "This checkout is complete: your order is placed.",
    CheckoutSession.Status.DECLINED: "This checkout was declined. Return to the shop to pay another way.",
    CheckoutSession.Status.CANCELED: "This checkout was canceled. Return to the shop to start again.",
    CheckoutSession.Status.IN_REVIEW: "We are reviewing your application and will email you when we have decided.",
}


def checkout_session_usable(session: CheckoutSession) -> None:
    """Refuse a session the shopper can no longer act on, saying why (the same words whether or
    not the expiry sweep has run yet)."""
    if session.merchant.status == Merchant.Status.SUSPENDED:
        raise StateError("This shop cannot take pay-later payments right now.", code="session_unavailable")
    status = session.status
    if status == CheckoutSession.Status.OPEN and clock.now() >= session.expires_at:
        status = CheckoutSession.Status.EXPIRED
    if status != CheckoutSession.Status.OPEN:
        raise StateError(CLOSED_SESSION_MESSAGES[CheckoutSession.Status(status)], code=f"session_{status}")


def checkout_session_cancel(*, session: CheckoutSession) -> CheckoutSession:
    with transaction.atomic():
        session = CheckoutSession.objects.select_for_update().get(pk=session.pk)
        checkout_session_usable(session)
        return _session_transition(session, CheckoutSession.Status.CANCELED, "checkout_session.canceled")


def checkout_sessions_expire() -> int:
    """Mark open sessions past their expiry as expired (a periodic task)."""
    count = 0
    waiting = (CheckoutSession.Status.OPEN, CheckoutSession.Status.IN_REVIEW)
    for session_id in CheckoutSession.objects.filter(status__in=waiting, expires_at__lte=clock.now()).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            session = CheckoutSession.objects.select_for_update().get(pk=session_id)
            if session.status in waiting:
                _session_transition(session, CheckoutSession.Status.EXPIRED, "checkout_session.expired")
                count += 1
    return count


class DecisionChangedError(StateError):
    """The policy, checked again as the order was written, no longer approves (another checkout of
    the same consumer got there first). Carries every failed rule."""

    def __init__(self, reasons: tuple[Reason, ...]) -> None:
        super().__init__(" ".join(reason.text for reason in reasons), code="decision_changed")
        self.reasons = reasons


# --- Confirmation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfirmResult:
    decision: Decision | None
    order: Order | None = None
    payment_error: str = ""
    counteroffer: plan_services.Offer | None = None  # approved for less: the schedule with the down payment

    @property
    def approved(self) -> bool:
        return self.order is not None


def eligible_product(*, session: CheckoutSession, product_public_id: str) -> PaymentProduct:
    """The chosen product, if it is one the session offers (and it can make a schedule)."""
    product = (
        plan_services.eligible_products(
            merchant=session.merchant,
            livemode=session.livemode,
            currency=session.currency,
            amount=session.amount,
            kinds=session.product_kinds,
        )
        .filter(public_id=product_public_id)
        .first()
        if is_well_formed(product_public_id)
        else None
    )
    try:
        if product is not None:
            plan_services.offer_build(product=product, amount=session.amount, start=clock.today())
            return product
    except ScheduleInputError:
        pass
    raise InvalidRequestError("Choose one of the payment options shown.", code="product_not_offered", param="product")


def checkout_confirm(
    *,
    session: CheckoutSession,
    consumer: Consumer,
    product: PaymentProduct,
    payment_method: PaymentMethod,
    accepted_down_payment: int = 0,
    step_up_code: str = "",
    requester: Requester | None = None,
) -> ConfirmResult:
    """Decide, take the payment due today, and authorize the order.

    A saved card at a merchant the consumer has never bought from needs a fresh one-time code first
    (``step_up_code``, asked for by the browser ``requester``; ``bnpl.checkout.step_up``): without
    it, StepUpRequiredError, before anything is decided or charged.

    A decision that approves less than the order (a counteroffer) comes back with the schedule that
    includes its down payment and takes nothing; confirming again with ``accepted_down_payment``
    equal to it goes ahead (a new decision asking another amount is shown again).

    Safe to repeat and to race: a confirm for a completed session returns its order; a charge whose
    order could not be made (the session closed meanwhile, a parallel confirm won, the consumer's
    exposure changed) is refunded at once, so money is never kept without an order.
    """
    checkout_session_usable(session)
    if payment_method.consumer_id != consumer.pk:
        raise InvalidRequestError("Choose one of your own cards.", param="payment_method")
    payment_method_check_mode(payment_method=payment_method, livemode=session.livemode)
    step_up_check(
        session=session, consumer=consumer, payment_method=payment_method, code=step_up_code, requester=requester
    )
    offer = plan_services.offer_build(product=product, amount=session.amount, start=clock.today())
    application = Application(
        consumer=consumer,
        merchant=session.merchant,
        product=product,
        amount=session.amount,
        currency=session.currency,
        livemode=session.livemode,
        checkout_session=session,
    )
    decision = decide(application=application)
    if decision.referred:
        return _refer(session=session, consumer=consumer, decision=decision)
    if not decision.approved:
        return _decline(session=session, consumer=consumer, decision=decision)
    if decision.down_payment_amount:
        offer = plan_services.offer_build(
            product=product, amount=session.amount, start=clock.today(), down_payment=decision.down_payment_amount
        )
        if accepted_down_payment != decision.down_payment_amount:
            return ConfirmResult(decision=decision, counteroffer=offer)
    first_charge = None
    if not offer.due_today_amount:
        verification = get_gateway(livemode=session.livemode).verify_card(token=payment_method.gateway_token)
        if not verification.succeeded:
            return ConfirmResult(decision=decision, payment_error=verification.failure_message)
    else:
        first_charge = charge_prepare(
            consumer=consumer,
            payment_method=payment_method,
            amount=offer.due_today_amount,
            currency=session.currency,
            livemode=session.livemode,
            # Per card and amount: another card (or product) after a decline is a new charge.
            idempotency_key=f"{session.public_id}:first_payment:{payment_method.public_id}:{offer.due_today_amount}",
        )
        first_charge = charge_execute(charge=first_charge, off_session=False)
        if first_charge.status != Charge.Status.SUCCEEDED:
            return ConfirmResult(
                decision=decision, payment_error=first_charge.failure_message or "The card was declined."
            )
    try:
        order = _authorize(session=session, application=application, offer=offer, first_charge=first_charge)
    except ApplicationError as error:
        if first_charge is not None:
            balances.give_back(charge=first_charge)
        if isinstance(error, DecisionChangedError):
            decline_on_recheck(decision_id=decision.decision_id, reasons=error.reasons)
        raise
    if first_charge is not None and Charge.objects.get(pk=first_charge.pk).applied_at is None:
        balances.give_back(charge=first_charge)  # a parallel confirm made the order with its own payment
    return ConfirmResult(decision=decision, order=order)


def _refer(*, session: CheckoutSession, consumer: Consumer, decision: Decision) -> ConfirmResult:
    with transaction.atomic():
        locked = CheckoutSession.objects.select_for_update().get(pk=session.pk)
        if locked.status == CheckoutSession.Status.COMPLETE:
            return ConfirmResult(decision=decision, order=locked.order)
        checkout_session_usable(locked)
        _session_transition(locked, CheckoutSession.Status.IN_REVIEW, "checkout_session.in_review", consumer=consumer)
    return ConfirmResult(decision=decision)


def checkout_review_resolve(*, decision: CreditDecision, approve: bool, note: str, reviewer: Any) -> CreditDecision:
    """An operator settles a referred application: approved, the session opens again for the
    shopper to finish (the next decision honours the review); declined, the session is declined.
    The shopper is told by email either way."""
    with transaction.atomic():
        reviewed = review_referral(decision=decision, approve=approve, note=note, reviewer=reviewer)
        assert reviewed.checkout_session_id is not None, "referrals come from a checkout"
        session = CheckoutSession.objects.select_for_update().get(pk=reviewed.checkout_session_id)
        if session.status == CheckoutSession.Status.IN_REVIEW:
            if approve:
                _session_transition(session, CheckoutSession.Status.OPEN, "checkout_session.review_approved")
            else:
                _session_transition(session, CheckoutSession.Status.DECLINED, "checkout_session.declined")
        consumer = reviewed.consumer
        if consumer.email:
            message = (
                f"Good news: {session.merchant.name} approved your pay-later application. Finish your purchase at "
                f"{hosted_url(session)}"
                if approve
                else f"We could not approve your pay-later application at {session.merchant.name}. "
                "The reasons are in your account's notices."
            )
            transaction.on_commit(
                lambda: get_sender().send(
                    channel="email",
                    destination=consumer.email or "",
                    subject="Your pay-later application",
                    body=message,
                )
            )
    return reviewed


def _decline(*, session: CheckoutSession, consumer: Consumer, decision: Decision) -> ConfirmResult:
    with transaction.atomic():
        locked = CheckoutSession.objects.select_for_update().get(pk=session.pk)
        if locked.status == CheckoutSession.Status.COMPLETE:
            return ConfirmResult(decision=decision, order=locked.order)  # a parallel confirm already won
        checkout_session_usable(locked)
        _session_transition(locked, CheckoutSession.Status.DECLINED, "checkout_session.declined", consumer=consumer)
    return ConfirmResult(decision=decision)


def _authorize(
    *, session: CheckoutSession, application: Application, offer: plan_services.Offer, first_charge: Charge | None
) -> Order:
    consumer = application.consumer
    with transaction.atomic():
        session = CheckoutSession.objects.select_for_update().get(pk=session.pk)
        if session.status == CheckoutSession.Status.COMPLETE:
            return session.order
        checkout_session_usable(session)
        # The consumer's row serializes their checkouts: the policy is checked again under it, so
        # two checkouts at once cannot both pass a spending limit that only one fits.
        Consumer.objects.select_for_update().get(pk=consumer.pk)
        reasons = evaluate(features_for(application))
        if reasons:
            raise DecisionChangedError(reasons)
        # The shopper confirmed a purchase here: only now does the merchant get its id for them.
        merchant_consumer_ensure(merchant=session.merchant, livemode=session.livemode, consumer=consumer)
        order = Order.objects.create(
            merchant=session.merchant,
            livemode=session.livemode,
            checkout_session=session,
            consumer=consumer,
            currency=session.currency,
            authorized_amount=session.amount,
            merchant_fee_bps=offer.product.merchant_fee_bps,
            merchant_fee_fixed_amount=offer.product.merchant_fee_fixed_amount,
            merchant_reference=session.merchant_reference,
            authorization_expires_at=clock.now() + settings.AUTHORIZATION_TTL,
        )
        plan = plan_services.plan_create(order=order, consumer=consumer, offer=offer)
        accounting.post_authorization(order)
        if first_charge is not None and _apply_payment(order, plan, first_charge):
            raise StateError("The payment is more than the plan owes.", code="overpayment")
        _session_transition(
            session,
            CheckoutSession.Status.COMPLETE,
            "checkout_session.completed",
            consumer=consumer,
            completed_at=clock.now(),
        )
        change_record(
            action="order.authorized",
            instance=order,
            data=order_data(order),
        )
    return order


def _apply_payment(order: Order, plan: Plan, charge: Charge, *, first: Installment | None = None) -> int:
    """Spread a successful charge over the plan's unpaid installments -- ``first`` (the one it was
    taken for) and then the earliest due -- and post what was applied. Returns what did not fit
    (the plan shrank while the payment was in flight)."""
    Charge.objects.filter(pk=charge.pk).update(plan=plan, applied_at=clock.now())
    principal, interest, left = plan_services.installments_record_payment(
        plan, charge.amount, plan.installments.filter(status=Installment.Status.SCHEDULED), first=first
    )
    accounting.post_payment(order, charge_id=charge.public_id, principal=principal, interest=interest)
    return left


def plan_pay_next_installment(*, plan: Plan, payment_method: PaymentMethod | None = None) -> Charge:
    """The consumer pays their next installment now (the portal's "pay now"; collections later run
    the same steps off-session).

    Safe when called twice at once: the charge is chosen under the plan's lock (a pending one is
    reused, so its idempotency key -- plan, installment, attempt -- moves money once), and applying it
    is guarded by the charge's ``applied_at``, so one payment never settles two installments.
    """
    charge = _pay_now_charge(plan=plan, payment_method=payment_method)
    charge = charge_execute(charge=charge, off_session=False)
    if charge.status != Charge.Status.SUCCEEDED:
        raise PaymentDeclinedError(
            charge.failure_message or "The card was declined.", code=charge.failure_code or "card_declined"
        )
    with transaction.atomic():
        excess = charge_apply_to_plan(plan=plan, charge=charge)
    if excess:  # a refund or void shrank the plan while the card was being charged
        balances.give_back(charge=charge, amount=excess)
    charge.refresh_from_db()
    return charge


def plan_payoff_amount(*, plan: Plan) -> int:
    """What pays the plan off today: every unpaid installment and fee, with interest only as
    earned -- simple daily interest on the principal still owed since the last due date passed (or
    the purchase), never the interest of months not yet lived."""
    scheduled = list(plan.installments.filter(status=Installment.Status.SCHEDULED))
    if plan.apr_bps == 0:
        return sum(installment.remaining_amount for installment in scheduled)
    return sum(plan_services.unpaid_principal_and_fees(installment) for installment in scheduled) + _earned_interest(
        plan, scheduled
    )


def _earned_interest(plan: Plan, scheduled: list[Installment]) -> int:
    today = clock.today()
    principal = sum(plan_services.unpaid_principal_and_fees(row) for row in scheduled if not row.fee_amount)
    passed = plan.installments.filter(due_date__lte=today).order_by("-due_date").values_list("due_date", flat=True)
    since = passed.first() or plan.created_at.date()
    unpaid_interest_due = sum(
        max(0, row.interest_amount - min(row.paid_amount, row.interest_amount))
        for row in scheduled
        if row.due_date <= today
    )
    accrued = Decimal(principal) * plan.apr_bps * max(0, (today - since).days) / (10_000 * 365)
    return unpaid_interest_due + int(accrued.to_integral_value(rounding=ROUND_HALF_EVEN))


def plan_pay_early(*, plan: Plan, amount: int | None = None, payment_method: PaymentMethod | None = None) -> Charge:
    """The consumer pays ahead: ``amount`` applied to the next installments (interest-free plans), or
    everything (``amount`` None: pay off; financing then owes only the interest earned to date).

    A partial early payment on a financing plan is refused: paid into future installments it would
    pay interest not yet earned; the consumer pays the next installment or pays off instead.
    """
    with transaction.atomic():
        plan = Plan.objects.select_for_update().get(pk=plan.pk)
        if plan.standing == Plan.Standing.CHARGED_OFF:
            raise StateError("This plan was closed as unpaid; contact us to settle it.", code="plan_charged_off")
        if plan.charges.filter(kind=Charge.Kind.PAYMENT, status=Charge.Status.PENDING).exists():
            raise ConflictError("A payment on this plan is being processed; try again in a minute.")
        owed = plan_payoff_amount(plan=plan)
        if owed == 0:
            raise StateError("Nothing is left to pay on this plan.", code="nothing_to_pay")
        if amount is not None and plan.apr_bps and amount < owed:
            raise InvalidRequestError(
                "On a financing plan, pay the next installment or pay off the whole balance.", param="amount"
            )
        if amount is not None and not 0 < amount <= owed:
            raise InvalidRequestError(f"Pay between 1 and {owed} (what is owed).", param="amount")
        card = payment_method or payment_method_default(consumer_id=plan.consumer_id, livemode=plan.livemode)
        if card is None:
            raise InvalidRequestError("Add a card first.", param="payment_method")
        number = plan.charges.filter(idempotency_key__startswith=f"{plan.public_id}:early:").count() + 1
        charge = charge_prepare(
            consumer=plan.consumer,
            payment_method=card,
            amount=owed if amount is None else amount,
            currency=plan.currency,
            livemode=plan.livemode,
            idempotency_key=f"{plan.public_id}:early:{number}",
            plan=plan,
        )
    paying_off = amount is None or amount == owed
    charge = charge_execute(charge=charge, off_session=False)
    if charge.status != Charge.Status.SUCCEEDED:
        raise PaymentDeclinedError(
            charge.failure_message or "The card was declined.", code=charge.failure_code or "card_declined"
        )
    with transaction.atomic():
        _lock_order(plan.order)  # the order, then the plan: the order every writer locks them in
        if paying_off and plan.apr_bps:
            _forgive_unearned_interest(plan)
        excess = charge_apply_to_plan(plan=plan, charge=charge)
    if excess:
        balances.give_back(charge=charge, amount=excess)
    charge.refresh_from_db()
    return charge


def plan_payments_apply_settled(*, older_than: dt.timedelta = dt.timedelta(minutes=2)) -> int:
    """Apply payments that succeeded without their payer applying them: settled later by the
    pending-charge sweeper or a gateway webhook after the worker or request that sent them died.
    Money taken is never kept without reducing what the consumer owes (or going back)."""
    cutoff = clock.now() - older_than
    stranded = Charge.objects.filter(
        kind=Charge.Kind.PAYMENT,
        status=Charge.Status.SUCCEEDED,
        applied_at__isnull=True,
        plan__isnull=False,
        created_at__lt=cutoff,
    ).select_related("plan")
    applied = 0
    for charge in stranded:
        assert charge.plan is not None
        with transaction.atomic():
            excess = charge_apply_to_plan(plan=charge.plan, charge=charge)
        if excess:
            balances.give_back(charge=charge, amount=excess)
        applied += 1
    return applied


def _forgive_unearned_interest(plan: Plan) -> None:
    """Before a payoff is applied: the interest still scheduled becomes the interest earned to date
    (on the earliest unpaid installment); the rest, never earned, is dropped."""
    locked = Plan.objects.select_for_update().get(pk=plan.pk)
    scheduled = list(
        locked.installments.select_for_update()
        .filter(status=Installment.Status.SCHEDULED, fee_for__isnull=True)
        .order_by("due_date", "sequence")
    )
    earned = _earned_interest(locked, scheduled)
    for index, row in enumerate(scheduled):
        interest_paid = min(row.paid_amount, row.interest_amount)
        row.interest_amount = interest_paid + (earned if index == 0 else 0)
        row.amount = row.principal_amount + row.interest_amount + row.fee_amount
        row.save(update_fields=["interest_amount", "amount", "updated_at"])


def charge_apply_to_plan(*, plan: Plan, charge: Charge, first: Installment | None = None) -> int:
    """Apply a succeeded payment to the plan's earliest unpaid installments, once (guarded by the
    charge's ``applied_at`` under its lock), posting it and emitting ``plan.payment_succeeded``.
    Returns what did not fit -- all of it on a plan charged off meanwhile -- for the caller to give
    back after the transaction. Call inside one."""
    order = _lock_order(plan.order)
    locked_plan = Plan.objects.select_for_update(of=("self",)).select_related("product", "order").get(pk=plan.pk)
    charge = Charge.objects.select_for_update().get(pk=charge.pk)
    if charge.applied_at is not None or charge.status != Charge.Status.SUCCEEDED:
        return 0
    if locked_plan.standing == Plan.Standing.CHARGED_OFF:  # written off: the books stay shut, it all goes back
        Charge.objects.filter(pk=charge.pk).update(plan=locked_plan, applied_at=clock.now())
        return charge.amount
    before = plan_data(locked_plan)
    excess = _apply_payment(order, locked_plan, charge, first=first)
    change_record(action="plan.payment_succeeded", instance=locked_plan, before=before, data=plan_data(locked_plan))
    return excess


def _pay_now_charge(*, plan: Plan, payment_method: PaymentMethod | None) -> Charge:
    with transaction.atomic():
        plan = Plan.objects.select_for_update().get(pk=plan.pk)
        if plan.standing == Plan.Standing.CHARGED_OFF:
            raise StateError("This plan was closed as unpaid; contact us to settle it.", code="plan_charged_off")
        in_flight = plan.charges.filter(kind=Charge.Kind.PAYMENT, status=Charge.Status.PENDING).first()
        if in_flight is not None:
            return in_flight
        installment = (
            plan.installments.filter(status=Installment.Status.SCHEDULED).order_by("due_date", "sequence").first()
        )
        if installment is None:
            raise StateError("Nothing is left to pay on this plan.", code="nothing_to_pay")
        card = payment_method or payment_method_default(consumer_id=plan.consumer_id, livemode=plan.livemode)
        if card is None:
            raise InvalidRequestError("Add a card first.", param="payment_method")
        prefix = f"{plan.public_id}:{installment.sequence}:"
        attempt = plan.charges.filter(kind=Charge.Kind.PAYMENT, idempotency_key__startswith=prefix).count() + 1
        charge = charge_prepare(
            consumer=plan.consumer,
            payment_method=card,
            amount=installment.remaining_amount,
            currency=plan.currency,
            livemode=plan.livemode,
            idempotency_key=f"{prefix}{attempt}",
            plan=plan,
        )
        return charge


# --- Order management ---------------------------------------------------------------------------


def _lock_order(order: Order) -> Order:
    """The order row alone is locked (not its merchant or consumer: other orders go on)."""
    return Order.objects.select_related("merchant", "consumer").select_for_update(of=("self",)).get(pk=order.pk)


# Orders whose authorization is still open: something may yet be captured or voided.
OPEN_STATUSES = (Order.Status.AUTHORIZED, Order.Status.PART_CAPTURED)


def _require_open_authorization(order: Order) -> None:
    if order.status in (Order.Status.EXPIRED, Order.Status.VOIDED):
        raise StateError(f"This order is {order.status}.", code=f"order_{order.status}")
    if clock.now() >= order.authorization_expires_at:
        raise StateError("The authorization has expired.", code="order_expired")


def _fees_due(order: Order, *, captured: int, refunded: int) -> int:
    """What the merchant pays in fees on an order with ``captured`` captured and ``refunded``
    refunded so far, by the terms it was bought under: the percentage of the net captured amount,
    rounded once (half up), plus the fixed part once anything was captured (never given back).

    Each capture's fee and each refund's fee back is the change this figure makes, so the fees
    charged to date always equal the fee on the net captured amount: splitting a capture into tiny
    ones (three of 8 cents at 5.99% used to cost nothing) or a refund into parts changes nothing."""
    if captured == 0:
        return 0
    return basis_points(captured - refunded, order.merchant_fee_bps) + order.merchant_fee_fixed_amount


def _fee_for(order: Order, amount: int) -> int:
    """The fee on capturing ``amount`` more (the fixed part comes with the first capture, even if
    it exceeds a tiny first capture: the merchant then owes the difference)."""
    captured, refunded = order.captured_amount, order.refunded_amount
    return _fees_due(order, captured=captured + amount, refunded=refunded) - _fees_due(
        order, captured=captured, refunded=refunded
    )


def _fee_back(order: Order, amount: int) -> int:
    """The fee given back with a refund of ``amount``: the percentage on it, as the change in the
    fees due (so never more than was kept, and the fixed part never)."""
    captured, refunded = order.captured_amount, order.refunded_amount
    return _fees_due(order, captured=captured, refunded=refunded) - _fees_due(
        order, captured=captured, refunded=refunded + amount
    )


def order_capture(*, order: Order, amount: int, merchant_reference: str = "") -> Capture:
    """Capture part or all of what is still open (as the merchant ships)."""
    if amount <= 0:
        raise InvalidRequestError("Capture a positive amount.", param="amount")
    with transaction.atomic():
        order = _lock_order(order)
        _require_open_authorization(order)
        if amount > order.open_amount:
            raise StateError(
                f"Only {order.open_amount} is left to capture on this order.",
                code="amount_exceeds_open",
                param="amount",
            )
        before = order_data(order)
        fee = _fee_for(order, amount)
        capture = Capture.objects.create(
            merchant=order.merchant,
            livemode=order.livemode,
            order=order,
            amount=amount,
            merchant_fee_amount=fee,
            merchant_reference=merchant_reference,
        )
        order.captured_amount += amount
        order.merchant_fee_amount += fee
        order.status = Order.Status.CAPTURED if order.open_amount == 0 else Order.Status.PART_CAPTURED
        order.save()
        accounting.post_capture(order, capture_id=capture.public_id, amount=amount, fee=fee)
        change_record(
            action="order.captured",
            instance=order,
            before=before,
            data=order_data(order),
        )
    return capture


def _release_open_amount(order: Order, *, action: str, closed_status: str) -> int:
    """Void what is still open: the plan shrinks, overpayment goes back to the card. Locked order."""
    amount = order.open_amount
    reduction = plan_services.plan_reduce(plan=order.plan, amount=amount, action="plan.reduced")
    order.voided_amount += amount
    if order.captured_amount == 0:
        order.status = closed_status
    elif order.refunded_amount == order.captured_amount:
        order.status = Order.Status.REFUNDED
    else:
        order.status = Order.Status.CAPTURED
    order.save()
    key = f"{action}:{order.voided_amount}"
    accounting.post_void(order, key=key, amount=amount)
    _return_to_card(order, key=key, amount=reduction.excess_amount)
    disputes_order_changed(order)  # the plan shrank: an open dispute holds its share of it as it now is
    return amount


def order_void(*, order: Order) -> Order:
    """Release the uncaptured remainder (all of it if nothing was captured)."""
    with transaction.atomic():
        order = _lock_order(order)
        _require_open_authorization(order)
        if order.open_amount == 0:
            raise StateError("Nothing is left to void on this order.", code="nothing_to_void")
        before = order_data(order)
        _release_open_amount(order, action="void", closed_status=Order.Status.VOIDED)
        change_record(
            action="order.voided",
            instance=order,
            before=before,
            data=order_data(order),
        )
    return order


def order_refund(*, order: Order, amount: int, reason: str = "") -> Refund:
    """Refund part or all of what was captured. The plan shrinks by its product's refund policy;
    what the consumer already paid beyond what they now owe goes back to their card."""
    if amount <= 0:
        raise InvalidRequestError("Refund a positive amount.", param="amount")
    with transaction.atomic():
        order = _lock_order(order)
        if amount > order.refundable_amount:
            raise StateError(
                f"Only {order.refundable_amount} of this order can be refunded.",
                code="amount_exceeds_captured",
                param="amount",
            )
        before = order_data(order)
        fee_back = _fee_back(order, amount)
        reduction = plan_services.plan_reduce(plan=order.plan, amount=amount, action="plan.reduced")
        refund = Refund.objects.create(
            merchant=order.merchant,
            livemode=order.livemode,
            order=order,
            amount=amount,
            merchant_fee_refunded_amount=fee_back,
            applied_to_plan_amount=reduction.applied_amount,
            returned_to_card_amount=reduction.excess_amount,
            reason=reason,
        )
        order.refunded_amount += amount
        order.merchant_fee_amount -= fee_back
        if order.refunded_amount == order.captured_amount and order.open_amount == 0:
            order.status = Order.Status.REFUNDED
        order.save()
        accounting.post_refund(order, refund_id=refund.public_id, amount=amount, fee_back=fee_back)
        _return_to_card(order, key=f"refund:{refund.public_id}", amount=reduction.excess_amount)
        disputes_order_changed(order)
        change_record(
            action="order.refunded",
            instance=order,
            before=before,
            data={**order_data(order), "refund": refund_data(refund)},
        )
    return refund


def _return_to_card(order: Order, *, key: str, amount: int) -> None:
    """Send ``amount`` back to the cards the plan was paid with, newest payment first and never more
    than a payment has left to give back: posted now, sent to the gateway after commit. What the
    cards did not pay (the consumer's balance did) goes back to that balance."""
    if amount <= 0:
        return
    payments = order.plan.charges.select_for_update().filter(kind=Charge.Kind.PAYMENT, status=Charge.Status.SUCCEEDED)
    refunds = []
    left = amount
    for payment in payments.order_by("-id"):
        part = min(left, payment.refundable_amount)
        if part <= 0:
            continue
        refunds.append(
            Charge.objects.create(
                consumer=order.consumer,
                payment_method=payment.payment_method,
                plan=order.plan,
                kind=Charge.Kind.REFUND,
                refunded_charge=payment,
                amount=part,
                currency=order.currency,
                livemode=order.livemode,
                status=Charge.Status.PENDING,
                idempotency_key=f"{order.public_id}:{key}:return:{payment.public_id}",
            )
        )
        left -= part
        if left == 0:
            break
    to_balances = balances.return_to_balances(order, amount=left) if left else 0  # what balances paid
    if left - to_balances:
        raise StateError("More would go back to the card than was paid.", code="return_exceeds_payments")
    accounting.post_return_to_card(order, key=key, amount=amount - to_balances)
    accounting.post_return_to_balance(order, key=key, amount=to_balances)
    for refund_charge in refunds:
        transaction.on_commit(lambda charge=refund_charge: balances.refund_send(charge))  # type: ignore[misc]


def orders_expire(*, merchant: Merchant | None = None, livemode: bool | None = None) -> tuple[int, int]:
    """Warn about authorizations that end within the warning window and expire those that ended;
    returns (warned, expired). All merchants from the periodic task; one merchant's (and mode's)
    before any read of its orders, so an order's status and open amount agree at every moment with
    what a capture would do (a capture after the end is refused ``order_expired`` and writes
    nothing), not only after the next run. When nothing is due this is one indexed query."""
    now = clock.now()
    open_orders = Order.objects.filter(status__in=OPEN_STATUSES)
    if merchant is not None:
        open_orders = open_orders.filter(merchant=merchant)
    if livemode is not None:
        open_orders = open_orders.filter(livemode=livemode)
    due = open_orders.filter(
        Q(
            expiry_warning_sent_at__isnull=True,
            authorization_expires_at__lte=now + settings.AUTHORIZATION_EXPIRY_WARNING,
        )
        | Q(authorization_expires_at__lte=now)
    ).values_list("pk", "authorization_expires_at")
    warned = expired = 0
    for order_id, expires_at in list(due):
        if expires_at <= now:
            expired += _order_expire(order_id)
        else:
            warned += _order_warn_expiring(order_id, now)
    return warned, expired


def order_expire_if_due(*, order: Order) -> Order:
    """The order as it stands now: expired first if its authorization has ended (the read path)."""
    if order.status in OPEN_STATUSES and clock.now() >= order.authorization_expires_at:
        _order_expire(order.pk)
        order.refresh_from_db()
    return order


def _order_warn_expiring(order_id: int, now: dt.datetime) -> int:
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.expiry_warning_sent_at is not None or order.status not in OPEN_STATUSES:
            return 0
        order.expiry_warning_sent_at = now
        order.save(update_fields=["expiry_warning_sent_at"])
        change_record(action="order.authorization_expiring", instance=order, data=order_data(order))
    return 1


def _order_expire(order_id: int) -> int:
    """Release what is open on an order whose authorization ended; 0 when another process did."""
    with transaction.atomic():
        order = _lock_order(Order(pk=order_id))
        if order.status not in OPEN_STATUSES or clock.now() < order.authorization_expires_at:
            return 0
        before = order_data(order)
        _release_open_amount(order, action="expiry", closed_status=Order.Status.EXPIRED)
        change_record(action="order.expired", instance=order, before=before, data=order_data(order))
    return 1
