"""Reads about a plan being serviced: what pays it off today."""

from __future__ import annotations

from bnpl.core import clock
from bnpl.core.money import interest_for_days
from bnpl.plans.models import Installment, Plan
from bnpl.plans.services import unpaid_principal_and_fees


def plan_payoff_amount(*, plan: Plan) -> int:
    """What pays the plan off today: every unpaid installment and fee, with interest only as
    earned -- simple daily interest on the principal still owed since the last due date passed (or
    the purchase), never the interest of months not yet lived."""
    scheduled = list(plan.installments.filter(status=Installment.Status.SCHEDULED))
    if plan.apr_bps == 0:
        return sum(installment.remaining_amount for installment in scheduled)
    return sum(unpaid_principal_and_fees(installment) for installment in scheduled) + earned_interest(
        plan=plan, scheduled=scheduled
    )


def earned_interest(*, plan: Plan, scheduled: list[Installment]) -> int:
    """The interest earned to date and not yet paid: unpaid interest of installments already due,
    plus simple interest on the purchase principal still owed since the last due date passed."""
    today = clock.today()
    principal = sum(unpaid_principal_and_fees(row) for row in scheduled if not row.fee_amount)
    passed = plan.installments.filter(due_date__lte=today).order_by("-due_date").values_list("due_date", flat=True)
    since = passed.first() or plan.created_at.date()
    unpaid_interest_due = sum(
        max(0, row.interest_amount - min(row.paid_amount, row.interest_amount))
        for row in scheduled
        if row.due_date <= today
    )
    return unpaid_interest_due + interest_for_days(principal, plan.apr_bps, (today - since).days)
