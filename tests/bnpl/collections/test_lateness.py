"""Late fees within their cap, and a plan's way down: current -> late -> delinquent -> charged off,
each step posted to the ledger; paying up brings it back to current."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnpl.checkout.orders import order_capture
from bnpl.collections import lateness, services
from bnpl.core import clock
from bnpl.core.errors import StateError
from bnpl.core.models import AuditLogEntry, ClockState
from bnpl.core.services import clock_advance
from bnpl.ledger.models import AccountCode
from bnpl.ledger.selectors import account_balance
from bnpl.payments.services import payment_method_add
from bnpl.plans.models import Installment, Plan
from bnpl.servicing.services import plan_pay_next_installment
from tests.bnpl.checkout.factories import make_authorized_order
from tests.helpers import ledger_ok
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

INSUFFICIENT_FUNDS = "4000 0000 0000 9995"
NEEDS_AUTHENTICATION = "4000 0025 0000 3155"  # fails every off-session charge, never retried
# Plans late and staying late, however many (up to a chunk of a thousand): the candidates (two), then,
# read without locks, the plans with their products, their scheduled installments and the late fees
# charged so far (read only when an installment is past its grace period without a fee).
_STEADY_LATE_PLANS_QUERIES = 5


def _days(count: int) -> None:
    """Move the clock a day at a time, doing each day's work as the beat schedule would."""
    for _ in range(count):
        clock_advance(by=dt.timedelta(days=1))
        lateness.plans_assess_lateness()
        services.collections_run()


def _fees(plan: Plan) -> list[int]:
    return list(plan.installments.exclude(fee_for=None).order_by("sequence").values_list("fee_amount", flat=True))


# --- The cap, as pure functions and as a property over random histories ---------------------------


def test_the_cap_is_the_smaller_of_the_share_and_the_fixed_amount() -> None:
    assert lateness.late_fee_cap(order_amount=10_000, cap_bps=2_500, cap_amount=6_800) == 2_500
    assert lateness.late_fee_cap(order_amount=100_000, cap_bps=2_500, cap_amount=6_800) == 6_800
    assert lateness.late_fee_cap(order_amount=100_000, cap_bps=2_500, cap_amount=0) == 25_000  # no fixed cap
    assert lateness.late_fee(fee=1_000, cap=2_500, charged_so_far=2_000) == 500
    assert lateness.late_fee(fee=1_000, cap=2_500, charged_so_far=2_500) == 0


@given(
    order_amount=st.integers(min_value=1, max_value=10**9),
    cap_bps=st.integers(min_value=0, max_value=10_000),
    cap_amount=st.integers(min_value=0, max_value=10**7),
    fees=st.lists(st.integers(min_value=0, max_value=10**6), max_size=40),
)
def test_late_fees_never_exceed_the_cap_whatever_the_history(
    order_amount: int, cap_bps: int, cap_amount: int, fees: list[int]
) -> None:
    cap = lateness.late_fee_cap(order_amount=order_amount, cap_bps=cap_bps, cap_amount=cap_amount)
    charged = 0
    for fee in fees:
        now = lateness.late_fee(fee=fee, cap=cap, charged_so_far=charged)
        assert 0 <= now <= fee
        charged += now
        assert charged <= cap
        assert charged <= order_amount * cap_bps // 10_000
        if cap_amount:
            assert charged <= cap_amount


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    amount=st.integers(min_value=3_500, max_value=100_000),
    card_and_kind=st.sampled_from(
        [
            (NEEDS_AUTHENTICATION, "pay_in_4"),  # paid at checkout, then every charge fails
            (INSUFFICIENT_FUNDS, "pay_in_30"),  # fails, retried, fails
            ("4000 0000 0000 0341", "pay_in_30"),
            ("4242 4242 4242 4242", "pay_in_4"),  # always paid: never a fee
        ]
    ),
    steps=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=6),
)
def test_on_real_plans_late_fees_stay_within_the_cap(
    tenant: Tenant, amount: int, card_and_kind: tuple[str, str], steps: list[int]
) -> None:
    card, kind = card_and_kind
    ClockState.objects.all().delete()  # each example starts today (the cards expire in 2035)
    clock.forget_cached_offset()
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=amount, card=card, kind=kind).plan
    for step in steps:
        clock_advance(by=dt.timedelta(days=step))
        lateness.plans_assess_lateness()
        services.collections_run()

    product = plan.product
    cap = lateness.late_fee_cap(
        order_amount=amount, cap_bps=product.late_fee_cap_bps, cap_amount=product.late_fee_cap_amount
    )
    fees = _fees(plan)
    assert sum(fees) <= cap
    assert all(0 < fee <= product.late_fee_amount for fee in fees)
    assert len(fees) <= 4  # at most one per installment
    assert ledger_ok()


