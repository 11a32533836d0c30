"""Orders: search and filter, export, the detail with its timeline, and capture / void / refund
through the same services (and so the same rules) as the API, each after a confirmation step."""

from __future__ import annotations

import csv
import io
import secrets
from decimal import InvalidOperation

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Order
from bnpl.core.errors import ApplicationError, InvalidRequestError
from bnpl.core.money import format_amount, from_decimal, to_decimal
from merchants import dashboard as dashboard_selectors
from merchants.views.base import Dashboard, dashboard_view

PAGE_SIZE = 25
CONFIRMATIONS_SESSION_KEY = "dashboard_confirmations"


class OrderFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *Order.Status.choices], required=False)
    created_from = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    created_to = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))
    amount_min = forms.DecimalField(required=False, min_value=0, decimal_places=4, label="Amount from")
    amount_max = forms.DecimalField(required=False, min_value=0, decimal_places=4, label="Amount to")
    reference = forms.CharField(required=False, max_length=200, label="Reference or order id")
    customer_email = forms.CharField(required=False, max_length=254, label="Customer email")


def _filters(dashboard: Dashboard) -> tuple[OrderFilterForm, dashboard_selectors.OrderFilters]:
    form = OrderFilterForm(dashboard.request.GET or None)
    if not form.is_valid():
        return form, dashboard_selectors.OrderFilters()
    data = form.cleaned_data
    currency = dashboard.merchant.default_currency

    def minor(value: object) -> int | None:
        if value is None:
            return None
        try:
            return from_decimal(str(value), currency)
        except ApplicationError:
            return None

    return form, dashboard_selectors.OrderFilters(
        status=data["status"] or "",
        created_from=data["created_from"],
        created_to=data["created_to"],
        amount_min=minor(data["amount_min"]),
        amount_max=minor(data["amount_max"]),
        reference=data["reference"] or "",
        customer_email=data["customer_email"] or "",
    )


def _row(order: Order) -> dict[str, object]:
    return {
        "order": order,
        "email": dashboard_selectors.order_customer_email(order),
        "authorized": format_amount(order.authorized_amount, order.currency),
        "captured": format_amount(order.captured_amount, order.currency),
        "refunded": format_amount(order.refunded_amount, order.currency),
    }


@require_GET
@dashboard_view()
def order_list(dashboard: Dashboard) -> HttpResponse:
    form, filters = _filters(dashboard)
    checkout_orders.orders_expire(merchant=dashboard.merchant, livemode=dashboard.livemode)
    orders = dashboard_selectors.order_search(merchant=dashboard.merchant, livemode=dashboard.livemode, filters=filters)
    page = Paginator(orders, PAGE_SIZE).get_page(dashboard.request.GET.get("page"))
    query = dashboard.request.GET.copy()
    query.pop("page", None)
    return dashboard.render(
        "merchants/orders.html",
        {
            "nav": "orders",
            "form": form,
            "page": page,
            "rows": [_row(order) for order in page.object_list],
            "total": page.paginator.count,
            "query": query.urlencode(),
        },
    )


CSV_COLUMNS = [
    "id",
    "created_at",
    "status",
    "merchant_reference",
    "customer_email",
    "currency",
    "authorized_amount",
    "captured_amount",
    "voided_amount",
    "refunded_amount",
    "merchant_fee_amount",
]


@require_GET
@dashboard_view()
def order_export(dashboard: Dashboard) -> HttpResponse:
    """The filtered list as CSV, amounts in minor units (as in the API)."""
    _, filters = _filters(dashboard)
    checkout_orders.orders_expire(merchant=dashboard.merchant, livemode=dashboard.livemode)
    orders = dashboard_selectors.order_search(merchant=dashboard.merchant, livemode=dashboard.livemode, filters=filters)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for order in orders.iterator(chunk_size=500):
        writer.writerow(
            [
                order.public_id,
                order.created_at.isoformat(),
                order.status,
                order.merchant_reference,
                dashboard_selectors.order_customer_email(order),
                order.currency,
                order.authorized_amount,
                order.captured_amount,
                order.voided_amount,
                order.refunded_amount,
                order.merchant_fee_amount,
            ]
        )
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    mode = "live" if dashboard.livemode else "test"
    response["Content-Disposition"] = f'attachment; filename="orders-{mode}.csv"'
    response["Cache-Control"] = "no-store"
    return response


