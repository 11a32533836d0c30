"""Platform history to export: orders captured, refunded and settled, plans collected on time and
plans that fall behind, made through the real services with the project clock moved forward."""

from __future__ import annotations

import datetime as dt

from bnpl.checkout import disputes
from bnpl.checkout import orders as checkout_orders
from bnpl.collections import lateness
from bnpl.collections import services as collections
from bnpl.core import clock
from bnpl.core.services import clock_advance
from bnpl.payments.models import Charge
from bnpl.plans.models import Plan
from bnpl.servicing import balances
from merchants.models import Merchant
from merchants.settlements import settlements_run
from tests.bnpl.checkout.factories import make_authorized_order
from tests.consumers.factories import make_verified_consumer

REFUSES_REFUNDS = "4000 0000 0000 5126"
NEEDS_AUTHENTICATION = "4000 0025 0000 3155"  # paid at checkout (the shopper is there), every later charge fails


def make_history(
    *, merchant: Merchant, good: int = 4, bad: int = 2, email_tag: str = "", with_balance: bool = False
) -> list[Plan]:
    """``good`` pay-in-4 plans collected on their due dates and ``bad`` ones never paid after the
    first installment (charged off), 140 days of clock later; plus a capture, a refund, a dispute
    decided for the merchant and a settlement along the way; ``with_balance``, also a consumer's
    balance (an order voided whose card refund was refused: one more plan, canceled)."""
    plans = []
    for index in range(good + bad):
        consumer = make_verified_consumer(email=f"history{index}-{clock.now().timestamp():.0f}{email_tag}@example.com")
        order = make_authorized_order(
            merchant=merchant,
            livemode=False,
            amount=10_000 + index * 100,
            consumer=consumer,
            card=NEEDS_AUTHENTICATION if index >= good else "4242 4242 4242 4242",
        )
        checkout_orders.order_capture(order=order, amount=order.authorized_amount)
        plans.append(order.plan)
    checkout_orders.order_refund(order=plans[0].order, amount=1_000)
    dispute = disputes.dispute_open(
        order=plans[-1].order,
        consumer=plans[-1].consumer,
        kind="dispute",
        reason="not_received",
        description="Never came",
    )
    disputes.dispute_contest(dispute=dispute, evidence="Delivered and signed for")
    disputes.dispute_decide(dispute=dispute, for_consumer=False, note="Carrier proof")  # same day: nothing moves
    if with_balance:
        _balance_from_a_refused_refund(merchant, email_tag)
    settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))
    for _ in range(3):  # installments 2-4, each collected on its due date
        clock_advance(by=dt.timedelta(days=14))
        collections.collections_run()
        lateness.plans_assess_lateness()
    clock_advance(by=dt.timedelta(days=100))  # the unpaid ones are 120+ days past due
    lateness.plans_assess_lateness()
    return plans


def _balance_from_a_refused_refund(merchant: Merchant, email_tag: str) -> None:
    refused = make_authorized_order(  # voided: its first installment goes back to a card that refuses it
        merchant=merchant,
        livemode=False,
        consumer=make_verified_consumer(email=f"history-refused-{clock.now().timestamp():.0f}{email_tag}@example.com"),
        card=REFUSES_REFUNDS,
    )
    checkout_orders.order_void(order=refused)
    for charge in Charge.objects.filter(plan=refused.plan, kind=Charge.Kind.REFUND, status=Charge.Status.PENDING):
        balances.refund_send(charge)  # as after the void's commit: the consumer's balance
