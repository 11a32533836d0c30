"""The dashboard's home: the figures a merchant watches over a chosen period, with charts."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from bnpl.checkout import orders as checkout_orders
from bnpl.core.errors import ApplicationError
from bnpl.core.money import format_amount
from merchants import charts, onboarding
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
    scope: dict[str, Any] = {
        "merchant": dashboard.merchant,
        "livemode": dashboard.livemode,
        "currency": currency,
        "period": period,
    }
    checkout_orders.orders_expire(merchant=dashboard.merchant, livemode=dashboard.livemode)
    figures = figures_module.figures(**scope)
    series = figures_module.daily_series(**scope)

    def money(amount: int) -> str:
        return format_amount(amount, currency)

    return dashboard.render(
        "merchants/home.html",
        {
            "nav": "home",
            "period": period,
            "period_error": error,
            "currency": currency,
            "figures": figures,
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
                title=f"Sales volume per day, {currency}", days=series.days, values=series.captured_amounts, label=money
            ),
            "orders_chart": charts.bar_chart(
                title="Orders per day", days=series.days, values=series.order_counts, label=str
            ),
            "series_rows": [
                {"day": day, "captured": money(captured), "refunded": money(refunded), "orders": orders}
                for day, captured, refunded, orders in zip(
                    series.days, series.captured_amounts, series.refunded_amounts, series.order_counts, strict=True
                )
            ],
            "profile": onboarding.business_profile_for(merchant=dashboard.merchant),
        },
    )
