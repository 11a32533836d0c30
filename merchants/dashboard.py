"""The dashboard's figures: reads only, one aggregate query per figure, scoped to one merchant, one
mode and one currency (amounts of different currencies are never added). Definitions, also in
``docs/dashboard.md``; a period is whole UTC days by the project clock, ``[start 00:00, end+1 00:00)``:

* **Sales volume**: the sum of captures made in the period (``Capture.amount``), and their count.
* **Refunds**: the sum of refunds made in the period (``Refund.amount``), and their count.
* **Net sales**: sales volume - refunds.
* **Fees**: fees kept on those captures - fees given back on those refunds.
* **Orders**: orders authorized in the period (``Order.created_at``), and their authorized sum.
* **Average order value**: that sum / that count, rounded half up to the minor unit.
* **Approval rate**: checkout sessions created in the period that completed (an order was made),
  over those that reached a decision (completed or declined); sessions still open, in review,
  canceled or expired are left out.
* **Upcoming payouts**: what the ledger says is owed to the merchant right now (minus the balance of
  its ``merchant_payable`` account; not period-bound), and the batches waiting to be paid.

Each sum here equals the matching sum of ledger postings (``tests/merchants/test_dashboard_figures.py``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate

from bnpl.checkout.models import Capture, CheckoutSession, Order, Refund
from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError
from bnpl.core.models import Event
from bnpl.ledger.models import AccountCode
from bnpl.ledger.selectors import account_balance
from bnpl.tenancy.selectors import scoped_queryset
from merchants.models import Merchant, Settlement

PERIOD_CHOICES = {"7": 7, "30": 30, "90": 90}
DEFAULT_PERIOD = "30"
MAX_CUSTOM_DAYS = 366


@dataclass(frozen=True)
class Period:
    """Whole UTC days, ``first`` to ``last`` inclusive."""

    first: dt.date
    last: dt.date
    choice: str  # "7", "30", "90" or "custom"

    @property
    def start_at(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time.min, tzinfo=dt.UTC)

    @property
    def end_at(self) -> dt.datetime:
        """Exclusive: midnight after the last day."""
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)

    @property
    def days(self) -> list[dt.date]:
        return [self.first + dt.timedelta(days=offset) for offset in range((self.last - self.first).days + 1)]


def period_for(*, choice: str = DEFAULT_PERIOD, first: str = "", last: str = "") -> Period:
    """The last 7, 30 or 90 days up to today (by the project clock), or a custom range of dates."""
    today = clock.today()
    if choice == "custom":
        try:
            first_day, last_day = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
        except ValueError:
            raise InvalidRequestError("Give both dates as YYYY-MM-DD.", param="first") from None
        if last_day < first_day:
            raise InvalidRequestError("The period ends before it starts.", param="last")
        if (last_day - first_day).days >= MAX_CUSTOM_DAYS:
            raise InvalidRequestError("A period is at most a year.", param="first")
        return Period(first=first_day, last=last_day, choice="custom")
    days = PERIOD_CHOICES.get(choice, PERIOD_CHOICES[DEFAULT_PERIOD])
    return Period(first=today - dt.timedelta(days=days - 1), last=today, choice=str(days))


@dataclass(frozen=True)
class Figures:
    currency: str
    captured_amount: int
    capture_count: int
    refunded_amount: int
    refund_count: int
    fee_amount: int
    order_count: int
    authorized_amount: int
    sessions_decided: int
    sessions_completed: int
    owed_amount: int  # minor units the ledger says are owed to the merchant now
    pending_payout_amount: int  # batches computed, waiting for the gateway
    pending_payout_count: int

    @property
    def net_sales_amount(self) -> int:
        return self.captured_amount - self.refunded_amount

    @property
    def average_order_amount(self) -> int | None:
        if not self.order_count:
            return None
        return int((Decimal(self.authorized_amount) / self.order_count).quantize(Decimal(1), rounding=ROUND_HALF_UP))

    @property
    def approval_rate(self) -> Decimal | None:
        """Percent with one decimal, or None when no session reached a decision."""
        if not self.sessions_decided:
            return None
        return (Decimal(100 * self.sessions_completed) / self.sessions_decided).quantize(
            Decimal("0.1"), rounding=ROUND_HALF_UP
        )


def _in_period(queryset: QuerySet, period: Period) -> QuerySet:  # type: ignore[type-arg]
    return queryset.filter(created_at__gte=period.start_at, created_at__lt=period.end_at)


def captures_in(*, merchant: Merchant, livemode: bool, currency: str, period: Period) -> QuerySet[Capture]:
    return _in_period(scoped_queryset(Capture, merchant=merchant, livemode=livemode), period).filter(
        order__currency=currency
    )


def refunds_in(*, merchant: Merchant, livemode: bool, currency: str, period: Period) -> QuerySet[Refund]:
    return _in_period(scoped_queryset(Refund, merchant=merchant, livemode=livemode), period).filter(
        order__currency=currency
    )


def orders_in(*, merchant: Merchant, livemode: bool, currency: str, period: Period) -> QuerySet[Order]:
    return _in_period(scoped_queryset(Order, merchant=merchant, livemode=livemode), period).filter(currency=currency)


def figures(*, merchant: Merchant, livemode: bool, currency: str, period: Period) -> Figures:
    zero = 0
    captures = captures_in(merchant=merchant, livemode=livemode, currency=currency, period=period).aggregate(
        amount=Coalesce(Sum("amount"), zero), fee=Coalesce(Sum("merchant_fee_amount"), zero), count=Count("id")
    )
    refunds = refunds_in(merchant=merchant, livemode=livemode, currency=currency, period=period).aggregate(
        amount=Coalesce(Sum("amount"), zero),
        fee_back=Coalesce(Sum("merchant_fee_refunded_amount"), zero),
        count=Count("id"),
    )
    orders = orders_in(merchant=merchant, livemode=livemode, currency=currency, period=period).aggregate(
        amount=Coalesce(Sum("authorized_amount"), zero), count=Count("id")
    )
    sessions = _in_period(scoped_queryset(CheckoutSession, merchant=merchant, livemode=livemode), period).aggregate(
        decided=Count(
            "id",
            filter=Q(
                currency=currency,
                status__in=[CheckoutSession.Status.COMPLETE, CheckoutSession.Status.DECLINED],
            ),
        ),
        completed=Count("id", filter=Q(currency=currency, status=CheckoutSession.Status.COMPLETE)),
    )
    pending = (
        scoped_queryset(Settlement, merchant=merchant, livemode=livemode)
        .filter(currency=currency, status=Settlement.Status.PENDING)
        .aggregate(amount=Coalesce(Sum("net_amount"), zero), count=Count("id"))
    )
    owed = -account_balance(code=AccountCode.MERCHANT_PAYABLE, currency=currency, livemode=livemode, merchant=merchant)
    return Figures(
        currency=currency,
        captured_amount=captures["amount"],
        capture_count=captures["count"],
        refunded_amount=refunds["amount"],
        refund_count=refunds["count"],
        fee_amount=captures["fee"] - refunds["fee_back"],
        order_count=orders["count"],
        authorized_amount=orders["amount"],
        sessions_decided=sessions["decided"],
        sessions_completed=sessions["completed"],
        owed_amount=owed,
        pending_payout_amount=pending["amount"],
        pending_payout_count=pending["count"],
    )


@dataclass(frozen=True)
class DailySeries:
    days: list[dt.date]
    captured_amounts: list[int]  # per day, minor units; sums to Figures.captured_amount
    refunded_amounts: list[int]
    order_counts: list[int]  # per day; sums to Figures.order_count


def _per_day(queryset: QuerySet, value: str) -> dict[dt.date, int]:  # type: ignore[type-arg]
    aggregate = Sum(value) if value != "id" else Count("id")
    rows = queryset.annotate(day=TruncDate("created_at")).values("day").annotate(total=aggregate).order_by("day")
    return {row["day"]: int(row["total"] or 0) for row in rows}


def daily_series(*, merchant: Merchant, livemode: bool, currency: str, period: Period) -> DailySeries:
    """One grouped query per series; days without activity are zero."""
    scope: dict[str, Any] = {"merchant": merchant, "livemode": livemode, "currency": currency, "period": period}
    captured = _per_day(captures_in(**scope), "amount")
    refunded = _per_day(refunds_in(**scope), "amount")
    orders = _per_day(orders_in(**scope), "id")
    days = period.days
    return DailySeries(
        days=days,
        captured_amounts=[captured.get(day, 0) for day in days],
        refunded_amounts=[refunded.get(day, 0) for day in days],
        order_counts=[orders.get(day, 0) for day in days],
    )


# --- Orders: search and timeline -----------------------------------------------------------------


@dataclass(frozen=True)
class OrderFilters:
    """What the orders list filters by; empty values filter nothing. Amounts are minor units."""

    status: str = ""
    created_from: dt.date | None = None  # inclusive UTC date
    created_to: dt.date | None = None  # inclusive UTC date
    amount_min: int | None = None  # authorized amount, inclusive
    amount_max: int | None = None
    reference: str = ""  # the merchant's reference (contains) or the order id (exact)
    customer_email: str = ""  # contains, case-insensitive
    currency: str = ""


def order_search(*, merchant: Merchant, livemode: bool, filters: OrderFilters) -> QuerySet[Order]:
    """The orders list and its CSV export: newest first."""
    queryset = scoped_queryset(Order, merchant=merchant, livemode=livemode).select_related(
        "checkout_session", "consumer"
    )
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.currency:
        queryset = queryset.filter(currency=filters.currency)
    if filters.created_from:
        queryset = queryset.filter(
            created_at__gte=dt.datetime.combine(filters.created_from, dt.time.min, tzinfo=dt.UTC)
        )
    if filters.created_to:
        end = dt.datetime.combine(filters.created_to + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        queryset = queryset.filter(created_at__lt=end)
    if filters.amount_min is not None:
        queryset = queryset.filter(authorized_amount__gte=filters.amount_min)
    if filters.amount_max is not None:
        queryset = queryset.filter(authorized_amount__lte=filters.amount_max)
    if filters.reference:
        queryset = queryset.filter(
            Q(merchant_reference__icontains=filters.reference) | Q(public_id=filters.reference.strip())
        )
    if filters.customer_email:
        email = filters.customer_email.strip()
        queryset = queryset.filter(
            Q(checkout_session__customer_email__icontains=email) | Q(consumer__email__icontains=email)
        )
    return queryset.order_by("-created_at", "-id")


def order_customer_email(order: Order) -> str:
    return order.checkout_session.customer_email or order.consumer.email or ""


def order_timeline(*, order: Order) -> QuerySet[Event]:
    """Every merchant-visible event about the order, its checkout session, its plan and its
    disputes, oldest first."""
    object_ids = [order.public_id, order.checkout_session.public_id]
    plan = getattr(order, "plan", None)
    if plan is not None:
        object_ids.append(plan.public_id)
    object_ids += list(order.disputes.values_list("public_id", flat=True))
    return (
        scoped_queryset(Event, merchant=order.merchant, livemode=order.livemode)
        .filter(object_id__in=object_ids)
        .order_by("created_at", "id")
    )
