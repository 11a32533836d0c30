"""Factories for checkout sessions, orders, plans, products and disputes, made through the real services
(the hosted flow's confirm included)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout import sessions as checkout_sessions
from bnpl.checkout.disputes import dispute_open
from bnpl.checkout.models import CheckoutSession, Dispute, Order
from bnpl.checkout.step_up import checkout_card_add
from bnpl.plans.models import PaymentProduct, Plan, ProductKind
from consumers.models import Consumer
from decisioning.policy import Application
from merchants.models import Merchant
from tests.consumers.factories import make_verified_consumer

if TYPE_CHECKING:  # tests.merchants.factories imports this module
    from tests.merchants.factories import Tenant

_sequence = itertools.count(1)
TEST_CARD = "4242 4242 4242 4242"
# The hosted checkout's identity form, filled as a shopper would.
IDENTITY_FORM = {
    "legal_name": "Ada Lovelace",
    "date_of_birth": "1990-05-17",
    "address_line1": "1 Main St",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
    "national_id_last4": "6789",
}


def make_checkout_session(
    *, merchant: Merchant, livemode: bool, amount: int = 10000, currency: str = "USD"
) -> CheckoutSession:
    return checkout_sessions.checkout_session_create(
        merchant=merchant,
        livemode=livemode,
        amount=amount,
        currency=currency,
        line_items=[{"name": f"Item {next(_sequence)}", "quantity": 1, "unit_amount": amount}],
        return_url="https://shop.example.com/thanks",
        cancel_url="https://shop.example.com/cart",
        merchant_reference=f"ref-{next(_sequence)}",
    )


def product_for(
    merchant: Merchant, livemode: bool, kind: str = ProductKind.PAY_IN_4, count: int | None = None
) -> PaymentProduct:
    products = PaymentProduct.objects.filter(merchant=merchant, livemode=livemode, kind=kind, currency="USD")
    if count is not None:
        products = products.filter(installment_count=count)
    return products.order_by("installment_count").first()  # type: ignore[return-value]


def make_authorized_order(
    *,
    merchant: Merchant,
    livemode: bool,
    amount: int = 10000,
    kind: str = ProductKind.PAY_IN_4,
    count: int | None = None,
    consumer: Consumer | None = None,
    card: str = TEST_CARD,
) -> Order:
    session = make_checkout_session(merchant=merchant, livemode=livemode, amount=amount)
    consumer = consumer or make_verified_consumer()
    payment_method = checkout_card_add(
        session=session, consumer=consumer, number=card, exp_month=12, exp_year=2035, cvc="123"
    )
    result = checkout_confirmation.checkout_confirm(
        session=session,
        consumer=consumer,
        product=product_for(merchant, livemode, kind, count),
        payment_method=payment_method,
    )
    assert result.order is not None, (result.decision, result.payment_error)
    return result.order


def make_order(*, merchant: Merchant, livemode: bool) -> Order:
    """Half captured: every order operation (capture, void, refund) has something to act on."""
    order = make_authorized_order(merchant=merchant, livemode=livemode, amount=10000)
    checkout_orders.order_capture(order=order, amount=5000)
    order.refresh_from_db()
    return order


def make_plan(*, merchant: Merchant, livemode: bool) -> Plan:
    return make_order(merchant=merchant, livemode=livemode).plan


def make_payment_product(*, merchant: Merchant, livemode: bool) -> PaymentProduct:
    return product_for(merchant, livemode)


def make_dispute(*, merchant: Merchant, livemode: bool) -> Dispute:
    order = make_order(merchant=merchant, livemode=livemode)
    return dispute_open(order=order, consumer=order.consumer, kind=Dispute.Kind.RETURN, amount=1000)


def application_for(tenant: Tenant, *, email: str) -> Application:
    """A credit application of a new verified shopper at ``tenant`` for 100.00 USD, in the sandbox."""
    return Application(
        consumer=make_verified_consumer(email=email),
        merchant=tenant.merchant,
        product=product_for(tenant.merchant, False),
        amount=10000,
        currency="USD",
        livemode=False,
        checkout_session=make_checkout_session(merchant=tenant.merchant, livemode=False),
    )
