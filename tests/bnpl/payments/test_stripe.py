"""The Stripe adapter through the official SDK and real HTTP, against localstripe (a local
Stripe-compatible server this module starts), and ``POST /webhooks/stripe``: only correctly signed,
fresh events are applied, each once, with the same end state in any order."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
import requests
from django.test import Client

from bnpl.checkout import orders as checkout_orders
from bnpl.collections import services as collections
from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError
from bnpl.core.services import clock_advance
from bnpl.payments.models import Charge, GatewayCustomer, PaymentMethod, StripeWebhookEvent
from bnpl.payments.services import (
    card_setup_start,
    charge_execute,
    charge_prepare,
    charges_settle_pending,
    payment_method_add,
    payment_method_from_setup,
)
from bnpl.servicing import services as servicing
from tests.bnpl.checkout.factories import make_authorized_order
from tests.consumers.factories import make_verified_consumer
from tests.helpers import ledger_ok, row_counts
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

SECRET = "whsec_test_secret"
LIVE_SECRET = "whsec_live_secret"


# --- The adapter against localstripe --------------------------------------------------------------


def test_cards_are_saved_on_one_customer_per_consumer(stripe_gateway: None) -> None:
    consumer = make_verified_consumer()
    first = payment_method_add(
        consumer=consumer, livemode=False, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    second = payment_method_add(
        consumer=consumer, livemode=False, number="5555555555554444", exp_month=12, exp_year=2035, cvc="123"
    )

    customer = GatewayCustomer.objects.get(holder=consumer.public_id).reference
    assert customer.startswith("cus_")
    assert first.gateway_token.startswith(f"{customer}|pm_") and second.gateway_token.startswith(f"{customer}|pm_")
    assert (first.gateway, first.last4, second.last4) == ("stripe", "4242", "4444")


def test_a_declined_card_is_refused_when_saved(stripe_gateway: None) -> None:
    with pytest.raises(InvalidRequestError) as declined:
        payment_method_add(
            consumer=make_verified_consumer(),
            livemode=False,
            number="4000000000000002",
            exp_month=12,
            exp_year=2035,
            cvc="123",
        )
    assert declined.value.param == "card_number"
    assert not PaymentMethod.objects.exists()


def test_checkout_collections_and_a_refund_run_through_stripe(tenant: Tenant, stripe_gateway: None) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    first = Charge.objects.get(kind="payment")
    assert first.status == "succeeded" and first.gateway_reference.startswith("pi_")

    clock_advance(by=dt.timedelta(days=14))
    assert collections.collections_run().succeeded == 1
    checkout_orders.order_capture(order=order, amount=10_000)
    checkout_orders.order_refund(order=order, amount=10_000)  # the 5,000 paid goes back to the card
    charges_settle_pending(older_than_seconds=0)  # what the after-commit send does outside a test

    refunds = Charge.objects.filter(kind="refund").order_by("pk")
    assert [(refund.amount, refund.status) for refund in refunds] == [(2_500, "succeeded"), (2_500, "succeeded")]
    assert all(refund.gateway_reference.startswith("re_") for refund in refunds)
    assert ledger_ok()


def test_an_off_session_charge_the_bank_wants_authenticated_fails_without_retry(
    tenant: Tenant, stripe_gateway: None
) -> None:
    consumer = make_verified_consumer()
    card = payment_method_add(
        consumer=consumer, livemode=False, number="4000002500003155", exp_month=12, exp_year=2035, cvc="123"
    )
    charge = charge_prepare(
        consumer=consumer, payment_method=card, amount=2_500, currency="USD", livemode=False, idempotency_key="k-3ds"
    )

    charge = charge_execute(charge=charge, off_session=True)

    assert (charge.status, charge.failure_code) == ("failed", "authentication_required")
    assert charge.gateway_reference.startswith("pi_")


def test_a_card_saved_through_a_setup_intent_is_the_consumers_own(stripe_gateway: None) -> None:
    consumer, stranger = make_verified_consumer(), make_verified_consumer()
    setup = card_setup_start(consumer=consumer, livemode=False, purpose="cs_1")
    assert setup is not None and setup.reference.startswith("seti_")
    assert card_setup_start(consumer=consumer, livemode=False, purpose="cs_1") is not None

    with pytest.raises(InvalidRequestError) as unconfirmed:
        payment_method_from_setup(consumer=consumer, livemode=False, reference=setup.reference)
    assert (unconfirmed.value.code, unconfirmed.value.param) == ("card_setup_incomplete", "setup_intent")
    _confirm_in_browser(setup.reference, setup.client_secret, "4242424242424242")  # what Stripe.js does

    with pytest.raises(InvalidRequestError):
        payment_method_from_setup(consumer=stranger, livemode=False, reference=setup.reference)  # not theirs to use
    saved = payment_method_from_setup(consumer=consumer, livemode=False, reference=setup.reference)
    again = payment_method_from_setup(consumer=consumer, livemode=False, reference=setup.reference)

    assert saved == again and (saved.gateway, saved.last4, saved.is_default) == ("stripe", "4242", True)
    assert saved.gateway_token.startswith(GatewayCustomer.objects.get(holder=consumer.public_id).reference + "|pm_")
    charge = charge_prepare(
        consumer=consumer, payment_method=saved, amount=2_500, currency="USD", livemode=False, idempotency_key="k-seti"
    )
    assert charge_execute(charge=charge, off_session=True).status == "succeeded"  # usable off-session
    with pytest.raises(InvalidRequestError):
        payment_method_from_setup(consumer=consumer, livemode=False, reference="seti_doesnotexist")


def _confirm_in_browser(reference: str, client_secret: str, number: str) -> None:
    """The call Stripe.js makes from the shopper's browser with the publishable key."""
    from django.conf import settings

    response = requests.post(
        f"{settings.STRIPE_API_BASE}/v1/setup_intents/{reference}/confirm",
        json={
            "key": settings.STRIPE_TEST_PUBLISHABLE_KEY,
            "client_secret": client_secret,
            "payment_method_data": {
                "type": "card",
                "card": {"number": number, "exp_month": "12", "exp_year": "2035", "cvc": "123"},
            },
        },
        timeout=10,
    )
    assert response.status_code == 200, response.text


