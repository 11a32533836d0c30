"""The dashboard's home: the figures a merchant watches over a chosen period, with charts."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from bnpl.checkout import orders as checkout_orders
from bnpl.core.errors import ApplicationError
from bnpl.core.money import format_amount
from bnpl.core.replica import reporting_reads
from merchants import charts, integration, onboarding
from merchants import dashboard as figures_module
from merchants.views.base import Dashboard, dashboard_view


def chosen_currency(dashboard: Dashboard) -> str:
    requested = dashboard.request.GET.get("currency", "").upper()
    currencies = dashboard.merchant.currencies or [dashboard.merchant.default_currency]
    return requested if requested in currencies else dashboard.merchant.default_currency


@require_GET
@dashboard_view()
def home(dashboard: Dashboard) -> HttpResponse:
    query = dashboard.request.GET
    error = ""
    try:
        period = figures_module.period_for(
            choice=query.get("period", figures_module.DEFAULT_PERIOD),
            first=query.get("first", ""),
            last=query.get("last", ""),
        )
    except ApplicationError as application_error:
        error = application_error.message
        period = figures_module.period_for()
    currency = chosen_currency(dashboard)
    scope: dict[str, Any] = {"merchant": dashboard.merchant, "livemode": dashboard.livemode, "currency": currency}
    checkout_orders.orders_expire(merchant=dashboard.merchant, livemode=dashboard.livemode)
    with reporting_reads():  # the figures and charts: aggregates that may be seconds old
        figures, previous = figures_module.figures_for_periods(**scope, periods=[period, period.previous])
        series = figures_module.daily_series(**scope, period=period)

    def money(amount: int) -> str:
        return format_amount(amount, currency)

    def change(current: int, before: int, *, more_is_good: bool = True) -> figures_module.Delta:
        return figures_module.delta(current=current, previous=before, period=period, more_is_good=more_is_good)

    def link(**changes: str) -> str:
        """This page with one choice changed and the others kept (a plain link: no script needed)."""
        chosen = {"period": period.choice, "currency": currency}
        if period.choice == "custom":
            chosen |= {"first": period.first.isoformat(), "last": period.last.isoformat()}
        chosen |= changes
        if chosen["period"] != "custom":
            chosen = {key: value for key, value in chosen.items() if key not in ("first", "last")}
        return "?" + urlencode(chosen)

    def orders_text(count: int) -> str:
        return f"{count} order{'s' if count != 1 else ''}"

    return dashboard.render(
        "merchants/home.html",
        {
            "nav": "home",
            "period": period,
            "period_error": error,
            "currency": currency,
            "figures": figures,
            "period_links": [
                {"label": f"{days} days", "href": link(period=choice), "current": period.choice == choice}
                for choice, days in figures_module.PERIOD_CHOICES.items()
            ],
            "currency_links": [
                {"label": code, "href": link(currency=code), "current": code == currency}
                for code in dashboard.merchant.currencies
            ],
            "deltas": {
                "captured": change(figures.captured_amount, previous.captured_amount),
                "net_sales": change(figures.net_sales_amount, previous.net_sales_amount),
                "orders": change(figures.order_count, previous.order_count),
                "average_order": change(figures.average_order_amount or 0, previous.average_order_amount or 0),
                "refunded": change(figures.refunded_amount, previous.refunded_amount, more_is_good=False),
                "fees": change(figures.fee_amount, previous.fee_amount, more_is_good=False),
                "approval": figures_module.rate_delta(
                    current=figures.approval_rate, previous=previous.approval_rate, period=period
                ),
            },
            "money": {
                "captured": money(figures.captured_amount),
                "refunded": money(figures.refunded_amount),
                "net_sales": money(figures.net_sales_amount),
                "fees": money(figures.fee_amount),
                "authorized": money(figures.authorized_amount),
                "average_order": money(figures.average_order_amount)
                if figures.average_order_amount is not None
                else "—",
                "owed": money(figures.owed_amount),
                "pending_payouts": money(figures.pending_payout_amount),
            },
            "sales_chart": charts.line_chart(
                name="sales",
                title=f"Sales volume per day, {currency}",
                days=series.days,
                values=series.captured_amounts,
                label=money,
                axis_label=charts.compact_money(currency),
            ),
            "orders_chart": charts.bar_chart(
                name="orders",
                title="Orders per day",
                days=series.days,
                values=series.order_counts,
                label=orders_text,
                axis_label=str,
            ),
            "series_rows": [
                {"day": day, "captured": money(captured), "refunded": money(refunded), "orders": orders}
                for day, captured, refunded, orders in zip(
                    series.days, series.captured_amounts, series.refunded_amounts, series.order_counts, strict=True
                )
            ],
            "profile": onboarding.business_profile_for(merchant=dashboard.merchant),
            "integration_checklist": integration.integration_checklist(merchant=dashboard.merchant),
        },
    )
