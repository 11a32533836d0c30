"""The dashboard's figures equal sums computed independently from the orders (captures, refunds,
sessions, settlements) and from the ledger's postings, over a seeded history of several hundred
orders spread across a hundred days, with another merchant's and live-mode orders that must not
count. The orders list filtered to the same period has the same count."""

from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict

import pytest
import time_machine
from django.db.models import Sum
from django.test import Client

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Capture, CheckoutSession, Order, Refund
from bnpl.core.money import format_amount
from bnpl.ledger.models import AccountCode, Posting
from merchants import dashboard
from merchants.models import Merchant, Settlement
from merchants.settlements import settlements_run
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session
from tests.helpers import ledger_ok, verified_client
from tests.merchants.factories import Tenant, make_member

pytestmark = pytest.mark.django_db

START = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
DAYS = 100
ORDERS = 300
END = START + dt.timedelta(days=DAYS)


def _seed(merchant: Merchant, *, count: int, livemode: bool = False, seed: int = 8) -> None:
    """Orders on random days; most captured (some in parts, some a day later), some refunded in
    part or whole, some voided, some left open; sessions left open; settlements every ten days."""
    rng = random.Random(seed)
    moments = sorted(
        START + dt.timedelta(days=rng.randrange(DAYS), minutes=rng.randrange(-600, 600)) for _ in range(count)
    )
    next_settlement = START + dt.timedelta(days=10)
    for index, moment in enumerate(moments):
        if moment >= next_settlement:
            with time_machine.travel(next_settlement, tick=False):
                settlements_run(cutoff=next_settlement)
            next_settlement += dt.timedelta(days=10)
        with time_machine.travel(moment, tick=False):
            if index % 15 == 0:
                make_checkout_session(merchant=merchant, livemode=livemode, amount=rng.randrange(3_500, 50_000))
                continue  # a shopper who never finished
            order = make_authorized_order(merchant=merchant, livemode=livemode, amount=rng.randrange(3_500, 60_000))
            roll = rng.random()
            if roll < 0.1:
                checkout_orders.order_void(order=order)
                continue
            if roll < 0.2:
                continue  # authorized only
            first = order.authorized_amount if roll < 0.7 else order.authorized_amount // 3
            checkout_orders.order_capture(order=order, amount=first)
        if first < order.authorized_amount:
            with time_machine.travel(moment + dt.timedelta(days=1, hours=3), tick=False):
                checkout_orders.order_capture(
                    order=Order.objects.get(pk=order.pk), amount=order.authorized_amount - first
                )
        if rng.random() < 0.25:
            with time_machine.travel(moment + dt.timedelta(days=rng.randrange(0, 5), hours=1), tick=False):
                fresh = Order.objects.get(pk=order.pk)
                amount = fresh.refundable_amount if rng.random() < 0.4 else max(1, fresh.refundable_amount // 4)
                checkout_orders.order_refund(order=fresh, amount=amount, reason="returned")


def _within(moment: dt.datetime, period: dashboard.Period) -> bool:
    return period.start_at <= moment < period.end_at


def _ledger_sum(merchant: Merchant, entry_type: str, account: AccountCode, period: dashboard.Period) -> int:
    total = Posting.objects.filter(
        entry__entry_type=entry_type,
        entry__merchant=merchant,
        entry__livemode=False,
        entry__currency="USD",
        entry__created_at__gte=period.start_at,
        entry__created_at__lt=period.end_at,
        account__code=account,
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


@pytest.fixture
def history(tenant: Tenant, other_tenant: Tenant) -> Tenant:
    _seed(tenant.merchant, count=ORDERS)
    _seed(other_tenant.merchant, count=20, seed=9)
    _seed(tenant.merchant, count=15, livemode=True, seed=10)
    return tenant


PERIODS = [
    ("7", "", ""),
    ("30", "", ""),
    ("90", "", ""),
    ("custom", "2025-03-01", "2025-06-09"),
    ("custom", "2025-04-10", "2025-04-10"),
]


@pytest.mark.slow
def test_the_figures_equal_independent_sums_from_orders_and_from_the_ledger(history: Tenant) -> None:
    """One seeded history (it takes a while to make), every period checked against it, then the
    upcoming payouts and the page itself."""
    for choice, first, last in PERIODS:
        _check_period(history.merchant, choice, first, last)
    _check_upcoming_payouts(history.merchant)
    _check_the_home_page(history.merchant)


def _check_period(merchant: Merchant, choice: str, first: str, last: str) -> None:
    with time_machine.travel(END, tick=False):
        period = dashboard.period_for(choice=choice, first=first, last=last)
        figures = dashboard.figures(merchant=merchant, livemode=False, currency="USD", period=period)
        series = dashboard.daily_series(merchant=merchant, livemode=False, currency="USD", period=period)
        listed = dashboard.order_search(
            merchant=merchant,
            livemode=False,
            filters=dashboard.OrderFilters(created_from=period.first, created_to=period.last),
        ).count()

    captures = [c for c in Capture.objects.filter(merchant=merchant, livemode=False) if _within(c.created_at, period)]
    refunds = [r for r in Refund.objects.filter(merchant=merchant, livemode=False) if _within(r.created_at, period)]
    orders = [o for o in Order.objects.filter(merchant=merchant, livemode=False) if _within(o.created_at, period)]
    sessions = [
        s for s in CheckoutSession.objects.filter(merchant=merchant, livemode=False) if _within(s.created_at, period)
    ]
    assert len(Order.objects.filter(merchant=merchant, livemode=False)) >= 250  # several hundred in the history
    if choice == "90":
        assert len(orders) > 150 and captures and refunds  # the period is not trivially empty

    # from the orders
    assert figures.captured_amount == sum(c.amount for c in captures)
    assert figures.capture_count == len(captures)
    assert figures.refunded_amount == sum(r.amount for r in refunds)
    assert figures.refund_count == len(refunds)
    assert figures.fee_amount == sum(c.merchant_fee_amount for c in captures) - sum(
        r.merchant_fee_refunded_amount for r in refunds
    )
    assert figures.order_count == len(orders) == listed
    assert figures.authorized_amount == sum(o.authorized_amount for o in orders)
    if orders:
        exact = figures.authorized_amount / len(orders)
        assert abs(figures.average_order_amount - exact) <= 0.5  # type: ignore[operator]
    decided = [s for s in sessions if s.status in ("complete", "declined")]
    assert figures.sessions_decided == len(decided)
    assert figures.sessions_completed == len([s for s in sessions if s.status == "complete"])
    assert len([s for s in sessions if s.status == "open"]) > 0 or choice != "90"  # open sessions are left out

    # from the ledger
    assert figures.captured_amount == -(
        _ledger_sum(merchant, "order.captured", AccountCode.MERCHANT_PAYABLE, period)
        + _ledger_sum(merchant, "order.captured", AccountCode.MERCHANT_FEE_REVENUE, period)
    )
    assert figures.refunded_amount == -_ledger_sum(merchant, "order.refunded", AccountCode.CONSUMER_RECEIVABLE, period)
    assert figures.fee_amount == -(
        _ledger_sum(merchant, "order.captured", AccountCode.MERCHANT_FEE_REVENUE, period)
        + _ledger_sum(merchant, "order.refunded", AccountCode.MERCHANT_FEE_REVENUE, period)
    )
    assert figures.authorized_amount == -_ledger_sum(
        merchant, "order.authorized", AccountCode.AUTHORIZED_PENDING, period
    )

    # the charts draw the same numbers, day by day
    assert sum(series.captured_amounts) == figures.captured_amount
    assert sum(series.refunded_amounts) == figures.refunded_amount
    assert sum(series.order_counts) == figures.order_count
    per_day: dict[dt.date, int] = defaultdict(int)
    for capture in captures:
        per_day[capture.created_at.date()] += capture.amount
    assert series.captured_amounts == [per_day.get(day, 0) for day in period.days]


def _check_upcoming_payouts(merchant: Merchant) -> None:
    """What the ledger owes the merchant now equals what its captures, refunds and paid-out
    settlements add up to."""
    with time_machine.travel(END, tick=False):
        figures = dashboard.figures(
            merchant=merchant, livemode=False, currency="USD", period=dashboard.period_for(choice="30")
        )

    captured_net = sum(
        c.amount - c.merchant_fee_amount for c in Capture.objects.filter(merchant=merchant, livemode=False)
    )
    refunded_net = sum(
        r.amount - r.merchant_fee_refunded_amount for r in Refund.objects.filter(merchant=merchant, livemode=False)
    )
    paid = sum(s.net_amount for s in Settlement.objects.filter(merchant=merchant, livemode=False, status="paid"))
    assert Settlement.objects.filter(merchant=merchant, livemode=False, status="paid").count() >= 5
    assert figures.owed_amount == captured_net - refunded_net - paid
    assert ledger_ok()


def _check_the_home_page(merchant: Merchant) -> None:
    client = Client()
    verified_client(make_member(merchant=merchant), client=client)
    with time_machine.travel(END, tick=False):
        response = client.get("/merchant/", {"period": "90"})
        figures = dashboard.figures(
            merchant=merchant, livemode=False, currency="USD", period=dashboard.period_for(choice="90")
        )

    content = response.content.decode()
    assert response.status_code == 200
    assert f'<dd id="kpi-sales">{format_amount(figures.captured_amount, "USD")}</dd>' in content
    assert f'<dd id="kpi-orders">{figures.order_count}</dd>' in content
    assert f'<dd id="kpi-refunds">{format_amount(figures.refunded_amount, "USD")}</dd>' in content
    assert f'<dd id="kpi-owed">{format_amount(figures.owed_amount, "USD")}</dd>' in content
    assert f'<dd id="kpi-approval">{figures.approval_rate}%</dd>' in content
    assert content.count('<rect class="bar"') == 90
    assert content.count('<circle class="dot"') == 90