def test_live_settlements_are_paid_to_the_merchants_connected_account(
    tenant: Tenant, stripe_live_gateway: None, settings: Any
) -> None:
    from merchants.models import Settlement
    from merchants.services import merchant_update
    from merchants.settlements import settlements_run

    order = make_authorized_order(merchant=tenant.merchant, livemode=True, amount=10_000)
    checkout_orders.order_capture(order=order, amount=10_000)
    cutoff = clock.now() + dt.timedelta(seconds=1)

    unpaid = settlements_run(cutoff=cutoff)  # no connected account yet: refused before calling Stripe
    failed = Settlement.objects.get()
    assert (unpaid.paid, failed.status, failed.livemode) == (0, "failed", True)
    assert "connected account" in failed.failure_message

    merchant_update(merchant=tenant.merchant, payout_account="acct_1Merchant")
    make_authorized_order(merchant=tenant.merchant, livemode=True, amount=4_000)
    checkout_orders.order_capture(order=order.__class__.objects.latest("id"), amount=4_000)
    run = settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))

    paid = Settlement.objects.get(status="paid")
    assert run.paid == 1 and paid.net_amount == run.paid_amount > 4_000  # the failed batch's net rolled in
    assert not paid.is_test_payout and paid.payout_reference.startswith("tr_")
    transfer = requests.get(
        f"{settings.STRIPE_API_BASE}/v1/transfers/{paid.payout_reference}",
        headers={"Authorization": "Bearer sk_live_localstripe"},
        timeout=10,
    ).json()
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (
        paid.net_amount,
        "usd",
        "acct_1Merchant",
    )
    assert ledger_ok()