# --- A plan's way down --------------------------------------------------------------------------


def test_a_plan_that_is_never_paid_goes_late_delinquent_and_is_charged_off(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, card=NEEDS_AUTHENTICATION)
    plan = order.plan  # 25.00 paid at checkout (the shopper was there); every later charge fails

    _days(15)  # installment 2 was due on day 14
    plan.refresh_from_db()
    assert plan.standing == Plan.Standing.LATE
    assert _fees(plan) == []  # within the 10-day grace

    _days(10)  # day 25: 11 days past due
    plan.refresh_from_db()
    assert _fees(plan) == [1_000]

    _days(20)  # day 45: 31 days past due; installment 3 (day 28) is late too
    plan.refresh_from_db()
    assert plan.standing == Plan.Standing.DELINQUENT
    assert _fees(plan) == [1_000, 1_000]

    _days(95)  # day 140: 126 days past due
    plan.refresh_from_db()
    assert plan.standing == Plan.Standing.CHARGED_OFF
    fees = _fees(plan)
    assert sum(fees) == 2_500 == lateness.late_fee_cap(order_amount=10_000, cap_bps=2_500, cap_amount=6_800)
    assert fees == [1_000, 1_000, 500]  # the third fee cut to what the cap left; the fourth none
    losses = account_balance(code=AccountCode.CREDIT_LOSSES, currency="USD", livemode=False)
    assert losses == 7_500 + 2_500  # three installments never paid, and the fees
    receivable = account_balance(
        code=AccountCode.CONSUMER_RECEIVABLE, currency="USD", livemode=False, consumer=order.consumer
    )
    assert receivable == 0  # nothing left owed on the books
    assert not services.due_installments().filter(plan=plan).exists()  # collections stopped
    assert ledger_ok()


def test_paying_up_brings_a_late_plan_back_to_current(tenant: Tenant) -> None:
    plan = make_authorized_order(
        merchant=tenant.merchant, livemode=False, amount=10_000, card=NEEDS_AUTHENTICATION
    ).plan
    _days(20)
    plan.refresh_from_db()
    assert plan.standing == Plan.Standing.LATE

    card = payment_method_add(
        consumer=plan.consumer,
        livemode=plan.livemode,
        number="4242424242424242",
        exp_month=12,
        exp_year=2035,
        cvc="123",
    )
    plan_pay_next_installment(plan=plan, payment_method=card)
    lateness.plans_assess_lateness()

    plan.refresh_from_db()
    assert plan.standing == Plan.Standing.CURRENT
    assert plan.installments.get(sequence=2).status == Installment.Status.PAID


def test_assessing_twice_the_same_day_changes_nothing(tenant: Tenant) -> None:
    plan = make_authorized_order(
        merchant=tenant.merchant, livemode=False, amount=10_000, card=NEEDS_AUTHENTICATION
    ).plan
    clock_advance(by=dt.timedelta(days=30))

    first = lateness.plans_assess_lateness()
    second = lateness.plans_assess_lateness()

    assert (first.fees, first.standing_changes) == (1, 1)
    assert (second.fees, second.standing_changes) == (0, 0)
    assert len(_fees(plan)) == 1


def test_late_plans_whose_standing_stays_cost_a_few_queries_in_all_and_are_not_locked(
    tenant: Tenant, django_assert_max_num_queries: Any
) -> None:
    """Most days a late plan stays late: the run reads what it needs of all such plans in a few
    statements, locks none of them and writes nothing; the plan's full representation (the audit
    row's "before") is rendered only on a change, before that run's late fee is added."""
    plans = [
        make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, card=NEEDS_AUTHENTICATION).plan
        for _ in range(3)
    ]
    clock_advance(by=dt.timedelta(days=30))
    first = lateness.plans_assess_lateness()
    assert (first.standing_changes, first.fees) == (3, 3)
    entry = AuditLogEntry.objects.get(action="plan.late", object_id=plans[0].public_id)
    assert entry.before is not None and entry.before["standing"] == Plan.Standing.CURRENT
    fees_in = {row["sequence"] for row in entry.before["installments"]} & set(
        plans[0].installments.exclude(fee_for=None).values_list("sequence", flat=True)
    )
    assert not fees_in  # "before" is the plan before the same run's late fee was added

    clock_advance(by=dt.timedelta(days=1))
    with django_assert_max_num_queries(_STEADY_LATE_PLANS_QUERIES) as captured:
        again = lateness.plans_assess_lateness()
    assert (again.plans, again.standing_changes, again.fees) == (3, 0, 0)
    assert not [query for query in captured.captured_queries if "FOR UPDATE" in query["sql"]]


