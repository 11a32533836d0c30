"""Servicing writes: payments applied to a plan, by whoever took them.

**Applying a payment** (``charge_apply_to_plan``, or ``charges_apply_to_plans`` for a batch: the
same code) is the one way money taken from a card reaches a plan: under the order's and the plan's
locks (in that order, ``bnpl.servicing.locks``) and the charge's own, once (guarded by the charge's
``applied_at``), spread over the earliest unpaid installments, posted, audited and evented. What no
longer fits (the plan shrank while the card was being charged, or it was charged off meanwhile) is
returned for the caller to give back after the transaction, so money is never kept without reducing
what the consumer owes.

**Pay now, pay early, pay off** prepare their charge under the plan's lock (``bnpl.servicing.
charges``), charge the card outside any transaction, then apply. Collections run the same
application for the installments they charge (``bnpl.collections.services``), and the checkout
for its first payment.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce

from bnpl.checkout.models import Order
from bnpl.core import clock
from bnpl.core.compiled import CompiledSelectByIds
from bnpl.core.errors import ConflictError, InvalidRequestError, PaymentDeclinedError, StateError
from bnpl.core.services import Change, change_record_many
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.services import charge_execute
from bnpl.plans import services as plan_services
from bnpl.plans.models import Installment, Plan
from bnpl.plans.representations import plan_data_writer
from bnpl.servicing import accounting, balances
from bnpl.servicing.bulk import ids_update, rows_update
from bnpl.servicing.charges import early_payment_charge_prepare, installment_charge_prepare, plan_card_required
from bnpl.servicing.locks import order_lock, orders_lock_many, plan_lock, plans_lock_many
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
    back after the transaction. Call inside one. (``charges_apply_to_plans`` with one payment.)"""
    applied = charges_apply_to_plans(payments=[PaymentToApply(plan_id=plan.pk, charge=charge, first=first)])
    return applied[charge.pk].excess


@dataclass(frozen=True)
class PaymentToApply:
    plan_id: int  # the plan's id: it is locked and read with its order by charges_apply_to_plans
    charge: Charge  # a payment taken for the plan
    first: Installment | None = None  # the installment it was taken for, paid first


@dataclass(frozen=True)
class AppliedPayment:
    excess: int  # minor units that did not fit (all of it on a plan charged off): give back after commit
    plan_standing: str  # the plan's standing, read under its lock


def charges_apply_to_plans(*, payments: Sequence[PaymentToApply]) -> dict[int, AppliedPayment]:
    """``charge_apply_to_plan`` for a batch of payments (collections settling a batch), by charge id,
    with the same guarantees and a fixed number of queries whatever the batch's size (and one more
    per installment a payment leaves part-paid: at most one per payment, seldom any).

    Locks as every writer takes them (``bnpl.servicing.locks``): all the orders, then all the
    plans, each set in id order (two batches, or a batch and a one-order writer, never wait on each
    other in opposite orders), then the charges and the plans' installments. Each payment is then
    applied in memory in the order given -- once (``applied_at``), spread as
    ``installments_spread_payment`` does, several payments on one plan one after another -- and all is
    written together: installments, charges and plans by bulk updates, the ledger entries by
    ``ledger_post_many``, an audit row and a ``plan.payment_succeeded`` event per payment by
    ``change_record_many``. Call inside one transaction."""
    plan_ids = sorted({payment.plan_id for payment in payments})
    locked_orders = orders_lock_many(plan_ids=plan_ids)
    locked_plans = plans_lock_many(plan_ids=plan_ids, orders=locked_orders)
    locked_charges = {charge.pk: charge for charge in _charges_by_ids.rows([payment.charge.pk for payment in payments])}
    rows: dict[int, list[Installment]] = defaultdict(list)
    for row in _installments_by_plan_ids.rows(plan_ids):
        rows[row.plan_id].append(row)

    now = clock.now()
    results: dict[int, AppliedPayment] = {}
    applied: list[Charge] = []
    moved: list[int] = []  # charges not yet on the plan they are applied to
    changed_rows: dict[int, Installment] = {}
    changed_plans: dict[int, Plan] = {}
    postings: list[accounting.CardPayment] = []
    changes: list[Change] = []
    recorded: dict[int, dict[str, Any]] = {}  # each plan's data as last recorded: the next payment's "before"
    write_plan_data = plan_data_writer()
    for payment in payments:
        charge, plan = locked_charges[payment.charge.pk], locked_plans[payment.plan_id]
        order = locked_orders[plan.order_id]
        if charge.applied_at is not None or charge.status != Charge.Status.SUCCEEDED:
            results.setdefault(charge.pk, AppliedPayment(excess=0, plan_standing=plan.standing))
            continue
        if charge.plan_id != plan.pk:
            moved.append(charge.pk)
        charge.plan, charge.applied_at = plan, now
        applied.append(charge)
        if plan.standing == Plan.Standing.CHARGED_OFF:  # written off: the books stay shut, it all goes back
            results[charge.pk] = AppliedPayment(excess=charge.amount, plan_standing=plan.standing)
            continue
        before = recorded.get(plan.pk) or write_plan_data(plan, rows[plan.pk])
        principal, interest, left, changed = plan_services.installments_spread_payment(
            rows[plan.pk], charge.amount, first=payment.first
        )
        changed_rows.update((row.pk, row) for row in changed)
        status = plan_services.plan_status_when_settled(plan, rows[plan.pk], order=order)
        if status != plan.status:
            plan.status = status
            changed_plans[plan.pk] = plan
        postings.append(
            accounting.CardPayment(order=order, charge_id=charge.public_id, principal=principal, interest=interest)
        )
        recorded[plan.pk] = write_plan_data(plan, rows[plan.pk], changed=changed)
        changes.append(
            Change(
                action="plan.payment_succeeded",
                instance=plan,
                merchant=order.merchant,
                before=before,
                data=recorded[plan.pk],
            )
        )
        results[charge.pk] = AppliedPayment(excess=left, plan_standing=plan.standing)

    ids_update(Charge, [charge.pk for charge in applied], {"applied_at": now})
    for charge_id in moved:  # none from collections or pay-now, whose charges are prepared on the plan
        Charge.objects.filter(pk=charge_id).update(plan=locked_charges[charge_id].plan)
    _installments_save(list(changed_rows.values()), now)
    for plan in changed_plans.values():
        plan.updated_at = now
    rows_update(Plan, list(changed_plans.values()), ["status", "updated_at"])
    accounting.post_card_payments(postings)
    change_record_many(changes=changes)
    return results


