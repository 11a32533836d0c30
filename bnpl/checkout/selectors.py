"""Reads of checkout sessions and orders shared by the hosted checkout and the partner API.

A list's rows carry what their representations read (annotated or prefetched here), so a page costs
the same few queries whatever its length; ``checkout_session_order_id`` and ``merchant_consumer_id``
read those annotations, or ask the database for a single object that was not listed."""

from __future__ import annotations

from django.db.models import F, QuerySet

from bnpl.checkout.loading import LISTED_MERCHANT_CONSUMER_ID as _LISTED_MERCHANT_CONSUMER_ID
from bnpl.checkout.loading import ORDER_REPRESENTATION
from bnpl.checkout.models import CheckoutSession, Order
from bnpl.core import clock
from bnpl.core.compiled import CompiledSelect
from bnpl.payments.models import Charge
from bnpl.plans import services as plan_services
from bnpl.plans.models import Installment
from bnpl.tenancy import selectors as tenancy
from decisioning import checkout_outcome_prefetch
from merchants.models import Merchant

# The annotations a list's rows carry (public ids): read through the functions below.
_LISTED_ORDER_ID = "listed_order_public_id"


def checkout_session_list(*, merchant: Merchant, livemode: bool) -> QuerySet[CheckoutSession]:
    """The merchant's sessions in one mode, each with its order's id, the merchant's id for its
    consumer and its latest credit decision."""
    return (
        tenancy.scoped_queryset(CheckoutSession, merchant=merchant, livemode=livemode)
        .annotate(
            **{
                _LISTED_ORDER_ID: F("order__public_id"),
                _LISTED_MERCHANT_CONSUMER_ID: tenancy.merchant_consumer_id_subquery(),
            }
        )
        .prefetch_related(checkout_outcome_prefetch())
    )


def order_list(*, merchant: Merchant, livemode: bool) -> QuerySet[Order]:
    """The merchant's orders in one mode, each with its session, plan, captures and refunds and the
    merchant's id for its consumer (``ORDER_REPRESENTATION``: give each order read to its ``finish``)."""
    return ORDER_REPRESENTATION.shape(tenancy.scoped_queryset(Order, merchant=merchant, livemode=livemode))


def checkout_session_order_id(session: CheckoutSession) -> str | None:
    """The public id of the session's order; None until there is one."""
    if hasattr(session, _LISTED_ORDER_ID):
        return getattr(session, _LISTED_ORDER_ID)
    return Order.objects.filter(checkout_session=session).values_list("public_id", flat=True).first()


def merchant_consumer_id(instance: CheckoutSession | Order) -> str | None:
    """The merchant's own id (``cus_…``) for the consumer named on a session or an order: None until
    that consumer has confirmed a purchase at the merchant (the link is made then)."""
    if hasattr(instance, _LISTED_MERCHANT_CONSUMER_ID):
        return getattr(instance, _LISTED_MERCHANT_CONSUMER_ID)
    return tenancy.merchant_consumer_id(
        merchant_id=instance.merchant_id, livemode=instance.livemode, consumer_id=instance.consumer_id
    )


def checkout_session_offers(session: CheckoutSession) -> list[plan_services.Offer]:
    """What the hosted checkout offers on ``session`` today: every enabled product of the session's
    kinds that takes its amount, each with its exact schedule and Truth in Lending box from today.
    The page lists exactly these, and the API's ``offers`` shows them, so both say the same APR."""
    return plan_services.offers_for(
        merchant=session.merchant,
        livemode=session.livemode,
        currency=session.currency,
        amount=session.amount,
        kinds=session.product_kinds,
    )


def checkout_session_is_open(session: CheckoutSession) -> bool:
    """The shopper can still act on it: open and not past its expiry (whether or not the expiry
    sweep has run yet)."""
    return session.status == CheckoutSession.Status.OPEN and clock.now() < session.expires_at


# The hosted checkout's reads on every purchase, compiled once per process (``bnpl.core.compiled``).
# The session by public id with its merchant and the merchant's branding (every page shows it:
# ``consumers.checkout_summary.order_summary``).
_SESSION_FOR_PAGE: CompiledSelect[CheckoutSession] = CompiledSelect(
    lambda public_id: (
        CheckoutSession.objects.select_related("merchant__branding").filter(public_id=public_id).order_by("pk")[:1]
    )
)
# The approval page's: the session's order with its plan and product, the plan's first payment with
# its card, and its installments.
_ORDER_WITH_PLAN: CompiledSelect[Order] = CompiledSelect(
    lambda session_id: Order.objects.select_related("plan__product").filter(checkout_session_id=session_id)
)
_FIRST_PAYMENT: CompiledSelect[Charge] = CompiledSelect(
    lambda plan_id: (
        Charge.objects.select_related("payment_method")
        .filter(plan_id=plan_id, kind=Charge.Kind.PAYMENT, status=Charge.Status.SUCCEEDED)
        .order_by("created_at", "pk")[:1]
    )
)
_INSTALLMENTS: CompiledSelect[Installment] = CompiledSelect(
    lambda plan_id: Installment.objects.filter(plan_id=plan_id).order_by("due_date", "sequence")
)


def checkout_session_for_page(*, public_id: str) -> CheckoutSession | None:
    """A session by its public id, as the hosted pages show it (with its merchant and branding).
    Any merchant's: the hosted checkout is public, its id the shopper's only key to it."""
    return _SESSION_FOR_PAGE.first(public_id)


def checkout_session_order_with_plan(*, session_id: int) -> Order | None:
    """The session's order with its plan and the plan's product (None: no order)."""
    return _ORDER_WITH_PLAN.first(session_id)


def plan_first_payment(*, plan_id: int) -> Charge | None:
    """The plan's first successful payment, with its card (None: nothing paid yet)."""
    return _FIRST_PAYMENT.first(plan_id)


def plan_installments_by_due_date(*, plan_id: int) -> list[Installment]:
    return _INSTALLMENTS.rows(plan_id)
