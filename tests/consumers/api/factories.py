"""Objects of a consumer signed in through the app (``conftest.sign_in``), made through the real
services: a plan bought at a shop of its own (checkout, decision, first payment), a captured part to
return, a saved card, a bank-data consent."""

from __future__ import annotations

import datetime as dt
import itertools

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.disputes import dispute_open
from bnpl.checkout.models import Dispute
from bnpl.core import clock
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.services import payment_method_add
from bnpl.plans.models import Plan, ProductKind
from bnpl.tenancy.services import merchant_consumer_ensure
from consumers import selectors
from consumers.models import Consumer, Identity
from consumers.services import identity_submit
from decisioning import bank_data
from decisioning.models import BankDataConsent, CreditDecision
from tests.bnpl.checkout.factories import make_authorized_order
from tests.merchants.factories import make_tenant

_sequence = itertools.count(1)


def verified(consumer: Consumer) -> Consumer:
    """The consumer with their identity confirmed (as a first checkout does), once."""
    if not Identity.objects.filter(consumer=consumer).exists():
        identity_submit(
            consumer=consumer,
            legal_name="Ada Lovelace",
            date_of_birth=dt.date(1990, 5, 17),
            address_line1="1 Main St",
            city="Springfield",
            postal_code="12345",
            country="US",
            national_id_last4="1234",
        )
    return consumer


def make_app_plan(
    consumer: Consumer, *, kind: str = ProductKind.PAY_IN_4, amount: int = 10_000, captured: bool = True
) -> Plan:
    """A test-mode plan of ``consumer`` at a new shop, its first payment made, captured in full."""
    tenant = make_tenant(name=f"App shop {next(_sequence)}")
    order = make_authorized_order(
        merchant=tenant.merchant, livemode=False, amount=amount, kind=kind, consumer=verified(consumer)
    )
    if captured:
        checkout_orders.order_capture(order=order, amount=amount)
    return Plan.objects.get(order=order)


def make_app_receipt(consumer: Consumer) -> Charge:
    plan = make_app_plan(consumer)
    return Charge.objects.get(plan=plan, kind=Charge.Kind.PAYMENT, status=Charge.Status.SUCCEEDED)


def make_app_dispute(consumer: Consumer) -> Dispute:
    plan = make_app_plan(consumer)
    return dispute_open(order=plan.order, consumer=consumer, kind=Dispute.Kind.RETURN, amount=1_000)


def make_app_decision(consumer: Consumer) -> CreditDecision:
    plan = make_app_plan(consumer)
    decision = selectors.consumer_decisions(consumer=consumer).filter(merchant=plan.merchant).first()
    assert decision is not None
    return decision


def make_app_card(consumer: Consumer) -> PaymentMethod:
    return payment_method_add(
        consumer=consumer, livemode=False, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )


def make_app_consent(consumer: Consumer) -> BankDataConsent:
    tenant = make_tenant(name=f"Bank-data shop {next(_sequence)}")
    link = merchant_consumer_ensure(merchant=tenant.merchant, livemode=False, consumer=verified(consumer))
    return bank_data.consent_record(
        link=link, reference=f"consent-{link.public_id}", granted_at=clock.now() - dt.timedelta(days=1)
    )
