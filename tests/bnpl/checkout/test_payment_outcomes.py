"""What becomes of a shopper's money at checkout and after: a declined card leaves the session open
for another card, a late decline never undoes a completed checkout, and a payment overtaken while in
flight (its session closed, or a refund landed) gives back what no longer fits."""

from __future__ import annotations

from typing import ClassVar

import pytest
from django.db.models import Sum

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import CheckoutSession, Order
from bnpl.checkout.step_up import checkout_card_add
from bnpl.core.errors import StateError
from bnpl.payments.gateways import GatewayResult, SandboxGateway
from bnpl.payments.models import Charge
from bnpl.servicing import services as servicing
from decisioning.policy import Decision, Reason
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db
GATEWAY = "tests.bnpl.checkout.test_payment_outcomes.HookedGateway"


class HookedGateway(SandboxGateway):
    """The sandbox gateway with a hook run while a charge is 'in flight' (outside any transaction)."""

    during_charge: ClassVar[list] = []  # type: ignore[type-arg]

    def charge(
        self, *, token: str, amount: int, currency: str, idempotency_key: str, off_session: bool
    ) -> GatewayResult:
        for hook in list(HookedGateway.during_charge):
            hook()
        return super().charge(
            token=token, amount=amount, currency=currency, idempotency_key=idempotency_key, off_session=off_session
        )


@pytest.fixture
def hooked(settings):  # type: ignore[no-untyped-def]
    settings.PAYMENT_GATEWAY_TEST = GATEWAY
    HookedGateway.during_charge = []
    yield HookedGateway.during_charge
    HookedGateway.during_charge = []


def _card(session, consumer, number: str = "4242424242424242"):  # type: ignore[no-untyped-def]
    return checkout_card_add(session=session, consumer=consumer, number=number, exp_month=12, exp_year=2035, cvc="123")


def test_a_first_payment_whose_session_closed_meanwhile_is_given_back(tenant: Tenant, hooked: list) -> None:  # type: ignore[type-arg]
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10000)
    consumer = make_verified_consumer()
    hooked.append(lambda: CheckoutSession.objects.filter(pk=session.pk).update(status=CheckoutSession.Status.CANCELED))

    with pytest.raises(StateError):
        checkout_confirmation.checkout_confirm(
            session=session,
            consumer=consumer,
            product=product_for(tenant.merchant, False),
            payment_method=_card(session, consumer),
        )

    payment = Charge.objects.get(kind=Charge.Kind.PAYMENT)
    given_back = Charge.objects.get(kind=Charge.Kind.REFUND)
    assert (payment.status, payment.amount, payment.applied_at) == ("succeeded", 2500, None)
    assert (given_back.status, given_back.amount, given_back.refunded_charge_id) == ("succeeded", 2500, payment.pk)
    assert not Order.objects.exists()


def test_after_a_declined_card_another_card_completes_the_checkout(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10000)
    consumer = make_verified_consumer()
    product = product_for(tenant.merchant, False)

    declined = checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product, payment_method=_card(session, consumer, "4000000000000002")
    )
    approved = checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product, payment_method=_card(session, consumer)
    )

    assert declined.order is None and declined.payment_error == "The card was declined."
    assert approved.order is not None
    assert list(Charge.objects.order_by("id").values_list("status", flat=True)) == ["failed", "succeeded"]


def test_a_late_decline_never_overwrites_a_completed_session(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False)
    session = order.checkout_session
    result = checkout_confirmation._decline(
        session=session, consumer=order.consumer, decision=Decision(approved=False, reasons=(Reason("x", "y"),))
    )

    session.refresh_from_db()
    assert session.status == CheckoutSession.Status.COMPLETE
    assert result.order == order


def test_a_payment_overtaken_by_a_refund_gives_back_what_no_longer_fits(tenant: Tenant, hooked: list) -> None:  # type: ignore[type-arg]
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    checkout_orders.order_capture(order=order, amount=10000)
    hooked.append(lambda: checkout_orders.order_refund(order=Order.objects.get(pk=order.pk), amount=7500))

    charge = servicing.plan_pay_next_installment(plan=order.plan)

    given_back = Charge.objects.get(kind=Charge.Kind.REFUND, refunded_charge=charge)
    assert (charge.amount, given_back.amount, given_back.status) == (2500, 2500, "succeeded")
    order.refresh_from_db()
    assert order.plan.installments.aggregate(total=Sum("paid_amount"))["total"] == 2500