# The batch's charges and its plans' installments, locked in one statement each compiled once per process.
_charges_by_ids: CompiledSelectByIds[Charge] = CompiledSelectByIds(
    lambda match: Charge.objects.select_for_update().filter(match).order_by("pk")
)
_installments_by_plan_ids: CompiledSelectByIds[Installment] = CompiledSelectByIds(
    lambda match: Installment.objects.select_for_update().filter(match).order_by("plan_id", "sequence"),
    field="plan_id",
)


# Installments paid in full (their paid amount their amount, paid now unless paid before), by id:
# the ORM's update with F and Coalesce, its text written once (PostgreSQL).
_PAID_IN_FULL = (
    f"UPDATE {Installment._meta.db_table} SET paid_amount = amount, status = %s, "  # noqa: S608  # nosec B608  # our own table
    "paid_at = COALESCE(paid_at, %s), updated_at = %s WHERE id = ANY(%s)"
)


def _moment(now: dt.datetime) -> Any:
    return Installment._meta.get_field("paid_at").get_db_prep_save(now, connection=connection)


def _installments_save(rows: list[Installment], now: dt.datetime) -> None:
    """Installments a batch of payments changed: those now paid in full with one update (their paid
    amount is their amount), the few left part-paid (at most one per payment) with one per value."""
    for row in rows:
        row.updated_at = now
    paid_in_full = [row.pk for row in rows if row.paid_amount == row.amount]
    if paid_in_full and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_PAID_IN_FULL, [Installment.Status.PAID.value, *[_moment(now)] * 2, paid_in_full])
    elif paid_in_full:
        Installment.objects.filter(pk__in=paid_in_full).update(
            paid_amount=F("amount"),
            status=Installment.Status.PAID,
            paid_at=Coalesce("paid_at", Value(now)),
            updated_at=now,
        )
    part_paid = [row for row in rows if row.paid_amount != row.amount]
    rows_update(Installment, part_paid, ["paid_amount", "status", "paid_at", "updated_at"])


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
    now = clock.now()
    for index, row in enumerate(scheduled):
        interest_paid = min(row.paid_amount, row.interest_amount)
        row.interest_amount = interest_paid + (earned if index == 0 else 0)
        row.amount = row.principal_amount + row.interest_amount + row.fee_amount
        row.updated_at = now
    Installment.objects.bulk_update(scheduled, ["interest_amount", "amount", "updated_at"])  # one query


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