def _detail(dashboard: Dashboard, order: Order, *, status: int = 200, **context: object) -> HttpResponse:
    currency = order.currency
    return dashboard.render(
        "merchants/order_detail.html",
        {
            "nav": "orders",
            "order": order,
            "email": dashboard_selectors.order_customer_email(order),
            "amounts": {
                "authorized": format_amount(order.authorized_amount, currency),
                "captured": format_amount(order.captured_amount, currency),
                "voided": format_amount(order.voided_amount, currency),
                "refunded": format_amount(order.refunded_amount, currency),
                "open": format_amount(order.open_amount, currency),
                "refundable": format_amount(order.refundable_amount, currency),
                "fees": format_amount(order.merchant_fee_amount, currency),
            },
            "open_major": to_decimal(order.open_amount, currency),
            "refundable_major": to_decimal(order.refundable_amount, currency),
            "captures": [(capture, format_amount(capture.amount, currency)) for capture in order.captures.all()],
            "refunds": [(refund, format_amount(refund.amount, currency)) for refund in order.refunds.all()],
            "disputes": order.disputes.all(),
            "timeline": dashboard_selectors.order_timeline(order=order),
            **context,
        },
        status=status,
    )


@require_GET
@dashboard_view()
def order_detail(dashboard: Dashboard, order_id: str) -> HttpResponse:
    return _detail(dashboard, checkout_orders.order_expire_if_due(order=dashboard.get(Order, order_id)))


def _amount(dashboard: Dashboard, order: Order) -> int:
    raw = dashboard.request.POST.get("amount", "").strip().replace(",", "")
    try:
        return from_decimal(raw, order.currency)
    except (InvalidOperation, ValueError):
        raise InvalidRequestError("Enter an amount such as 25.00.", param="amount") from None


def _confirmation_issue(dashboard: Dashboard) -> str:
    """A one-use token for the confirmation form, so a double submit acts once."""
    token = secrets.token_urlsafe(16)
    pending = dashboard.request.session.get(CONFIRMATIONS_SESSION_KEY, [])[-20:]
    dashboard.request.session[CONFIRMATIONS_SESSION_KEY] = [*pending, token]
    return token


def _confirmation_use(dashboard: Dashboard, token: str) -> bool:
    pending = dashboard.request.session.get(CONFIRMATIONS_SESSION_KEY, [])
    if token not in pending:
        return False
    pending.remove(token)
    dashboard.request.session[CONFIRMATIONS_SESSION_KEY] = pending
    return True


def _operate(dashboard: Dashboard, order_id: str, operation: str) -> HttpResponse:
    """Step one (no ``confirmation``): show what will happen and ask. Step two: do it once."""
    order = dashboard.get(Order, order_id)
    post = dashboard.request.POST
    try:
        amount = _amount(dashboard, order) if operation != "void" else order.open_amount
        if amount <= 0:
            raise InvalidRequestError("Enter a positive amount.", param="amount")
    except ApplicationError as error:
        return _detail(dashboard, order, status=400, operation_error=error.message, operation=operation)
    text = post.get("text", "")[:200]
    token = post.get("confirmation", "")
    if not token:
        return dashboard.render(
            "merchants/order_confirm.html",
            {
                "nav": "orders",
                "order": order,
                "operation": operation,
                "amount": amount,
                "amount_major": to_decimal(amount, order.currency),
                "amount_text": format_amount(amount, order.currency),
                "text": text,
                "confirmation": _confirmation_issue(dashboard),
            },
        )
    if not _confirmation_use(dashboard, token):
        messages.info(dashboard.request, "That confirmation was already used: nothing more was done.")
        return redirect("merchants:order-detail", order_id=order.public_id)
    try:
        if operation == "capture":
            checkout_orders.order_capture(order=order, amount=amount, merchant_reference=text)
            done = f"Captured {format_amount(amount, order.currency)}."
        elif operation == "refund":
            checkout_orders.order_refund(order=order, amount=amount, reason=text)
            done = f"Refunded {format_amount(amount, order.currency)}."
        else:
            checkout_orders.order_void(order=order)
            done = f"Voided {format_amount(amount, order.currency)}."
    except ApplicationError as error:
        order.refresh_from_db()
        return _detail(dashboard, order, status=409, operation_error=error.message, operation=operation)
    messages.success(dashboard.request, done)
    return redirect("merchants:order-detail", order_id=order.public_id)


@require_POST
@dashboard_view(access="write")
def order_capture(dashboard: Dashboard, order_id: str) -> HttpResponse:
    return _operate(dashboard, order_id, "capture")


@require_POST
@dashboard_view(access="write")
def order_void(dashboard: Dashboard, order_id: str) -> HttpResponse:
    return _operate(dashboard, order_id, "void")


@require_POST
@dashboard_view(access="write")
def order_refund(dashboard: Dashboard, order_id: str) -> HttpResponse:
    return _operate(dashboard, order_id, "refund")
