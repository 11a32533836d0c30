"""Periodic work of the checkout and of servicing what it sold (beat runs these by name)."""

from celery import shared_task

from bnpl.checkout import confirmation, disputes, orders, sessions
from bnpl.servicing import balances
from bnpl.servicing import services as servicing


@shared_task(name="bnpl.checkout.tasks.checkout_sessions_expire")
def checkout_sessions_expire() -> int:
    return sessions.checkout_sessions_expire()


@shared_task(name="bnpl.checkout.tasks.orders_expire")
def orders_expire() -> tuple[int, int]:
    return orders.orders_expire()


@shared_task(name="bnpl.checkout.tasks.plan_payments_apply_settled")
def plan_payments_apply_settled() -> int:
    return servicing.plan_payments_apply_settled()


@shared_task(name="bnpl.checkout.tasks.disputes_escalate_unanswered")
def disputes_escalate_unanswered() -> int:
    return disputes.disputes_escalate_unanswered()


@shared_task(name="bnpl.checkout.tasks.balances_settle")
def balances_settle() -> int:
    return balances.balances_settle()


@shared_task(name="bnpl.checkout.tasks.first_payments_orphaned_give_back")
def first_payments_orphaned_give_back() -> int:
    return confirmation.first_payments_orphaned_give_back()
