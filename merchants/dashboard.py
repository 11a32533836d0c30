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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Count, Exists, F, Func, IntegerField, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, TruncDate

from bnpl.checkout.models import Capture, CheckoutSession, Dispute, Order, Refund
from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError
from bnpl.core.event_types import EVENT_TYPES
from bnpl.core.models import Event
from bnpl.core.money import format_amount
from bnpl.ledger.models import AccountCode
from bnpl.ledger.selectors import account_balance
from bnpl.tenancy.selectors import scoped_queryset
from merchants.models import Merchant, Settlement, WebhookDelivery, WebhookEndpoint

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
    def length(self) -> int:
        """How many days it has."""
        return (self.last - self.first).days + 1

    @property
    def previous(self) -> Period:
        """The same number of days just before it (what the tiles compare with)."""
        return Period(
            first=self.first - dt.timedelta(days=self.length), last=self.first - dt.timedelta(days=1), choice="custom"
        )

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


def _between(period: Period) -> Q:
    return Q(created_at__gte=period.start_at, created_at__lt=period.end_at)


def _span(periods: Sequence[Period]) -> Period:
    return Period(first=min(p.first for p in periods), last=max(p.last for p in periods), choice="custom")


def figures(*, merchant: Merchant, livemode: bool, currency: str, period: Period) -> Figures:
    return figures_for_periods(merchant=merchant, livemode=livemode, currency=currency, periods=[period])[0]


def figures_for_periods(
    *, merchant: Merchant, livemode: bool, currency: str, periods: Sequence[Period]
) -> list[Figures]:
    """The figures of each period (the chosen one and the one before it, say), with the queries of
    one: each aggregate spans the periods and sums each period's rows in a filter of its own."""
    zero = 0
    span = _span(periods)

    def per_period(**aggregates: Callable[[Q], Any]) -> dict[str, Any]:
        return {
            f"{name}_{index}": make(_between(period))
            for index, period in enumerate(periods)
            for name, make in aggregates.items()
        }

    captures = captures_in(merchant=merchant, livemode=livemode, currency=currency, period=span).aggregate(
        **per_period(
            amount=lambda within: Coalesce(Sum("amount", filter=within), zero),
            fee=lambda within: Coalesce(Sum("merchant_fee_amount", filter=within), zero),
            count=lambda within: Count("id", filter=within),
        )
    )
    refunds = refunds_in(merchant=merchant, livemode=livemode, currency=currency, period=span).aggregate(
        **per_period(
            amount=lambda within: Coalesce(Sum("amount", filter=within), zero),
            fee_back=lambda within: Coalesce(Sum("merchant_fee_refunded_amount", filter=within), zero),
            count=lambda within: Count("id", filter=within),
        )
    )
    orders = orders_in(merchant=merchant, livemode=livemode, currency=currency, period=span).aggregate(
        **per_period(
            amount=lambda within: Coalesce(Sum("authorized_amount", filter=within), zero),
            count=lambda within: Count("id", filter=within),
        )
    )
    decided_statuses = [CheckoutSession.Status.COMPLETE, CheckoutSession.Status.DECLINED]
    sessions = (
        _in_period(scoped_queryset(CheckoutSession, merchant=merchant, livemode=livemode), span)
        .filter(currency=currency)
        .aggregate(
            **per_period(
                decided=lambda within: Count("id", filter=within & Q(status__in=decided_statuses)),
                completed=lambda within: Count("id", filter=within & Q(status=CheckoutSession.Status.COMPLETE)),
            )
        )
    )
    pending = (
        scoped_queryset(Settlement, merchant=merchant, livemode=livemode)
        .filter(currency=currency, status=Settlement.Status.PENDING)
        .aggregate(amount=Coalesce(Sum("net_amount"), zero), count=Count("id"))
    )
    owed = -account_balance(code=AccountCode.MERCHANT_PAYABLE, currency=currency, livemode=livemode, merchant=merchant)
    return [
        Figures(
            currency=currency,
            captured_amount=captures[f"amount_{index}"],
            capture_count=captures[f"count_{index}"],
            refunded_amount=refunds[f"amount_{index}"],
            refund_count=refunds[f"count_{index}"],
            fee_amount=captures[f"fee_{index}"] - refunds[f"fee_back_{index}"],
            order_count=orders[f"count_{index}"],
            authorized_amount=orders[f"amount_{index}"],
            sessions_decided=sessions[f"decided_{index}"],
            sessions_completed=sessions[f"completed_{index}"],
            owed_amount=owed,
            pending_payout_amount=pending["amount"],
            pending_payout_count=pending["count"],
        )
        for index in range(len(periods))
    ]


@dataclass(frozen=True)
class Delta:
    """How a figure moved against the previous period, as a merchant reads it on a tile."""

    direction: str  # "up", "down" or "flat"
    text: str  # "+12% vs previous 30 days", "Up from none in the previous 7 days", "No change vs …"
    tone: str  # "good", "bad" or "neutral": whether the move is welcome (more refunds is not)


