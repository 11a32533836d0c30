"""What an open return or dispute holds of its order's plan, and the rule that closes it when the
order changes: the part both the disputes (``bnpl.checkout.disputes``) and the order's refunds and
voids (``bnpl.checkout.orders``) need, so neither imports the other's module for it.

An open one holds its share: the installments a refund of the amount still in question would take
away (the last ones, working backwards). When the order changes -- a refund or a void shrank the
plan -- a dispute whose amount has now been refunded closes as ``refunded``; one still open holds
its share of the plan as it now is. Closing moves the held installments on by the days the dispute
lasted (not when the consumer withdrew it). Every function here runs inside the caller's
transaction with the order and the plan locked (``bnpl.servicing.locks``).
"""

from __future__ import annotations

import datetime as dt

from bnpl.checkout.models import Dispute, Order
from bnpl.checkout.representations import dispute_data
from bnpl.core import clock
from bnpl.core.services import change_record
from bnpl.plans.models import Installment, Plan
from bnpl.plans.representations import plan_data
from bnpl.servicing.locks import plan_lock


def refunded_since_open(dispute: Dispute, order: Order) -> int:
    return order.refunded_amount - dispute.refunded_at_open


def held_installments(plan: Plan) -> list[Installment]:
    """The plan's installments an open return or dispute holds, in due-date order."""
    return list(
        plan.installments.filter(status=Installment.Status.SCHEDULED, held_since__isnull=False).order_by(
            "due_date", "sequence"
        )
    )


def disputes_order_changed(order: Order) -> None:
    """Called by ``order_refund`` and voids inside their transaction (the order locked), after the
    plan shrank: an open dispute whose amount has now been refunded closes as ``refunded``; one
    still open holds the share of what is still in question, on the plan as it now is."""
    for dispute in order.disputes.filter(status__in=Dispute.OPEN_STATUSES):
        plan = plan_lock(order_id=order.pk)
        if refunded_since_open(dispute, order) >= dispute.amount:
            dispute_close(dispute, plan, Dispute.Status.REFUNDED)
        else:
            dispute_share_hold(plan, dispute, order)


def dispute_close(dispute: Dispute, plan: Plan, status: str) -> Dispute:
    before = dispute_data(dispute)
    dispute.status, dispute.closed_at = status, clock.now()
    dispute.save(update_fields=["status", "closed_at", "decision_note", "updated_at"])
    change_record(action="dispute.closed", instance=dispute, before=before, data=dispute_data(dispute))
    _release(plan, dispute, held_installments(plan), moves_due_dates=status != Dispute.Status.WITHDRAWN)
    return dispute


def _share_in_question(plan: Plan, amount: int) -> list[Installment]:
    """The installments a refund of ``amount`` would take away: the last unpaid purchase
    installments (late fees are never part of it), working backwards until their unpaid amounts
    cover ``amount``. Whole installments: the consumer is never asked for more than what is not in
    question."""
    if amount <= 0:
        return []
    unpaid = plan.installments.select_for_update().filter(status=Installment.Status.SCHEDULED, fee_for__isnull=True)
    share, covered = [], 0
    for installment in unpaid.order_by("-due_date", "-sequence"):
        if covered >= amount:
            break
        share.append(installment)
        covered += installment.remaining_amount
    return share


def dispute_share_hold(plan: Plan, dispute: Dispute, order: Order) -> None:
    """Hold the plan's share of what ``dispute`` still questions (the plan locked by the caller).
    Installments it no longer covers (a refund took part of it) are released as on a resolution."""
    _forget_settled_holds(plan)
    still_in_question = dispute.amount - refunded_since_open(dispute, order)
    share = _share_in_question(plan, still_in_question) if plan.status == Plan.Status.ACTIVE else []
    keep = {installment.pk for installment in share}
    released = [installment for installment in held_installments(plan) if installment.pk not in keep]
    newly_held = [installment for installment in share if installment.held_since is None]
    if not released and not newly_held:
        return
    before = plan_data(plan)
    _move_out_of_hold(dispute, released, moves_due_dates=True)
    Installment.objects.filter(pk__in=[installment.pk for installment in newly_held]).update(
        held_since=dispute.created_at.date(), updated_at=clock.now()
    )
    change_record(action="plan.held", instance=plan, before=before, data=plan_data(plan))


def _release(plan: Plan, dispute: Dispute, held: list[Installment], *, moves_due_dates: bool) -> None:
    _forget_settled_holds(plan)
    if not held:
        return
    before = plan_data(plan)
    _move_out_of_hold(dispute, held, moves_due_dates=moves_due_dates)
    change_record(action="plan.released", instance=plan, before=before, data=plan_data(plan))


def _move_out_of_hold(dispute: Dispute, installments: list[Installment], *, moves_due_dates: bool) -> None:
    """End the hold on ``installments``. ``moves_due_dates`` (a resolution, not the consumer's
    withdrawal): those due on or after the day the dispute opened move on by the days it lasted.
    Otherwise they keep their dates, and what is already due is collected today."""
    today = clock.today()
    since = dispute.created_at.date()
    shift = dt.timedelta(days=(today - since).days) if moves_due_dates else dt.timedelta(0)
    for installment in installments:
        if shift and installment.due_date >= since:
            installment.due_date += shift
            if installment.collect_on is not None:
                installment.collect_on = installment.due_date
        elif installment.collect_on is not None and installment.collect_on < today:
            installment.collect_on = today
        installment.held_since = None
        installment.save(update_fields=["due_date", "collect_on", "held_since", "updated_at"])


def _forget_settled_holds(plan: Plan) -> None:
    """Held installments that were paid, or cancelled by a refund, hold nothing any more."""
    plan.installments.exclude(status=Installment.Status.SCHEDULED).filter(held_since__isnull=False).update(
        held_since=None, updated_at=clock.now()
    )
