"""Regressions for defects a review found: money taken without an order, sessions stuck after a
decline, fee terms, broken product settings, hostile bodies, idempotency takeovers, suspended shops,
payments overtaken by refunds, private webhook targets, pending charges left behind."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import pytest
import time_machine
from django.db.models import Sum

from bnpl.checkout import services
from bnpl.checkout.models import CheckoutSession, Order
from bnpl.checkout.step_up import checkout_card_add
from bnpl.core import clock
from bnpl.core.errors import ConflictError, InvalidRequestError, StateError
from bnpl.core.idempotency import StoredResponse, fingerprint, idempotency_claim, idempotency_complete
from bnpl.core.models import IdempotencyKey
from bnpl.payments.gateways import GatewayResult, SandboxGateway
from bnpl.payments.models import Charge
from bnpl.payments.services import charges_settle_pending
from bnpl.plans.models import PaymentProduct, ProductKind
from bnpl.plans.services import product_update
from decisioning.policy import Decision, Reason
from merchants.services import merchant_suspend
from tests.checkout_factories import make_authorized_order, make_checkout_session, make_verified_consumer, product_for
from tests.conftest import ApiClient
from tests.factories import Tenant

pytestmark = pytest.mark.django_db
GATEWAY = "tests.bnpl.checkout.test_review_regressions.HookedGateway"


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
        services.checkout_confirm(
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

    declined = services.checkout_confirm(
        session=session, consumer=consumer, product=product, payment_method=_card(session, consumer, "4000000000000002")
    )
    approved = services.checkout_confirm(
        session=session, consumer=consumer, product=product, payment_method=_card(session, consumer)
    )

    assert declined.order is None and declined.payment_error == "The card was declined."
    assert approved.order is not None
    assert list(Charge.objects.order_by("id").values_list("status", flat=True)) == ["failed", "succeeded"]


def test_a_late_decline_never_overwrites_a_completed_session(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False)
    session = order.checkout_session
    result = services._decline(
        session=session, consumer=order.consumer, decision=Decision(approved=False, reasons=(Reason("x", "y"),))
    )

    session.refresh_from_db()
    assert session.status == CheckoutSession.Status.COMPLETE
    assert result.order == order


def test_the_fixed_fee_is_charged_once_in_full_and_refunds_use_the_terms_of_purchase(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    product_update(product=product_for(tenant.merchant, False), merchant_fee_bps=2000)  # later price change

    first = services.order_capture(order=order, amount=1)
    rest = services.order_capture(order=order, amount=9999)
    refund = services.order_refund(order=order, amount=2000)

    assert (first.merchant_fee_amount, rest.merchant_fee_amount) == (30, 400)  # 4% of 9999 = 399.96 -> 400
    assert refund.merchant_fee_refunded_amount == 80  # 4% of 2000, not the new 20%
    order.refresh_from_db()
    assert order.merchant_fee_amount == 30 + 400 - 80


def test_a_product_that_cannot_make_a_schedule_is_refused_and_skipped(tenant: Tenant) -> None:
    product = product_for(tenant.merchant, False, ProductKind.FINANCING, count=6)
    with pytest.raises(InvalidRequestError) as raised:
        product_update(product=product, down_payment_bps=10_000)
    assert raised.value.param == "down_payment_bps"

    PaymentProduct.objects.filter(pk=product.pk).update(installment_count=999)  # bad data that got in anyway
    response = ApiClient(tenant.test_key).post(
        "/api/v1/checkout/sessions",
        {
            "amount": 50000,
            "currency": "USD",
            "line_items": [{"name": "Bike", "quantity": 1, "unit_amount": 50000}],
            "return_url": "https://shop.example.com/ok",
            "cancel_url": "https://shop.example.com/no",
        },
    )
    assert response.status_code == 201


def test_deeply_nested_json_is_a_400(api: ApiClient) -> None:
    response = api.post("/api/v1/webhook_endpoints", '{"a":' * 5000)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "body_invalid"


def test_a_request_overtaken_by_a_retry_cannot_complete(tenant: Tenant) -> None:
    print_ = fingerprint(method="POST", path="/x", data={})
    arguments: dict[str, Any] = {
        "merchant_id": tenant.merchant.pk,
        "livemode": False,
        "key": "k",
        "method": "POST",
        "path": "/x",
    }
    slow = idempotency_claim(**arguments, request_fingerprint=print_)
    assert isinstance(slow, IdempotencyKey)
    IdempotencyKey.objects.filter(pk=slow.pk).update(locked_at=clock.now() - dt.timedelta(minutes=5))
    slow.refresh_from_db()
    retry = idempotency_claim(**arguments, request_fingerprint=print_)
    assert isinstance(retry, IdempotencyKey)

    with pytest.raises(ConflictError) as raised:
        idempotency_complete(
            record=slow, response=StoredResponse(status=201, content_type="application/json", body=b"{}")
        )
    idempotency_complete(record=retry, response=StoredResponse(status=201, content_type="application/json", body=b"[]"))

    assert raised.value.code == "idempotency_key_taken_over"
    stored = IdempotencyKey.objects.get(pk=retry.pk).response_body
    assert stored is not None and bytes(stored) == b"[]"


def test_a_suspended_shop_cannot_take_pay_later(tenant: Tenant) -> None:
    from django.test import Client

    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    merchant_suspend(merchant=tenant.merchant)

    page = Client().get(f"/checkout/{session.public_id}")

    assert page.status_code == 409
    assert "This shop cannot take pay-later payments right now." in page.content.decode()


def test_a_payment_overtaken_by_a_refund_gives_back_what_no_longer_fits(tenant: Tenant, hooked: list) -> None:  # type: ignore[type-arg]
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    services.order_capture(order=order, amount=10000)
    hooked.append(lambda: services.order_refund(order=Order.objects.get(pk=order.pk), amount=7500))

    charge = services.plan_pay_next_installment(plan=order.plan)

    given_back = Charge.objects.get(kind=Charge.Kind.REFUND, refunded_charge=charge)
    assert (charge.amount, given_back.amount, given_back.status) == (2500, 2500, "succeeded")
    order.refresh_from_db()
    assert order.plan.installments.aggregate(total=Sum("paid_amount"))["total"] == 2500


def test_private_webhook_targets_are_refused_outside_the_sandbox(settings, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    response = ApiClient(tenant.test_key).post(
        "/api/v1/webhook_endpoints", {"url": "http://127.0.0.1:9000/hook", "enabled_events": ["*"]}
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == "url"


def test_pending_charges_are_settled_by_the_sweep(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    payment = Charge.objects.get(kind=Charge.Kind.PAYMENT)
    stuck = Charge.objects.create(
        consumer=order.consumer,
        payment_method=payment.payment_method,
        kind=Charge.Kind.REFUND,
        refunded_charge=payment,
        amount=100,
        currency="USD",
        status=Charge.Status.PENDING,
        idempotency_key="stuck-return",
    )
    assert charges_settle_pending() == 0  # too fresh: its own request may still be sending it
    with time_machine.travel(clock.real_now() + dt.timedelta(minutes=2)):
        assert charges_settle_pending() == 1
    stuck.refresh_from_db()
    assert stuck.status == Charge.Status.SUCCEEDED
