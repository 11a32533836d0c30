"""Security finding (issue 13 item 2): test mode moved real money. One gateway served both modes,
so with a live key configured a test-mode checkout charged a real saved card, collections kept
charging it, and test settlements were paid out as real transfers.

Reproduced with distinct gateways per mode: test mode on the sandbox, live mode on ``LiveGateway``
(the sandbox's behaviour plus a record of every call, as a real processor's log would show).
``PAYMENT_GATEWAY``, the one gateway the old code read, is set to the live gateway too, as a
deployment with a live key had it. The shopper works through the hosted pages; collections and
settlements run as their periodic tasks do. Then:

* the live card (saved at a live checkout) is neither offered nor accepted at a test checkout;
* the test checkout, its collections and its settlement never reach the live gateway: every call
  the live gateway received is for a live charge or a live settlement;
* the test settlement is paid out through no gateway at all.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import pytest
from django.test import Client

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import CheckoutSession, Order
from bnpl.collections.services import collections_run
from bnpl.core import clock
from bnpl.core.services import clock_advance
from bnpl.payments.gateways import CardDetails, GatewayResult, SandboxGateway
from bnpl.payments.models import Charge, PaymentMethod, SandboxGatewayCharge
from consumers.models import Consumer
from consumers.selectors import SESSION_KEY
from merchants.models import Settlement
from merchants.settlements import settlements_run
from tests.bnpl.checkout.factories import make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

LIVE_GATEWAY = f"{__name__}.LiveGateway"


class LiveGateway(SandboxGateway):
    """Live mode's gateway here: behaves as the sandbox, and records each call with the key it
    carried (a card save or check has none: the card's last digits stand in)."""

    calls: ClassVar[list[tuple[str, str]]] = []

    def tokenize_card(self, *, number: str, exp_month: int, exp_year: int, cvc: str, holder: str) -> CardDetails:
        LiveGateway.calls.append(("tokenize_card", number[-4:]))
        return super().tokenize_card(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc, holder=holder)

    def verify_card(self, *, token: str) -> GatewayResult:
        LiveGateway.calls.append(("verify_card", token))
        return super().verify_card(token=token)

    def charge(self, **kwargs: Any) -> GatewayResult:
        LiveGateway.calls.append(("charge", kwargs["idempotency_key"]))
        return super().charge(**kwargs)

    def refund(self, **kwargs: Any) -> GatewayResult:
        LiveGateway.calls.append(("refund", kwargs["idempotency_key"]))
        return super().refund(**kwargs)

    def payout(self, **kwargs: Any) -> GatewayResult:
        LiveGateway.calls.append(("payout", kwargs["idempotency_key"]))
        return super().payout(**kwargs)


@pytest.fixture
def live_gateway(settings: Any) -> Any:
    settings.PAYMENT_GATEWAY_TEST = "bnpl.payments.gateways.SandboxGateway"
    settings.PAYMENT_GATEWAY_LIVE = LIVE_GATEWAY
    settings.PAYMENT_GATEWAY = LIVE_GATEWAY  # the one gateway of the old code, configured live
    LiveGateway.calls = []
    yield LiveGateway.calls
    LiveGateway.calls = []


def _shopper(consumer: Consumer) -> Client:
    client = Client()
    session = client.session
    session[SESSION_KEY] = consumer.public_id
    session.save()
    return client


def _confirm(client: Client, session: CheckoutSession, tenant: Tenant, **card: str) -> Any:
    product = product_for(tenant.merchant, session.livemode)
    return client.post(f"/checkout/{session.public_id}/confirm", {"product": product.public_id, **card})


NEW_CARD = {"card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}


def _live_objects_only(calls: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The calls that were not for a live object (should be none)."""
    strays = []
    for kind, key in calls:
        if kind in ("charge", "refund"):
            is_live = Charge.objects.filter(idempotency_key=key, livemode=True).exists()
        elif kind == "payout":
            is_live = Settlement.objects.filter(public_id=key.removeprefix("payout:"), livemode=True).exists()
        else:
            is_live = False  # a card saved or checked after the live checkout: only test flows ran then
        if not is_live:
            strays.append((kind, key))
    return strays


def test_a_test_checkout_its_collections_and_settlement_never_touch_the_live_gateway_or_a_live_card(
    tenant: Tenant, live_gateway: list[tuple[str, str]]
) -> None:
    consumer = make_verified_consumer()
    shopper = _shopper(consumer)

    # A real purchase first: the shopper's real card is saved at a live checkout.
    live_session = make_checkout_session(merchant=tenant.merchant, livemode=True, amount=10_000)
    assert _confirm(shopper, live_session, tenant, **NEW_CARD).status_code == 302
    live_card = PaymentMethod.objects.get(consumer=consumer)
    assert ("tokenize_card", "4242") in live_gateway
    live_gateway.clear()

    # A merchant's test checkout: the real card is not offered, and not taken when sent anyway.
    test_session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    page = shopper.get(f"/checkout/{test_session.public_id}").content.decode()
    assert live_card.public_id not in page
    attack = _confirm(shopper, test_session, tenant, payment_method=live_card.public_id)
    assert attack.status_code == 400
    assert not Charge.objects.filter(payment_method=live_card, livemode=False).exists()
    assert CheckoutSession.objects.get(pk=test_session.pk).status == "open"

    # With a test card it goes through, on the test gateway.
    assert _confirm(shopper, test_session, tenant, **NEW_CARD).status_code == 302
    test_order = Order.objects.get(checkout_session=test_session)
    live_order = Order.objects.get(checkout_session=live_session)

    # Two weeks on, collections charge both plans' second installments.
    clock_advance(by=dt.timedelta(days=14))
    collections_run()
    test_payments = Charge.objects.filter(plan=test_order.plan, kind="payment", status="succeeded")
    assert test_payments.count() == 2
    assert not test_payments.filter(payment_method=live_card).exists()

    # Both orders ship; the daily settlement runs.
    checkout_orders.order_capture(order=test_order, amount=10_000)
    checkout_orders.order_capture(order=live_order, amount=10_000)
    settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))

    test_settlement = Settlement.objects.get(livemode=False)
    live_settlement = Settlement.objects.get(livemode=True)
    assert (test_settlement.status, live_settlement.status) == ("paid", "paid")
    assert ("payout", f"payout:{live_settlement.public_id}") in live_gateway  # live money still moves
    assert _live_objects_only(live_gateway) == []
    payouts = SandboxGatewayCharge.objects.filter(kind="payout")
    assert list(payouts.values_list("idempotency_key", flat=True)) == [f"payout:{live_settlement.public_id}"]
    assert not Charge.objects.filter(livemode=False, payment_method=live_card).exists()


def test_pay_now_on_a_test_plan_uses_the_test_card_even_when_the_live_card_is_newer(
    tenant: Tenant, live_gateway: list[tuple[str, str]]
) -> None:
    consumer = make_verified_consumer()
    shopper = _shopper(consumer)
    test_session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    assert _confirm(shopper, test_session, tenant, **NEW_CARD).status_code == 302
    live_session = make_checkout_session(merchant=tenant.merchant, livemode=True, amount=10_000)
    assert _confirm(shopper, live_session, tenant, **NEW_CARD).status_code == 302  # the newest card is real
    live_gateway.clear()

    plan = Order.objects.get(checkout_session=test_session).plan
    shopper.post(f"/account/plans/{plan.public_id}/pay")
    shopper.post(f"/account/plans/{plan.public_id}/pay-off")

    paid = Charge.objects.filter(plan=plan, kind="payment", status="succeeded").select_related("payment_method")
    assert paid.count() == 3
    assert {charge.payment_method.pk for charge in paid} == {paid.first().payment_method.pk}  # type: ignore[union-attr]
    assert live_gateway == []
