"""The dashboard home a merchant reads at a glance: each tile compared with the previous period of
the same length (correct when that period had nothing), the period applied by a plain link (no
script, no separate button), and chart points a keyboard reaches, each named by its day and value."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bnpl.checkout import orders as checkout_orders
from bnpl.core.money import format_amount
from merchants import dashboard
from merchants.charts import bar_chart, line_chart
from tests.bnpl.checkout.factories import make_authorized_order
from tests.helpers import verified_client
from tests.merchants.factories import Tenant, make_member

pytestmark = pytest.mark.django_db

TODAY = dt.datetime(2025, 6, 30, 15, 0, tzinfo=dt.UTC)
THIRTY = dashboard.Period(first=dt.date(2025, 6, 1), last=dt.date(2025, 6, 30), choice="30")


@pytest.mark.parametrize(
    ("current", "previous", "more_is_good", "expected"),
    [
        (11_200, 10_000, True, ("up", "+12% vs previous 30 days", "good")),
        (8_800, 10_000, True, ("down", "\u221212% vs previous 30 days", "bad")),
        (5_000, 0, True, ("up", "Up from none in the previous 30 days", "good")),
        (0, 0, True, ("flat", "No change vs previous 30 days", "neutral")),
        (0, 4_000, True, ("down", "\u2212100% vs previous 30 days", "bad")),
        (10_001, 10_000, True, ("up", "+<1% vs previous 30 days", "good")),
        (30_000, 10_000, True, ("up", "+200% vs previous 30 days", "good")),
        (1_250, 1_000, False, ("up", "+25% vs previous 30 days", "bad")),  # more refunds is not welcome
        (1_005, 1_000, True, ("up", "+1% vs previous 30 days", "good")),  # 0.5% rounds half up
    ],
)
def test_a_delta_reads_as_a_percent_of_the_previous_period(
    current: int, previous: int, more_is_good: bool, expected: tuple[str, str, str]
) -> None:
    moved = dashboard.delta(current=current, previous=previous, period=THIRTY, more_is_good=more_is_good)
    assert (moved.direction, moved.text, moved.tone) == expected


def test_the_previous_period_is_as_long_and_just_before() -> None:
    one_day = dashboard.Period(first=dt.date(2025, 3, 1), last=dt.date(2025, 3, 1), choice="custom")
    assert (one_day.previous.first, one_day.previous.last) == (dt.date(2025, 2, 28), dt.date(2025, 2, 28))
    assert dashboard.delta(current=2, previous=1, period=one_day).text == "+100% vs previous 1 day"
    assert (THIRTY.previous.first, THIRTY.previous.last, THIRTY.previous.length) == (
        dt.date(2025, 5, 2),
        dt.date(2025, 5, 31),
        30,
    )
    rate = dashboard.rate_delta(current=dashboard.Decimal("92.5"), previous=dashboard.Decimal("90.0"), period=THIRTY)
    assert rate is not None and rate.text == "+2.5 pts vs previous 30 days"
    assert dashboard.rate_delta(current=dashboard.Decimal("92.5"), previous=None, period=THIRTY) is None


def _order_on(tenant: Tenant, moment: dt.datetime, amount: int) -> None:
    with time_machine.travel(moment, tick=False):
        order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=amount)
        checkout_orders.order_capture(order=order, amount=amount)


def test_both_periods_come_from_the_queries_of_one_and_equal_each_alone(tenant: Tenant) -> None:
    _order_on(tenant, TODAY - dt.timedelta(days=3), 12_000)
    _order_on(tenant, TODAY - dt.timedelta(days=40), 8_000)
    _order_on(tenant, TODAY - dt.timedelta(days=45), 4_000)
    scope = {"merchant": tenant.merchant, "livemode": False, "currency": "USD"}
    with time_machine.travel(TODAY, tick=False):
        period = dashboard.period_for(choice="30")
        with CaptureQueriesContext(connection) as one:
            dashboard.figures(**scope, period=period)  # type: ignore[arg-type]
        with CaptureQueriesContext(connection) as both:
            current, previous = dashboard.figures_for_periods(**scope, periods=[period, period.previous])  # type: ignore[arg-type]
        assert len(both) == len(one)
        assert current == dashboard.figures(**scope, period=period)  # type: ignore[arg-type]
        assert previous == dashboard.figures(**scope, period=period.previous)  # type: ignore[arg-type]
    assert (current.captured_amount, current.order_count) == (12_000, 1)
    assert (previous.captured_amount, previous.order_count) == (12_000, 2)


def _home(tenant: Tenant, **query: str) -> str:
    client = Client()
    verified_client(make_member(merchant=tenant.merchant), client=client)
    with time_machine.travel(TODAY, tick=False):
        response = client.get("/merchant/", query)
    assert response.status_code == 200
    return response.content.decode()


def test_the_tiles_compare_with_the_previous_period_and_say_so_when_it_had_nothing(tenant: Tenant) -> None:
    _order_on(tenant, TODAY - dt.timedelta(days=2), 11_200)
    _order_on(tenant, TODAY - dt.timedelta(days=9), 10_000)  # in the previous 7 days, not this week's

    week = _home(tenant, period="7")
    assert f'<dd id="kpi-sales">{format_amount(11_200, "USD")}</dd>' in week
    assert re.search(r'id="kpi-sales-delta">.*?\+12% vs previous 7 days</dd>', week)
    assert re.search(r'id="kpi-orders-delta">.*?No change vs previous 7 days</dd>', week)

    month = _home(tenant, period="30")  # the previous 30 days had no orders at all
    assert f'<dd id="kpi-sales">{format_amount(21_200, "USD")}</dd>' in month
    assert re.search(r'id="kpi-sales-delta">.*?Up from none in the previous 30 days</dd>', month)
    assert 'id="kpi-approval-delta"' not in month  # no rate to compare with: no delta, not "+100 pts"


def test_the_period_is_applied_by_a_link_that_keeps_the_other_choices(tenant: Tenant) -> None:
    tenant.merchant.currencies = ["USD", "EUR"]
    tenant.merchant.save(update_fields=["currencies"])
    _order_on(tenant, TODAY - dt.timedelta(days=20), 5_000)

    page = _home(tenant, period="7", currency="EUR")
    assert '<a href="?period=30&amp;currency=EUR">30 days</a>' in page
    assert '<a href="?period=90&amp;currency=EUR">90 days</a>' in page
    assert '<a href="?period=7&amp;currency=USD">USD</a>' in page
    assert '<a href="?period=7&amp;currency=EUR" aria-current="true">7 days</a>' in page
    assert '<a href="?period=7&amp;currency=EUR" aria-current="true">EUR</a>' in page
    assert "<button" not in page.split('id="period-heading"')[1].split("<details")[0]  # no Show button needed

    followed = _home(tenant, period="30", currency="USD")  # what the 30 days link opens
    assert '<a href="?period=30&amp;currency=USD" aria-current="true">30 days</a>' in followed
    assert f'<dd id="kpi-sales">{format_amount(5_000, "USD")}</dd>' in followed
    assert f'<dd id="kpi-sales">{format_amount(0, "USD")}</dd>' in _home(tenant, period="7", currency="USD")

    custom = _home(tenant, period="custom", first="2025-06-10", last="2025-06-11", currency="USD")
    assert "10 Jun 2025 \u2013 11 Jun 2025" in custom and "compared with 8 Jun \u2013 9 Jun 2025" in custom
    assert '<a href="?period=7&amp;currency=USD">7 days</a>' in custom  # leaving custom drops the dates


def test_each_chart_point_is_focusable_and_named_by_its_day_and_value() -> None:
    days = [dt.date(2025, 6, 1) + dt.timedelta(days=offset) for offset in range(3)]
    line = str(
        line_chart(
            name="sales",
            title="Sales volume per day, USD",
            days=days,
            values=[0, 12_345, 500],
            label=lambda amount: format_amount(amount, "USD"),
        )
    )
    assert '<svg class="chart" viewBox="0 0 1000 320" role="group" aria-labelledby="sales-chart-title"' in line
    assert '<title id="sales-chart-title">Sales volume per day, USD</title>' in line
    points = re.findall(r'<g class="point" tabindex="0" role="img" aria-label="([^"]+)"><title>([^<]+)</title>', line)
    assert points == [
        ("1 Jun 2025: $0.00", "1 Jun 2025: $0.00"),
        ("2 Jun 2025: $123.45", "2 Jun 2025: $123.45"),
        ("3 Jun 2025: $5.00", "3 Jun 2025: $5.00"),
    ]
    assert line.count('class="tip" aria-hidden="true"') == 3  # the visible tooltip on hover and focus

    bars = str(
        bar_chart(name="orders", title="Orders per day", days=days, values=[1, 0, 4], label=lambda n: f"{n} orders")
    )
    assert re.findall(r'role="img" aria-label="([^"]+)"', bars) == [
        "1 Jun 2025: 1 orders",
        "2 Jun 2025: 0 orders",
        "3 Jun 2025: 4 orders",
    ]


def test_the_home_page_charts_name_every_day_of_the_period(tenant: Tenant) -> None:
    _order_on(tenant, TODAY - dt.timedelta(days=1), 7_500)
    page = _home(tenant, period="7")
    labels = re.findall(r'<g class="point" tabindex="0" role="img" aria-label="([^"]+)">', page)
    assert len(labels) == 14  # seven days in each of the two charts
    assert "29 Jun 2025: $75.00" in labels and "29 Jun 2025: 1 order" in labels
    assert "30 Jun 2025: 0 orders" in labels