def delta(*, current: int, previous: int, period: Period, more_is_good: bool = True) -> Delta:
    """The change from ``previous`` to ``current`` in whole percent of ``previous`` (half up; under
    1% but not nothing reads "<1%"). From zero there is no percentage: "Up from none …"."""
    against = f"previous {period.length} day{'s' if period.length != 1 else ''}"
    if current == previous:
        return Delta("flat", f"No change vs {against}", "neutral")
    direction = "up" if current > previous else "down"
    tone = "good" if (direction == "up") == more_is_good else "bad"
    if previous == 0:
        return Delta(direction, f"Up from none in the {against}", tone)
    change = Decimal(abs(current - previous) * 100) / abs(previous)
    whole = change.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    sign = "+" if direction == "up" else "\u2212"  # a minus sign
    amount = "<1" if whole == 0 else f"{whole:,}"
    return Delta(direction, f"{sign}{amount}% vs {against}", tone)


def rate_delta(*, current: Decimal | None, previous: Decimal | None, period: Period) -> Delta | None:
    """A rate's change in percentage points; none when either period has no rate."""
    if current is None or previous is None:
        return None
    against = f"previous {period.length} day{'s' if period.length != 1 else ''}"
    if current == previous:
        return Delta("flat", f"No change vs {against}", "neutral")
    direction = "up" if current > previous else "down"
    sign = "+" if direction == "up" else "\u2212"  # a minus sign
    return Delta(direction, f"{sign}{abs(current - previous)} pts vs {against}", "good" if direction == "up" else "bad")


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


# --- Search and what needs the merchant ----------------------------------------------------------

SEARCH_LIMIT = 20


def quick_search(*, merchant: Merchant, livemode: bool, query: str) -> list[Order]:
    """The nav's search box: orders of this merchant in this mode whose id is ``query`` or whose
    reference or customer email contains it, newest first, at most ``SEARCH_LIMIT``. Another
    merchant's (or the other mode's) order is never found: the query starts from the scoped rows."""
    text = query.strip()
    if not text:
        return []
    queryset = scoped_queryset(Order, merchant=merchant, livemode=livemode).select_related(
        "checkout_session", "consumer"
    )
    matches = (
        Q(public_id=text)
        | Q(merchant_reference__icontains=text)
        | Q(checkout_session__customer_email__icontains=text)
        | Q(consumer__email__icontains=text)
    )
    return list(queryset.filter(matches).order_by("-created_at", "-id")[:SEARCH_LIMIT])


def _disputes_awaiting(merchant: Merchant, livemode: bool) -> QuerySet[Dispute]:
    return scoped_queryset(Dispute, merchant=merchant, livemode=livemode).filter(status=Dispute.Status.NEEDS_RESPONSE)


def _failing_endpoints(merchant: Merchant, livemode: bool) -> QuerySet[WebhookEndpoint]:
    """Enabled endpoints whose latest attempted delivery did not succeed (failed for good, or
    waiting to be retried after a failed attempt)."""
    latest = WebhookDelivery.objects.filter(endpoint=OuterRef("pk"), last_attempt_at__isnull=False).order_by(
        "-last_attempt_at", "-id"
    )
    return (
        scoped_queryset(WebhookEndpoint, merchant=merchant, livemode=livemode)
        .filter(status=WebhookEndpoint.Status.ENABLED)
        .annotate(
            latest_status=Subquery(latest.values("status")[:1]),
            latest_attempt_at=Subquery(latest.values("last_attempt_at")[:1]),
        )
        .filter(latest_status__in=[WebhookDelivery.Status.FAILED, WebhookDelivery.Status.PENDING])
    )


def _failed_payouts(merchant: Merchant, livemode: bool) -> QuerySet[Settlement]:
    """Failed payouts not yet followed by a paid one in the same currency."""
    paid_later = scoped_queryset(Settlement, merchant=merchant, livemode=livemode).filter(
        currency=OuterRef("currency"), status=Settlement.Status.PAID, created_at__gt=OuterRef("created_at")
    )
    return (
        scoped_queryset(Settlement, merchant=merchant, livemode=livemode)
        .filter(status=Settlement.Status.FAILED)
        .exclude(Exists(paid_later))
    )


def _count(queryset: QuerySet) -> Subquery:  # type: ignore[type-arg]
    """``SELECT COUNT(*) FROM (queryset)`` as a scalar subquery."""
    return Subquery(
        queryset.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")[:1], output_field=IntegerField()
    )


