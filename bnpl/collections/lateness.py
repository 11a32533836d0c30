"""Late fees and delinquency, assessed daily (and whenever the sandbox clock moves).

* **Standing** from the oldest unpaid installment's days past due: ``current``; ``late`` from the day
  after a due date; ``delinquent`` at ``COLLECTION_DELINQUENT_AFTER_DAYS`` (30); ``charged_off`` at
  ``COLLECTION_CHARGE_OFF_AFTER_DAYS`` (120): what is still owed (principal and fees) is written off as a
  credit loss and collections stops. Paying up brings the plan back to ``current``.
* **Held installments** (an open return or dispute holds its share of the plan): no late fee, and
  their lateness is frozen as it was when the hold began.
* **Late fee**: once per installment still unpaid ``late_fee_grace_days`` after its due date, the
  product's ``late_fee_amount``, never taking the plan's late fees past the cap: the smaller of
  ``late_fee_cap_bps`` of the order and ``late_fee_cap_amount`` (when set). The fee is an installment of
  its own, collected like any other, and is never reduced by a refund.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Sum

from bnpl.checkout.models import Order
from bnpl.core import clock
from bnpl.core.money import basis_points_at_most
from bnpl.core.services import change_record
from bnpl.plans.models import Installment, Plan
from bnpl.plans.representations import plan_data
from bnpl.plans.services import unpaid_principal_and_fees
from bnpl.servicing import accounting
from bnpl.servicing.locks import order_and_plan_lock


def late_fee_cap(*, order_amount: int, cap_bps: int, cap_amount: int) -> int:
    """The most a plan's late fees may ever add up to."""
    by_share = basis_points_at_most(order_amount, cap_bps)
    return min(by_share, cap_amount) if cap_amount > 0 else by_share


def late_fee(*, fee: int, cap: int, charged_so_far: int) -> int:
    """The fee to charge now: the product's fee, cut to what the cap leaves (never negative)."""
    return max(0, min(fee, cap - charged_so_far))


STANDING_SEVERITY: list[str] = [
    Plan.Standing.CURRENT,
    Plan.Standing.LATE,
    Plan.Standing.DELINQUENT,
    Plan.Standing.CHARGED_OFF,
]


def standing_for(days_past_due: int) -> str:
    if days_past_due >= settings.COLLECTION_CHARGE_OFF_AFTER_DAYS:
        return Plan.Standing.CHARGED_OFF
    if days_past_due >= settings.COLLECTION_DELINQUENT_AFTER_DAYS:
        return Plan.Standing.DELINQUENT
    return Plan.Standing.LATE if days_past_due > 0 else Plan.Standing.CURRENT


@dataclass
class AssessResult:
    plans: int = 0
    fees: int = 0
    fee_amount: int = 0
    standing_changes: int = 0
    charged_off: int = 0


def plans_assess_lateness() -> AssessResult:
    """Assess every active plan that is behind or was (idempotent: a second run the same day
    changes nothing).

    Most days most of those plans stay as they are (a late plan stays late, its fees already
    charged). So every candidate is first judged on an unlocked read, a few statements per
    thousand plans, and only a plan whose standing moves or that owes a late fee is locked and
    assessed again under its locks, which decides. Skipping on the unlocked read is as safe as
    choosing the candidates on one: a plan that changes a moment after it is read is assessed on
    the next run, as if it had changed a moment after this one."""
    today = clock.today()
    result = AssessResult()
    candidates = _candidates(today)
    result.plans = len(candidates)
    for plan_id in _with_work(candidates, today):
        _assess(plan_id, today, result)
    return result


