"""A confirm that died between taking the payment due today and writing the order (its process or
its database went away: tests/bnpl/ops/test_postgres_restart.py does it for real) leaves a payment
without an order. The shopper who confirms again has that payment applied, charged once; a shopper
who never does gets it back once the session can no longer make an order, once."""

from __future__ import annotations

import datetime as dt

import pytest

from bnpl.checkout import confirmation
from bnpl.checkout.models import CheckoutSession
from bnpl.checkout.sessions import checkout_sessions_expire
from bnpl.checkout.step_up import checkout_card_add
from bnpl.core.services import clock_advance
from bnpl.payments.models import Charge, PaymentMethod, SandboxGatewayCharge
from bnpl.payments.services import charge_execute, charge_prepare
from consumers.models import Consumer
from tests.bnpl.checkout.factories import make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.helpers import ledger_ok
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

DUE_TODAY = 2_500  # pay in 4 of $100.00


def _card(session: CheckoutSession, consumer: Consumer, number: str = "4242424242424242") -> PaymentMethod:
    return checkout_card_add(session=session, consumer=consumer, number=number, exp_month=12, exp_year=2035, cvc="123")


def _died_after_the_charge(session: CheckoutSession, consumer: Consumer, card: PaymentMethod) -> Charge:
    """What the confirm had done when it died: the payment due today prepared and taken, no order."""
    charge = charge_prepare(
        consumer=consumer,
        payment_method=card,
        amount=DUE_TODAY,
        currency="USD",
        livemode=False,
        idempotency_key=confirmation.first_payment_key(session=session, payment_method=card, amount=DUE_TODAY),
    )
    charge = charge_execute(charge=charge, off_session=False)
    assert charge.status == Charge.Status.SUCCEEDED
    return charge


def _confirm(tenant: Tenant, session: CheckoutSession, consumer: Consumer, card: PaymentMethod) -> object:
    result = confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product_for(tenant.merchant, False), payment_method=card
    )
    assert result.order is not None, result
    return result.order


def _gateway_charges(charge: Charge) -> int:
    return SandboxGatewayCharge.objects.filter(kind="charge", idempotency_key=charge.idempotency_key).count()


def test_confirming_again_applies_the_payment_already_taken_and_charges_the_card_once(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    consumer = make_verified_consumer()
    card = _card(session, consumer)
    orphan = _died_after_the_charge(session, consumer, card)

    order = _confirm(tenant, session, consumer, card)

    orphan.refresh_from_db()
    assert orphan.applied_at is not None and orphan.plan is not None and orphan.plan.order_id == order.pk  # type: ignore[attr-defined]
    assert _gateway_charges(orphan) == 1
    assert confirmation.first_payments_orphaned_give_back() == 0
    assert not orphan.refund_charges.exists()
    assert ledger_ok()


def test_a_payment_whose_shopper_never_came_back_is_given_back_once_the_session_expires(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    consumer = make_verified_consumer()
    orphan = _died_after_the_charge(session, consumer, _card(session, consumer))

    assert confirmation.first_payments_orphaned_give_back() == 0  # the shopper may still confirm
    clock_advance(by=dt.timedelta(hours=49))
    assert confirmation.first_payments_orphaned_give_back() == 1  # expired by the clock, before the sweep marks it
    checkout_sessions_expire()
    assert confirmation.first_payments_orphaned_give_back() == 0  # once

    [refund] = orphan.refund_charges.all()
    assert (refund.kind, refund.status, refund.amount) == ("refund", "succeeded", DUE_TODAY)
    assert SandboxGatewayCharge.objects.filter(kind="refund", idempotency_key=refund.idempotency_key).count() == 1
    assert ledger_ok()


def test_a_payment_left_behind_by_a_confirm_another_card_completed_is_given_back(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    consumer = make_verified_consumer()
    orphan = _died_after_the_charge(session, consumer, _card(session, consumer))
    other = _card(session, consumer, number="4000000000005126")  # another card that pays

    order = _confirm(tenant, session, consumer, other)  # the shopper came back with another card

    assert order is not None
    assert confirmation.first_payments_orphaned_give_back() == 1
    assert confirmation.first_payments_orphaned_give_back() == 0
    assert orphan.refund_charges.get().status == "succeeded"
    assert ledger_ok()
