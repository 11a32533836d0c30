"""Finding things: the nav's search box (an order by its id, your reference or the customer's
email) and the list of what needs the merchant (disputes awaiting a response, failing webhook
endpoints, failed payouts), whose count the nav shows. Both read only the current merchant's rows in
the current mode."""

from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from bnpl.core.money import format_amount
from merchants import dashboard as dashboard_selectors
from merchants.views.base import Dashboard, dashboard_view

MAX_QUERY_LENGTH = 254


@require_GET
@dashboard_view()
def search(dashboard: Dashboard) -> HttpResponse | HttpResponseRedirect:
    """One match on an exact order id opens that order; otherwise the matches are listed."""
    query = dashboard.request.GET.get("q", "").strip()[:MAX_QUERY_LENGTH]
    orders = dashboard_selectors.quick_search(merchant=dashboard.merchant, livemode=dashboard.livemode, query=query)
    if len(orders) == 1 and orders[0].public_id == query:
        return redirect("merchants:order-detail", order_id=orders[0].public_id)
    return dashboard.render(
        "merchants/search.html",
        {
            "nav": "search",
            "query": query,
            "search_query": query,
            "rows": [
                {
                    "order": order,
                    "email": dashboard_selectors.order_customer_email(order),
                    "authorized": format_amount(order.authorized_amount, order.currency),
                }
                for order in orders
            ],
            "limit": dashboard_selectors.SEARCH_LIMIT,
        },
    )


@require_GET
@dashboard_view()
def notifications(dashboard: Dashboard) -> HttpResponse:
    waiting = dashboard_selectors.attention(merchant=dashboard.merchant, livemode=dashboard.livemode)
    return dashboard.render(
        "merchants/notifications.html",
        {
            "nav": "notifications",
            "attention": waiting,
            "disputes": [
                (dispute, format_amount(dispute.amount, dispute.order.currency)) for dispute in waiting.disputes
            ],
            "payouts": [
                (settlement, format_amount(settlement.net_amount, settlement.currency))
                for settlement in waiting.payouts
            ],
        },
    )
