"""Orders: search and filter, export, the detail with its timeline, and capture / void / refund
through the same services (and so the same rules) as the API, each after a confirmation step."""

from __future__ import annotations

import csv
import io
from decimal import InvalidOperation

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Order
from bnpl.checkout.selectors import merchant_consumer_id
from bnpl.core.errors import ApplicationError, InvalidRequestError
from bnpl.core.money import format_amount, from_decimal, to_decimal
from bnpl.core.replica import reporting_reads
from merchants import dashboard as dashboard_selectors
from merchants.views.base import CONFIRMATIONS_SESSION_KEY, Dashboard, dashboard_view

__all__ = ["CONFIRMATIONS_SESSION_KEY"]  # the one-use tokens of the confirmation steps (tests take them)

PAGE_SIZE = 25


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
    with reporting_reads():  # a bulk export: the read replica's work when there is one
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


def _line_items(order: Order) -> list[dict[str, object]]:
    """The checkout's line items (as the merchant sent them), amounts formatted."""
    items = order.checkout_session.line_items if isinstance(order.checkout_session.line_items, list) else []
    rows = []
    for item in items:
        if not isinstance(item, dict):
            continue
        unit, total = item.get("unit_amount"), item.get("total_amount")
        rows.append(
            {
                "name": str(item.get("name", "")),
                "sku": str(item.get("sku", "")),
                "quantity": item.get("quantity", ""),
                "unit": format_amount(unit, order.currency) if isinstance(unit, int) else "",
                "total": format_amount(total, order.currency) if isinstance(total, int) else "",
            }
        )
    return rows


def _plan(order: Order) -> dict[str, object] | None:
    """The plan bought: its type (the product), its status and the shopper's standing on it."""
    plan = getattr(order, "plan", None)
    if plan is None:
        return None
    product = plan.product
    return {
        "plan": plan,
        "kind": product.get_kind_display(),
        "product": product.name,
        "installments": product.installment_count,
        "status": plan.get_status_display(),
        "standing": plan.get_standing_display(),
        "paused": plan.collections_paused,
    }


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
            "disputes": [(dispute, format_amount(dispute.amount, currency)) for dispute in order.disputes.all()],
            "line_items": _line_items(order),
            "customer": {
                "email": order.checkout_session.customer_email or order.consumer.email or "",
                "phone": order.checkout_session.customer_phone,
                "id": merchant_consumer_id(order),
            },
            "plan": _plan(order),
            "timeline": dashboard_selectors.order_timeline_entries(order=order),
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


def _check_amount(order: Order, operation: str, amount: int) -> None:
    """Refuse at the form what the service would refuse after the confirmation: a capture above
    what is still open, a refund above what is refundable (the service checks again, under lock)."""
    currency = order.currency
    if amount <= 0:
        raise InvalidRequestError("Enter a positive amount.", param="amount")
    if operation == "capture" and amount > order.open_amount:
        raise InvalidRequestError(
            f"At most {format_amount(order.open_amount, currency)} is left to capture on this order.", param="amount"
        )
    if operation == "refund" and amount > order.refundable_amount:
        raise InvalidRequestError(
            f"At most {format_amount(order.refundable_amount, currency)} of this order can be refunded.",
            param="amount",
        )


def _said_in_money(order: Order, operation: str, amount: int, error: ApplicationError) -> ApplicationError:
    """A refusal from the service after confirming (another capture or refund came first): the
    form's own check on the order as it is now, which names the amounts in money, when it applies."""
    try:
        _check_amount(order, operation, amount)
    except ApplicationError as stale:
        return stale
    return error


def _refused(
    dashboard: Dashboard, order: Order, operation: str, error: ApplicationError, *, status: int
) -> HttpResponse:
    """The order page again, the error next to the amount field of the form at fault (or at the top
    when it is not about the amount), with what the member typed kept."""
    field_error = error.message if error.param == "amount" and operation != "void" else ""
    return _detail(
        dashboard,
        order,
        status=status,
        operation=operation,
        operation_error="" if field_error else error.message,
        field_error=field_error,
        typed_amount=dashboard.request.POST.get("amount", "")[:40],
        typed_text=dashboard.request.POST.get("text", "")[:200],
    )


def _operate(dashboard: Dashboard, order_id: str, operation: str) -> HttpResponse:
    """Step one (no ``confirmation``): show what will happen and ask. Step two: do it once."""
    order = dashboard.get(Order, order_id)
    post = dashboard.request.POST
    token = post.get("confirmation", "")
    if token and token not in dashboard.request.session.get(CONFIRMATIONS_SESSION_KEY, []):
        messages.info(dashboard.request, "That confirmation was already used: nothing more was done.")
        return redirect("merchants:order-detail", order_id=order.public_id)
    try:
        amount = _amount(dashboard, order) if operation != "void" else order.open_amount
        _check_amount(order, operation, amount)
    except ApplicationError as error:
        return _refused(dashboard, order, operation, error, status=400)
    text = post.get("text", "")[:200]
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
                "confirmation": dashboard.confirmation_issue(),
            },
        )
    if not dashboard.confirmation_use(token):
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
        return _refused(dashboard, order, operation, _said_in_money(order, operation, amount, error), status=409)
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
