"""Security review, issue 13 item 7: unlimited payment deferral through disputes.

The attack: open a 1-cent dispute (it paused the whole plan), wait, withdraw it (closing it moved
every due date on by the days it was open), and again. Five cycles moved a plan's due dates 65
days with no late fee. Now a withdrawn dispute moves nothing and gives no extra time, an order
takes a limited number of disputes, and a dispute holds only its share of the plan."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from bnpl.checkout import dispute_holds, disputes
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Dispute, Order
from bnpl.collections.models import CollectionAttempt
from bnpl.collections.services import collections_daily_work
from bnpl.core import clock
from bnpl.core.errors import StateError
from bnpl.core.services import clock_advance
from bnpl.plans.models import Installment, Plan
from tests.bnpl.checkout.factories import make_authorized_order
from tests.helpers import row_counts
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def _order(tenant: Tenant, amount: int = 40_000) -> Order:
    """A $400 pay-in-4 order: $100 paid at purchase, then $100 on days 14, 28 and 42."""
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=amount)
    checkout_orders.order_capture(order=order, amount=amount)
    order.refresh_from_db()
    return order


def _due_dates(order: Order) -> dict[int, dt.date]:
    plan = Plan.objects.get(order=order)
    return dict(plan.installments.filter(fee_for__isnull=True).values_list("sequence", "due_date"))


def _live(days: int) -> None:
    """Let ``days`` pass a day at a time, running each day's collections work (as beat does)."""
    for _ in range(days):
        clock_advance(by=dt.timedelta(days=1))
        collections_daily_work()


def _open_one_cent(order: Order) -> Dispute:
    return disputes.dispute_open(
        order=order, consumer=order.consumer, kind=Dispute.Kind.DISPUTE, reason="other", amount=1
    )


@override_settings(DISPUTE_MAX_PER_ORDER=3)
def test_five_one_cent_dispute_cycles_move_no_due_date_and_defer_no_payment(tenant: Tenant) -> None:
    order = _order(tenant)
    agreed = _due_dates(order)
    start = clock.today()
    refused = []

    for _cycle in range(5):
        try:
            dispute = _open_one_cent(order)
        except StateError as error:
            refused.append((error.code, error.param))
            _live(13)
            continue
        _live(13)
        disputes.dispute_withdraw(dispute=dispute, consumer=order.consumer)

    assert _due_dates(order) == agreed  # not a day moved
    assert refused == [("dispute_limit_reached", "order")] * 2  # the fourth and fifth were refused
    plan = Plan.objects.get(order=order)
    assert plan.status == Plan.Status.PAID  # everything was collected within the 65 days
    collected_on = {
        attempt.installment.sequence: attempt.created_at.date()
        for attempt in CollectionAttempt.objects.filter(status="succeeded").select_related("installment")
    }
    assert {sequence: (day - start).days for sequence, day in collected_on.items()} == {2: 14, 3: 28, 4: 42}
    assert not plan.installments.exclude(fee_for=None).exists()  # paid on time: no fee either


def test_a_one_cent_dispute_holds_one_payment_not_the_plan(tenant: Tenant) -> None:
    order = _order(tenant)
    _open_one_cent(order)
    plan = Plan.objects.get(order=order)

    assert not plan.collections_paused
    assert [row.sequence for row in dispute_holds.held_installments(plan)] == [4]
    _live(14)  # installment 2 falls due while the dispute is open
    assert plan.installments.get(sequence=2).status == Installment.Status.PAID


def test_withdrawing_gives_no_extra_time_late_fees_count_from_the_original_date(tenant: Tenant) -> None:
    order = _order(tenant)
    agreed = _due_dates(order)
    dispute = disputes.dispute_open(order=order, consumer=order.consumer, kind=Dispute.Kind.DISPUTE, reason="other")
    _live(30)  # installment 2 (day 14) is held past its 10 days of grace: no fee while held
    plan = Plan.objects.get(order=order)
    assert not plan.installments.exclude(fee_for=None).exists()

    disputes.dispute_withdraw(dispute=dispute, consumer=order.consumer)
    collections_daily_work()

    assert _due_dates(order) == agreed
    fees = list(plan.installments.exclude(fee_for=None).values_list("fee_for__sequence", "amount"))
    assert fees == [(2, 1_000)]  # 2 is 16 days past its date, beyond the grace; 3 is 2 days past, within it
    plan.refresh_from_db()
    assert plan.standing == Plan.Standing.LATE  # assessed from the original dates, as if never disputed
    assert set(plan.installments.filter(status="paid").values_list("sequence", flat=True)) == {1, 2, 3, 5}


def test_an_order_takes_a_limited_number_of_disputes(tenant: Tenant) -> None:
    order = _order(tenant)
    for _ in range(3):  # DISPUTE_MAX_PER_ORDER's default
        disputes.dispute_withdraw(dispute=_open_one_cent(order), consumer=order.consumer)
    before = row_counts()

    with pytest.raises(StateError) as refused:
        _open_one_cent(order)

    assert (refused.value.code, refused.value.param) == ("dispute_limit_reached", "order")
    assert row_counts() == before
