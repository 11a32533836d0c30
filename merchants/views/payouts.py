"""Settlements: the payouts with their line items, and each one's report as CSV."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from bnpl.core.money import format_amount
from bnpl.tenancy.selectors import scoped_queryset
from merchants.models import Settlement
from merchants.settlements import settlement_report_csv
from merchants.views.base import Dashboard, dashboard_view


@require_GET
@dashboard_view()
def settlement_list(dashboard: Dashboard) -> HttpResponse:
    settlements = scoped_queryset(Settlement, merchant=dashboard.merchant, livemode=dashboard.livemode)
    page = Paginator(settlements, 25).get_page(dashboard.request.GET.get("page"))
    return dashboard.render(
        "merchants/settlements.html",
        {
            "nav": "settlements",
            "page": page,
            "rows": [
                {
                    "settlement": settlement,
                    "net": format_amount(settlement.net_amount, settlement.currency),
                    "captured": format_amount(settlement.captured_amount, settlement.currency),
                    "refunded": format_amount(settlement.refunded_amount, settlement.currency),
                    "fees": format_amount(settlement.fee_amount - settlement.fee_refunded_amount, settlement.currency),
                }
                for settlement in page.object_list
            ],
        },
    )


@require_GET
@dashboard_view()
def settlement_detail(dashboard: Dashboard, settlement_id: str) -> HttpResponse:
    settlement = dashboard.get(Settlement, settlement_id)
    currency = settlement.currency
    return dashboard.render(
        "merchants/settlement_detail.html",
        {
            "nav": "settlements",
            "settlement": settlement,
            "amounts": {
                field: format_amount(getattr(settlement, f"{field}_amount"), currency)
                for field in ("captured", "fee", "refunded", "fee_refunded", "carried_in", "net")
            },
            "lines": [
                {
                    "line": line,
                    "amount": format_amount(line.amount, currency),
                    "fee": format_amount(line.fee_amount, currency),
                    "net": format_amount(line.net_amount, currency),
                }
                for line in settlement.lines.all()
            ],
        },
    )


@require_GET
@dashboard_view()
def settlement_report(dashboard: Dashboard, settlement_id: str) -> HttpResponse:
    settlement = dashboard.get(Settlement, settlement_id)
    response = HttpResponse(settlement_report_csv(settlement), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{settlement.public_id}.csv"'
    response["Cache-Control"] = "no-store"
    return response