def test_a_fee_falling_due_on_a_plan_whose_standing_stays_is_charged(tenant: Tenant) -> None:
    """The unlocked read lets through a plan that stays late but owes a fee: each installment's,
    once it is past its grace period (pay in 4: due every 14 days; 10 days' grace; delinquent
    after 30 days)."""
    plan = make_authorized_order(
        merchant=tenant.merchant, livemode=False, amount=10_000, card=NEEDS_AUTHENTICATION
    ).plan
    clock_advance(by=dt.timedelta(days=15))
    late = lateness.plans_assess_lateness()  # the second installment a day late: within its grace
    assert (late.standing_changes, late.fees, Plan.objects.get(pk=plan.pk).standing) == (1, 0, Plan.Standing.LATE)
    for days in (14, 11):  # day 29: the second installment past its grace; day 40: the third
        clock_advance(by=dt.timedelta(days=days))
        result = lateness.plans_assess_lateness()
        assert (result.standing_changes, result.fees) == (0, 1), days
    assert Plan.objects.get(pk=plan.pk).standing == Plan.Standing.LATE
    assert _fees(plan) == [1_000, 1_000]


def test_advancing_the_sandbox_clock_day_by_day_plays_a_plan_out(tenant: Tenant) -> None:
    paid = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000).plan
    unpaid = make_authorized_order(
        merchant=tenant.merchant, livemode=False, amount=10_000, card=NEEDS_AUTHENTICATION
    ).plan
    for plan in (paid, unpaid):  # shipped: an authorization left open would expire on day 28
        order_capture(order=plan.order, amount=10_000)
    out = StringIO()

    call_command("advance_clock", "--days", "140", "--run-daily-work", stdout=out)  # 126 days past due

    paid.refresh_from_db()
    unpaid.refresh_from_db()
    assert (paid.status, paid.standing) == (Plan.Status.PAID, Plan.Standing.CURRENT)
    assert unpaid.standing == Plan.Standing.CHARGED_OFF
    assert "1 collected" in out.getvalue() and "late fee(s)" in out.getvalue()
    assert ledger_ok()


def test_a_late_plan_paid_off_is_current_again(tenant: Tenant) -> None:
    plan = make_authorized_order(
        merchant=tenant.merchant, livemode=False, amount=10_000, kind="pay_in_30", card=INSUFFICIENT_FUNDS
    ).plan
    _days(32)
    plan.refresh_from_db()
    assert plan.standing == Plan.Standing.LATE

    card = payment_method_add(
        consumer=plan.consumer,
        livemode=plan.livemode,
        number="4242424242424242",
        exp_month=12,
        exp_year=2035,
        cvc="123",
    )
    plan_pay_next_installment(plan=plan, payment_method=card)
    lateness.plans_assess_lateness()

    plan.refresh_from_db()
    assert (plan.status, plan.standing) == (Plan.Status.PAID, Plan.Standing.CURRENT)


def test_a_charged_off_plan_takes_no_more_payments(tenant: Tenant) -> None:
    plan = make_authorized_order(
        merchant=tenant.merchant, livemode=False, amount=10_000, card=NEEDS_AUTHENTICATION
    ).plan
    _days(140)
    plan.refresh_from_db()
    assert plan.standing == Plan.Standing.CHARGED_OFF
    card = payment_method_add(
        consumer=plan.consumer,
        livemode=plan.livemode,
        number="4242424242424242",
        exp_month=12,
        exp_year=2035,
        cvc="123",
    )

    with pytest.raises(StateError) as refused:
        plan_pay_next_installment(plan=plan, payment_method=card)

    assert refused.value.code == "plan_charged_off"
    assert ledger_ok()
