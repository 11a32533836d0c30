"""Servicing writes: payments applied to a plan, by whoever took them.

**Applying a payment** (``charge_apply_to_plan``) is the one way money taken from a card reaches a
plan: under the order's and the plan's locks (in that order, ``bnpl.servicing.locks``) and the
charge's own, once (guarded by the charge's ``applied_at``), spread over the earliest unpaid
installments, posted, audited and evented. What no longer fits (the plan shrank while the card was
being charged, or it was charged off meanwhile) is returned for the caller to give back after the
transaction, so money is never kept without reducing what the consumer owes.

**Pay now, pay early, pay off** prepare their charge under the plan's lock (``bnpl.servicing.
charges``), charge the card outside any transaction, then apply. Collections run the same
application for the installments they charge (``bnpl.collections.services``), and the checkout
for its first payment.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from bnpl.checkout.models import Order
from bnpl.core import clock
from bnpl.core.errors import ConflictError, InvalidRequestError, PaymentDeclinedError, StateError
from bnpl.core.services import change_record
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.services import charge_execute
from bnpl.plans import services as plan_services
from bnpl.plans.models import Installment, Plan
from bnpl.plans.representations import plan_data
from bnpl.servicing import accounting, balances
from bnpl.servicing.charges import early_payment_charge_prepare, installment_charge_prepare, plan_card_required
from bnpl.servicing.locks import order_lock, plan_lock
from bnpl.servicing.selectors import earned_interest, plan_payoff_amount


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


def plan_pay_early(*, plan: Plan, amount: int | None = None, payment_method: PaymentMethod | None = None) -> Charge:
    """The consumer pays ahead: ``amount`` applied to the next installments (interest-free plans), or
    everything (``amount`` None: pay off; financing then owes only the interest earned to date).

    A partial early payment on a financing plan is refused: paid into future installments it would
    pay interest not yet earned; the consumer pays the next installment or pays off instead.
    """
    with transaction.atomic():
        plan = plan_lock(plan_id=plan.pk)
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
        card = plan_card_required(plan=plan, payment_method=payment_method)
        charge = early_payment_charge_prepare(plan=plan, amount=owed if amount is None else amount, payment_method=card)
    paying_off = amount is None or amount == owed
    charge = charge_execute(charge=charge, off_session=False)
    if charge.status != Charge.Status.SUCCEEDED:
        raise PaymentDeclinedError(
            charge.failure_message or "The card was declined.", code=charge.failure_code or "card_declined"
        )
    with transaction.atomic():
        order_lock(order_id=plan.order_id)
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


def charge_apply_to_plan(*, plan: Plan, charge: Charge, first: Installment | None = None) -> int:
    """Apply a succeeded payment to the plan's earliest unpaid installments, once (guarded by the
    charge's ``applied_at`` under its lock), posting it and emitting ``plan.payment_succeeded``.
    Returns what did not fit -- all of it on a plan charged off meanwhile -- for the caller to give
    back after the transaction. Call inside one."""
    order = order_lock(order_id=plan.order_id)
    locked_plan = plan_lock(plan_id=plan.pk)
    charge = Charge.objects.select_for_update().get(pk=charge.pk)
    if charge.applied_at is not None or charge.status != Charge.Status.SUCCEEDED:
        return 0
    if locked_plan.standing == Plan.Standing.CHARGED_OFF:  # written off: the books stay shut, it all goes back
        Charge.objects.filter(pk=charge.pk).update(plan=locked_plan, applied_at=clock.now())
        return charge.amount
    before = plan_data(locked_plan)
    excess = payment_apply(order=order, plan=locked_plan, charge=charge, first=first)
    change_record(action="plan.payment_succeeded", instance=locked_plan, before=before, data=plan_data(locked_plan))
    return excess


def payment_apply(*, order: Order, plan: Plan, charge: Charge, first: Installment | None = None) -> int:
    """Spread a successful charge over the plan's unpaid installments -- ``first`` (the one it was
    taken for) and then the earliest due -- and post what was applied. Returns what did not fit
    (the plan shrank while the payment was in flight). The order and plan are locked by the caller
    (``charge_apply_to_plan``, or the checkout writing a new plan)."""
    Charge.objects.filter(pk=charge.pk).update(plan=plan, applied_at=clock.now())
    principal, interest, left = plan_services.installments_record_payment(
        plan, charge.amount, plan.installments.filter(status=Installment.Status.SCHEDULED), first=first
    )
    accounting.post_payment(order, charge_id=charge.public_id, principal=principal, interest=interest)
    return left


def _forgive_unearned_interest(plan: Plan) -> None:
    """Before a payoff is applied: the interest still scheduled becomes the interest earned to date
    (on the earliest unpaid installment); the rest, never earned, is dropped."""
    locked = plan_lock(plan_id=plan.pk)
    scheduled = list(
        locked.installments.select_for_update()
        .filter(status=Installment.Status.SCHEDULED, fee_for__isnull=True)
        .order_by("due_date", "sequence")
    )
    earned = earned_interest(plan=locked, scheduled=scheduled)
    for index, row in enumerate(scheduled):
        interest_paid = min(row.paid_amount, row.interest_amount)
        row.interest_amount = interest_paid + (earned if index == 0 else 0)
        row.amount = row.principal_amount + row.interest_amount + row.fee_amount
        row.save(update_fields=["interest_amount", "amount", "updated_at"])


def _pay_now_charge(*, plan: Plan, payment_method: PaymentMethod | None) -> Charge:
    with transaction.atomic():
        plan = plan_lock(plan_id=plan.pk)
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
        card = plan_card_required(plan=plan, payment_method=payment_method)
        return installment_charge_prepare(plan=plan, installment=installment, payment_method=card)