def test_each_mode_has_its_own_customer_and_cards(stripe_gateway: None, stripe_live_gateway: None) -> None:
    consumer = make_verified_consumer()
    test_card = payment_method_add(
        consumer=consumer, livemode=False, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    live_card = payment_method_add(
        consumer=consumer, livemode=True, number="5555555555554444", exp_month=12, exp_year=2035, cvc="123"
    )

    customers = dict(GatewayCustomer.objects.filter(holder=consumer.public_id).values_list("livemode", "reference"))
    assert set(customers) == {False, True} and customers[False] != customers[True]
    assert test_card.gateway_token.startswith(customers[False] + "|") and test_card.livemode is False
    assert live_card.gateway_token.startswith(customers[True] + "|") and live_card.livemode is True
    assert test_card.is_default and live_card.is_default  # one default card per mode


def test_a_stripe_gateway_refuses_keys_of_the_other_mode(settings: Any, localstripe: str) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from bnpl.payments.stripe_gateway import StripeGateway

    settings.STRIPE_API_BASE = localstripe
    cases = [
        ("STRIPE_TEST_SECRET_KEY", "sk_live_123", False),
        ("STRIPE_TEST_SECRET_KEY", "rk_live_123", False),
        ("STRIPE_TEST_PUBLISHABLE_KEY", "pk_live_123", False),
        ("STRIPE_LIVE_SECRET_KEY", "sk_test_123", True),
        ("STRIPE_LIVE_PUBLISHABLE_KEY", "pk_test_123", True),
    ]
    for name, value, livemode in cases:
        settings.STRIPE_TEST_SECRET_KEY, settings.STRIPE_TEST_PUBLISHABLE_KEY = "sk_test_ok", "pk_test_ok"
        settings.STRIPE_LIVE_SECRET_KEY, settings.STRIPE_LIVE_PUBLISHABLE_KEY = "sk_live_ok", "pk_live_ok"
        setattr(settings, name, value)
        with pytest.raises(ImproperlyConfigured) as refused:
            StripeGateway(livemode=livemode)
        assert name in str(refused.value) and value not in str(refused.value), name  # named, never shown
    settings.STRIPE_TEST_SECRET_KEY = ""
    with pytest.raises(ImproperlyConfigured, match="STRIPE_TEST_SECRET_KEY is empty"):
        StripeGateway(livemode=False)


# --- POST /webhooks/stripe --------------------------------------------------------------------------


def _signed(body: bytes, *, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    timestamp = int(time.time()) if at is None else at
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={timestamp},v1={signature}"}


def _event(event_id: str, kind: str, charge: Charge, intent: str = "pi_123", *, livemode: bool = False) -> bytes:
    intent_object: dict[str, Any] = {
        "id": intent,
        "object": "payment_intent",
        "metadata": {"idempotency_key": charge.idempotency_key},
    }
    if kind == "payment_intent.payment_failed":
        intent_object["last_payment_error"] = {"code": "card_declined", "decline_code": "insufficient_funds"}
    event = {"id": event_id, "object": "event", "type": kind, "livemode": livemode, "data": {"object": intent_object}}
    return json.dumps(event).encode()


def _pending_charge(*, livemode: bool = False) -> Charge:
    consumer = make_verified_consumer()
    card = payment_method_add(
        consumer=consumer, livemode=livemode, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    return charge_prepare(
        consumer=consumer,
        payment_method=card,
        amount=2_500,
        currency="USD",
        livemode=livemode,
        idempotency_key=f"k-hook-{livemode}",
    )


def _post(body: bytes, headers: dict[str, str]) -> Any:
    return Client().post("/webhooks/stripe", body, content_type="application/json", headers=headers)


def test_only_correctly_signed_fresh_events_are_read(settings: Any) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    charge = _pending_charge()
    body = _event("evt_1", "payment_intent.succeeded", charge)
    before = row_counts()

    cases = {
        "unsigned": {},
        "wrong secret": _signed(body, secret="whsec_other"),
        "stale": _signed(body, at=int(time.time()) - 301),
    }
    for label, headers in cases.items():
        assert _post(body, headers).status_code == 400, label
    tampered = body.replace(b"evt_1", b"evt_2")
    assert _post(tampered, _signed(body)).status_code == 400

    assert row_counts() == before
    assert Charge.objects.get(pk=charge.pk).status == "pending"


def test_duplicated_and_shuffled_events_end_as_one_in_order_delivery(settings: Any) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    charge = _pending_charge()
    succeeded = _event("evt_ok", "payment_intent.succeeded", charge)
    failed_later = _event("evt_late_failure", "payment_intent.payment_failed", charge)  # an older attempt's

    for body in (succeeded, succeeded, failed_later, succeeded):
        assert _post(body, _signed(body)).status_code == 200

    charge.refresh_from_db()
    assert (charge.status, charge.gateway_reference) == ("succeeded", "pi_123")
    assert sorted(StripeWebhookEvent.objects.values_list("event_id", flat=True)) == ["evt_late_failure", "evt_ok"]


def test_a_failure_event_settles_a_pending_charge_as_failed(settings: Any) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    charge = _pending_charge()
    body = _event("evt_f", "payment_intent.payment_failed", charge)

    assert _post(body, _signed(body)).status_code == 200

    charge.refresh_from_db()
    assert (charge.status, charge.failure_code) == ("failed", "insufficient_funds")


def test_a_pay_now_settled_by_a_webhook_after_its_request_died_is_applied_to_the_plan(
    tenant: Tenant, settings: Any
) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000).plan
    card = plan.consumer.payment_methods.get()
    charge = charge_prepare(  # the pay-now request wrote its charge, sent it, and died
        consumer=plan.consumer,
        payment_method=card,
        amount=2_500,
        currency="USD",
        livemode=False,
        idempotency_key=f"{plan.public_id}:2:1",
        plan=plan,
    )
    body = _event("evt_paid", "payment_intent.succeeded", charge)
    assert _post(body, _signed(body)).status_code == 200

    clock_advance(by=dt.timedelta(minutes=5))
    assert servicing.plan_payments_apply_settled() == 1
    assert servicing.plan_payments_apply_settled() == 0

    assert plan.installments.get(sequence=2).status == "paid"
    assert ledger_ok()


def test_a_test_mode_event_never_settles_a_live_charge(settings: Any) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET, settings.STRIPE_LIVE_WEBHOOK_SECRET = SECRET, LIVE_SECRET
    live = _pending_charge(livemode=True)

    as_test = _event("evt_as_test", "payment_intent.succeeded", live)  # the test endpoint's event names it
    assert _post(as_test, _signed(as_test)).status_code == 200
    claims_live = _event("evt_claims_live", "payment_intent.succeeded", live, livemode=True)
    assert _post(claims_live, _signed(claims_live)).status_code == 400  # the test secret cannot sign a live event
    assert Charge.objects.get(pk=live.pk).status == "pending"

    real = _event("evt_live", "payment_intent.succeeded", live, livemode=True)
    assert _post(real, _signed(real, secret=LIVE_SECRET)).status_code == 200

    assert Charge.objects.get(pk=live.pk).status == "succeeded"
    modes = dict(StripeWebhookEvent.objects.values_list("event_id", "livemode"))
    assert modes == {"evt_as_test": False, "evt_live": True}


def test_a_live_event_never_settles_a_test_charge(settings: Any) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET, settings.STRIPE_LIVE_WEBHOOK_SECRET = SECRET, LIVE_SECRET
    test_charge = _pending_charge(livemode=False)

    live_event = _event("evt_live_names_test", "payment_intent.succeeded", test_charge, livemode=True)
    assert _post(live_event, _signed(live_event, secret=LIVE_SECRET)).status_code == 200
    claims_test = _event("evt_claims_test", "payment_intent.succeeded", test_charge)
    assert _post(claims_test, _signed(claims_test, secret=LIVE_SECRET)).status_code == 400

    assert Charge.objects.get(pk=test_charge.pk).status == "pending"