def attention_count(*, merchant: Merchant, livemode: bool) -> int:
    """How many things need the merchant (the nav's badge), in one query."""
    counts = (
        Merchant.objects.filter(pk=merchant.pk)
        .annotate(
            disputes=_count(_disputes_awaiting(merchant, livemode)),
            endpoints=_count(_failing_endpoints(merchant, livemode)),
            payouts=_count(_failed_payouts(merchant, livemode)),
        )
        .values_list("disputes", "endpoints", "payouts")
        .first()
    )
    return sum(int(value or 0) for value in counts or ())


@dataclass(frozen=True)
class Attention:
    """What needs the merchant, each kind oldest first."""

    disputes: list[Dispute]
    endpoints: list[WebhookEndpoint]
    payouts: list[Settlement]

    @property
    def count(self) -> int:
        return len(self.disputes) + len(self.endpoints) + len(self.payouts)


def attention(*, merchant: Merchant, livemode: bool) -> Attention:
    return Attention(
        disputes=list(_disputes_awaiting(merchant, livemode).select_related("order").order_by("respond_by", "id")),
        endpoints=list(_failing_endpoints(merchant, livemode).order_by("created_at", "id")),
        payouts=list(_failed_payouts(merchant, livemode).order_by("created_at", "id")),
    )


# --- The order's timeline in plain words ---------------------------------------------------------


@dataclass(frozen=True)
class TimelineEntry:
    at: dt.datetime
    sentence: str


_DISPUTE_STATUS_WORDS = {
    "refunded": "you refunded it",
    "won": "our team decided for you",
    "lost": "our team decided for the shopper and the amount was refunded",
    "withdrawn": "the shopper withdrew it",
}


def _money(data: dict[str, Any], field: str, currency: str) -> str:
    value = data.get(field)
    return format_amount(int(value), str(data.get("currency") or currency)) if isinstance(value, int) else ""


def timeline_sentence(event: Event, *, currency: str) -> str:
    """One event about an order, its checkout, plan or disputes, as a sentence for the merchant
    (amounts formatted in their currency; never the event's type or ids). A type without its own
    sentence reads as its catalogue description, which is plain words too."""
    data: dict[str, Any] = event.data if isinstance(event.data, dict) else {}

    missing: list[str] = []

    def money(field: str) -> str:
        formatted = _money(data, field, currency)
        if not formatted:
            missing.append(field)
        return formatted

    kind = str(data.get("kind") or "dispute").replace("_", " ")
    sentences: dict[str, Callable[[], str]] = {
        "checkout_session.created": lambda: f"Checkout opened for {money('amount')}.",
        "checkout_session.in_review": lambda: "The application went to our team for a manual review.",
        "checkout_session.review_approved": lambda: "Our team approved the application: the shopper could finish.",
        "checkout_session.completed": lambda: "The shopper was approved and confirmed the purchase.",
        "checkout_session.declined": lambda: "The shopper was declined.",
        "checkout_session.canceled": lambda: "The shopper went back to your shop without buying.",
        "checkout_session.expired": lambda: "Nobody finished the checkout in time.",
        "order.authorized": lambda: f"{money('authorized_amount')} authorized: capture it as you ship.",
        "order.captured": lambda: (
            f"Captured: {money('captured_amount')} of {money('authorized_amount')} captured so far."
        ),
        "order.voided": lambda: f"Released what was not captured: {money('voided_amount')} voided.",
        "order.refunded": lambda: f"Refunded: {money('refunded_amount')} refunded so far.",
        "order.authorization_expiring": lambda: "The authorization ends within 3 days: capture or void it.",
        "order.expired": lambda: "The authorization ended; what was not captured was released.",
        "order.refund_failed": lambda: (
            "The shopper's bank refused money sent back to their card: we keep it as "
            "their balance. Nothing for you to do."
        ),
        "plan.created": lambda: f"The shopper's payment plan started: {money('total_amount')} to pay.",
        "plan.reduced": lambda: f"The shopper's plan shrank after a refund or void: {money('total_amount')} to pay.",
        "plan.payment_succeeded": lambda: (
            f"The shopper made a payment: {money('paid_amount')} of {money('total_amount')} paid."
        ),
        "dispute.created": lambda: (
            f"The shopper opened a {kind} for {money('amount')}: refund or contest it before the deadline."
        ),
        "dispute.contested": lambda: f"You contested the {kind}: our team decides.",
        "dispute.escalated": lambda: f"The {kind} was not answered in time: our team decides.",
        "dispute.closed": lambda: (
            f"The {kind} closed: " + _DISPUTE_STATUS_WORDS.get(str(data.get("status")), "it is resolved") + "."
        ),
    }
    make = sentences.get(event.type)
    sentence = make() if make else None
    if sentence is None or missing:
        registered = EVENT_TYPES.get(event.type)
        return registered.description if registered else "Something changed on this order."
    return sentence


def order_timeline_entries(*, order: Order) -> list[TimelineEntry]:
    return [
        TimelineEntry(at=event.created_at, sentence=timeline_sentence(event, currency=order.currency))
        for event in order_timeline(order=order)
    ]