def _candidates(today: dt.date) -> list[int]:
    """Active plans behind (an installment still scheduled past its due date), and plans late or
    delinquent (catching up, or paid off), never a charged-off one; in key order.

    Two queries, not one with an OR: inside an OR, PostgreSQL cannot turn ``id IN (behind)`` into
    a join and probes a materialized list of every overdue installment once per plan. Charged-off
    plans keep their unpaid installments scheduled, so that list grows with the history: at a
    million plans (bench/scale.py) the one query ran for minutes; these two read the overdue
    installments once."""
    behind = (
        Installment.objects.filter(
            status=Installment.Status.SCHEDULED, due_date__lt=today, plan__status=Plan.Status.ACTIVE
        )
        .exclude(plan__standing=Plan.Standing.CHARGED_OFF)
        .order_by()
        .values_list("plan_id", flat=True)
        .distinct()
    )
    catching_up = Plan.objects.filter(standing__in=[Plan.Standing.LATE, Plan.Standing.DELINQUENT])
    return sorted(set(behind) | set(catching_up.values_list("pk", flat=True)))


@dataclass(frozen=True)
class _Scheduled:
    """A plan's installment still scheduled, as lateness reads it."""

    pk: int
    sequence: int
    due_date: dt.date
    held_since: dt.date | None
    may_owe_fee: bool  # a regular installment (not a fee) that has no late fee yet


def _scheduled(plan_ids: list[int]) -> dict[int, list[_Scheduled]]:
    """The scheduled installments of these plans, by plan: one query."""
    rows = (
        Installment.objects.filter(plan_id__in=plan_ids, status=Installment.Status.SCHEDULED)
        .order_by()
        .values_list("plan_id", "pk", "sequence", "due_date", "held_since", "fee_for_id", "late_fee__id")
    )
    found: dict[int, list[_Scheduled]] = {plan_id: [] for plan_id in plan_ids}
    for plan_id, pk, sequence, due_date, held_since, fee_for_id, late_fee_id in rows:
        found[plan_id].append(
            _Scheduled(pk, sequence, due_date, held_since, fee_for_id is None and late_fee_id is None)
        )
    return found


def _fees_charged(plan_ids: list[int]) -> dict[int, int]:
    """What these plans' late fees add up to so far (any status: a paid fee still counts towards
    the cap), by plan: one query."""
    totals = (
        Installment.objects.filter(plan_id__in=plan_ids)
        .exclude(fee_for=None)
        .order_by()
        .values("plan_id")
        .annotate(total=Sum("fee_amount"))
        .values_list("plan_id", "total")
    )
    return {plan_id: total or 0 for plan_id, total in totals}


def _outlook(plan: Plan, scheduled: list[_Scheduled], today: dt.date) -> tuple[str, list[_Scheduled]]:
    """The standing ``plan`` should have today, and its installments that owe a late fee today if
    the cap leaves room (oldest first). The oldest unpaid installment's days past due make the
    standing; one held by an open return or dispute counts as late as it was the day the hold
    began (a hold neither worsens nor improves it), and owes no fee."""
    worst = max([0, *(((row.held_since or today) - row.due_date).days for row in scheduled)])
    standing = standing_for(worst)
    if plan.collections_paused and STANDING_SEVERITY.index(standing) > STANDING_SEVERITY.index(plan.standing):
        standing = plan.standing  # a hardship pause never makes things worse
    product = plan.product
    if product.late_fee_amount <= 0 or plan.status != Plan.Status.ACTIVE or plan.collections_paused:
        return standing, []
    cutoff = today - dt.timedelta(days=product.late_fee_grace_days)
    overdue = [row for row in scheduled if row.may_owe_fee and row.held_since is None and row.due_date < cutoff]
    return standing, sorted(overdue, key=lambda row: (row.due_date, row.sequence))


def _fees(plan: Plan, *, order_amount: int, overdue: list[_Scheduled], charged: int) -> list[tuple[_Scheduled, int]]:
    """The late fees to charge now, each installment's with its amount, until the cap is reached."""
    product = plan.product
    cap = late_fee_cap(
        order_amount=order_amount, cap_bps=product.late_fee_cap_bps, cap_amount=product.late_fee_cap_amount
    )
    fees = []
    for installment in overdue:
        amount = late_fee(fee=product.late_fee_amount, cap=cap, charged_so_far=charged)
        if amount == 0:
            break
        fees.append((installment, amount))
        charged += amount
    return fees


_CHUNK = 1000


def _with_work(plan_ids: list[int], today: dt.date) -> Iterator[int]:
    """Those of ``plan_ids`` whose standing would change or that would be charged a late fee,
    judged on an unlocked read: per chunk of plans, the plans with their products and orders'
    amounts, their scheduled installments and, for those that may owe a fee, the fees so far."""
    for offset in range(0, len(plan_ids), _CHUNK):
        chunk = plan_ids[offset : offset + _CHUNK]
        plans = (
            Plan.objects.filter(pk__in=chunk)
            .select_related("product")
            .annotate(order_amount=F("order__authorized_amount"))
        )
        scheduled = _scheduled(chunk)
        outlooks = {
            plan.pk: (plan, *_outlook(plan, scheduled[plan.pk], today))
            for plan in plans.order_by("pk")
            if plan.standing != Plan.Standing.CHARGED_OFF
        }
        charged = _fees_charged([pk for pk, (_, _, overdue) in outlooks.items() if overdue])
        for pk, (plan, standing, overdue) in outlooks.items():
            owes = overdue and _fees(plan, order_amount=plan.order_amount, overdue=overdue, charged=charged.get(pk, 0))
            if standing != plan.standing or owes:
                yield pk


def _assess(plan_id: int, today: dt.date, result: AssessResult) -> None:
    with transaction.atomic():
        order, plan = order_and_plan_lock(plan_id=plan_id)
        if plan.standing == Plan.Standing.CHARGED_OFF:
            return
        standing, overdue = _outlook(plan, _scheduled([plan.pk])[plan.pk], today)
        changed = standing != plan.standing
        # The plan as it was, for the change's audit row: rendered only when its standing changes,
        # and before a late fee adds an installment to it.
        before = plan_data(plan) if changed else None
        if overdue:
            charged = _fees_charged([plan.pk]).get(plan.pk, 0)
            for installment, amount in _fees(
                plan, order_amount=order.authorized_amount, overdue=overdue, charged=charged
            ):
                _charge_late_fee(order, plan, installment, amount, today)
                result.fees += 1
                result.fee_amount += amount
        if changed:
            plan.standing = standing
            plan.save(update_fields=["standing", "updated_at"])
            result.standing_changes += 1
            if standing == Plan.Standing.CHARGED_OFF:
                _charge_off(order, plan)
                result.charged_off += 1
            change_record(action=f"plan.{standing}", instance=plan, before=before, data=plan_data(plan))


def _charge_late_fee(order: Order, plan: Plan, installment: _Scheduled, amount: int, today: dt.date) -> None:
    sequence = (plan.installments.aggregate(last=Max("sequence"))["last"] or 0) + 1
    fee = Installment.objects.create(
        plan=plan,
        sequence=sequence,
        due_date=today,
        amount=amount,
        principal_amount=0,
        interest_amount=0,
        fee_amount=amount,
        fee_for_id=installment.pk,
        collect_on=today,
    )
    accounting.post_late_fee(order, key=f"{plan.public_id}:{installment.sequence}", amount=amount)
    change_record(
        action="plan.late_fee_charged",
        instance=plan,
        data={
            "plan": plan.public_id,
            "installment": installment.sequence,
            "fee_installment": fee.sequence,
            "amount": amount,
        },
    )


def _charge_off(order: Order, plan: Plan) -> None:
    """Write off what is owed (unpaid principal and fees) and stop collecting."""
    owed = sum(
        unpaid_principal_and_fees(installment)
        for installment in plan.installments.filter(status=Installment.Status.SCHEDULED)
    )
    plan.installments.filter(status=Installment.Status.SCHEDULED).update(collect_on=None)
    accounting.post_charge_off(order, key=plan.public_id, amount=owed)
