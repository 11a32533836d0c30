"""A refund to the card that the bank refuses for good: the reversal is posted, the consumer keeps
it as a balance (paying their next installment, or paid out another way by an operator), the
merchant hears of it by event and webhook, the portal shows it, and the ledger stays clean."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from bnpl.checkout.models import Order
from bnpl.collections import services as collections
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.models import Event
from bnpl.core.services import clock_advance
from bnpl.ledger.models import AccountCode
from bnpl.ledger.selectors import account_balance
from bnpl.payments.models import Charge, ConsumerBalance
from bnpl.payments.services import charge_execute, charge_prepare, payment_method_add
from bnpl.plans.models import Installment
from bnpl.servicing import balances
from consumers.selectors import SESSION_KEY
from merchants import services, webhooks
from merchants.models import WebhookDelivery
from tests.bnpl.checkout.factories import make_authorized_order
from tests.conftest import ApiClient
from tests.consumers.factories import make_verified_consumer
from tests.helpers import ledger_ok, operator_client
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

REFUSES_REFUNDS = "4000 0000 0000 5126"  # charges succeed, refunds to it are refused (as Stripe's)


def _refund_all(api: ApiClient, order_id: str, amount: int, capture: Any) -> dict[str, Any]:
    with capture(execute=True):  # the card refund is sent after the refund's transaction commits
        assert api.post(f"/api/v1/orders/{order_id}/captures", {"amount": amount}).status_code == 201
        response = api.post(f"/api/v1/orders/{order_id}/refunds", {"amount": amount, "reason": "returned"})
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def _refused_refund(tenant: Tenant, api: ApiClient, capture: Any, *, consumer: Any = None) -> Order:
    """An order paid with the card that refuses refunds, captured and refunded in full: its first
    installment (25.00) goes back to the card, which refuses it: the consumer's balance."""
    refused = make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer, card=REFUSES_REFUNDS)
    _refund_all(api, refused.public_id, 10_000, capture)
    return refused


def test_a_refused_refund_is_kept_as_the_consumers_balance_and_the_merchant_is_told(
    tenant: Tenant, api: ApiClient, django_capture_on_commit_callbacks: Any
) -> None:
    services.webhook_endpoint_create(
        merchant=tenant.merchant, livemode=False, url="https://hooks.example.com/bnpl", enabled_events=["*"]
    )
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, card=REFUSES_REFUNDS)
    consumer = order.consumer

    refund = _refund_all(api, order.public_id, 10_000, django_capture_on_commit_callbacks)

    assert refund["returned_to_card_amount"] == 2_500  # the first installment, paid at checkout
    card_refund = Charge.objects.get(kind=Charge.Kind.REFUND, plan=order.plan)
    assert (card_refund.status, card_refund.failure_code) == ("failed", "refund_failed")
    balance = ConsumerBalance.objects.get(source_charge=card_refund)
    assert (balance.amount, balance.remaining_amount, balance.plan_id) == (2_500, 2_500, order.plan.pk)
    # The money never left: card clearing keeps it, and the ledger owes it to the consumer.
    assert account_balance(code=AccountCode.CONSUMER_CREDIT, currency="USD", livemode=False, consumer=consumer) == (
        -2_500
    )
    assert account_balance(code=AccountCode.CONSUMER_RECEIVABLE, currency="USD", livemode=False, consumer=consumer) == 0
    assert ledger_ok()

    events = api.get("/api/v1/events?type=order.refund_failed").json()["results"]
    assert len(events) == 1
    told = events[0]["data"]["object"]
    assert (told["id"], told["refund_failure"]["amount"]) == (order.public_id, 2_500)
    assert told["refund_failure"]["kept_as_consumer_balance"] is True
    assert "consumer_balance.created" not in {event["type"] for event in api.get("/api/v1/events").json()["results"]}
    event = Event.objects.get(type="order.refund_failed")
    webhooks.deliveries_create_for_events(event_ids=[event.pk])
    assert WebhookDelivery.objects.filter(event=event, merchant=tenant.merchant).count() == 1

    again = balances.refund_failed_record(charge=card_refund)  # recorded once, however often it is told
    assert again is not None and again.pk == balance.pk
    assert ConsumerBalance.objects.count() == 1
    assert Event.objects.filter(type="order.refund_failed").count() == 1
    assert ledger_ok()


def test_the_balance_pays_the_consumers_installments_as_they_fall_due(
    tenant: Tenant, api: ApiClient, django_capture_on_commit_callbacks: Any
) -> None:
    consumer = make_verified_consumer()
    other = make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer, amount=8_000)
    refused = make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer, card=REFUSES_REFUNDS)
    next_one = other.plan.installments.filter(status=Installment.Status.SCHEDULED).order_by("due_date").first()
    assert next_one is not None and next_one.remaining_amount == 2_000

    _refund_all(api, refused.public_id, 10_000, django_capture_on_commit_callbacks)

    balance = ConsumerBalance.objects.get(consumer=consumer)
    assert balance.remaining_amount == 2_500  # nothing is due yet: nothing is prepaid
    clock_advance(by=dt.timedelta(days=14))
    assert balances.balances_settle() == 1  # the sweep (and the daily work) before collections runs

    balance.refresh_from_db()
    assert (balance.applied_amount, balance.remaining_amount) == (2_000, 500)
    next_one.refresh_from_db()
    assert next_one.status == Installment.Status.PAID  # the installment that fell due, from the balance
    assert collections.collections_run().claimed == 0  # so collections charges no card for it
    assert account_balance(code=AccountCode.CONSUMER_CREDIT, currency="USD", livemode=False, consumer=consumer) == (
        -500
    )
    assert Event.objects.filter(type="consumer_balance.applied").count() == 1
    assert ledger_ok()


def test_a_balance_never_prepays_a_financing_plans_future_interest(
    tenant: Tenant, api: ApiClient, django_capture_on_commit_callbacks: Any
) -> None:
    consumer = make_verified_consumer()
    financing = make_authorized_order(
        merchant=tenant.merchant, livemode=False, consumer=consumer, amount=50_000, kind="financing", count=12
    )
    _refused_refund(tenant, api, django_capture_on_commit_callbacks, consumer=consumer)

    assert balances.balances_settle() == 0
    assert not financing.plan.installments.filter(paid_amount__gt=0).exists()
    assert ConsumerBalance.objects.get().remaining_amount == 2_500


def test_what_a_balance_paid_goes_back_to_it_when_that_plan_is_refunded(
    tenant: Tenant, api: ApiClient, django_capture_on_commit_callbacks: Any
) -> None:
    """Money a balance paid toward a plan is not a card payment: a refund of that plan gives it back
    to the balance (it used to answer 409 return_exceeds_payments, and expiry failed for everyone)."""
    consumer = make_verified_consumer()
    other = make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer, amount=8_000)
    _refused_refund(tenant, api, django_capture_on_commit_callbacks, consumer=consumer)
    clock_advance(by=dt.timedelta(days=14))
    balances.balances_settle()
    balance = ConsumerBalance.objects.get()
    assert balance.applied_amount == 2_000

    refund = _refund_all(api, other.public_id, 8_000, django_capture_on_commit_callbacks)

    assert refund["returned_to_card_amount"] == 4_000  # 2,000 at checkout (card) + 2,000 (balance)
    balance.refresh_from_db()
    assert (balance.applied_amount, balance.remaining_amount) == (0, 2_500)  # whole again
    card_refunds = Charge.objects.filter(plan=other.plan, kind=Charge.Kind.REFUND)
    assert sum(card_refunds.values_list("amount", flat=True)) == 2_000  # only what the card paid
    assert account_balance(code=AccountCode.CONSUMER_CREDIT, currency="USD", livemode=False, consumer=consumer) == (
        -2_500
    )
    assert ledger_ok()


def test_an_operator_pays_a_balance_out_another_way_once(
    tenant: Tenant, api: ApiClient, django_capture_on_commit_callbacks: Any
) -> None:
    _refused_refund(tenant, api, django_capture_on_commit_callbacks)
    balance = ConsumerBalance.objects.get()

    with pytest.raises(InvalidRequestError) as no_reference:
        balances.balance_pay_out(balance=balance, amount=2_500, method="bank_transfer", reference=" ")
    assert no_reference.value.param == "reference"
    with pytest.raises(InvalidRequestError) as bad_method:
        balances.balance_pay_out(balance=balance, amount=2_500, method="cash_in_an_envelope", reference="x")
    assert bad_method.value.param == "method"
    with pytest.raises(StateError) as stale:  # the operator saw more than is left now
        balances.balance_pay_out(balance=balance, amount=3_000, method="bank_transfer", reference="TRF-1")
    assert stale.value.code == "balance_changed"

    paid = balances.balance_pay_out(balance=balance, amount=2_500, method="bank_transfer", reference="TRF-2026-0042")
    assert (paid.paid_out_amount, paid.remaining_amount) == (2_500, 0)
    assert account_balance(code=AccountCode.LENDER_CASH, currency="USD", livemode=False) == -2_500
    with pytest.raises(StateError):
        balances.balance_pay_out(balance=paid, amount=2_500, method="check", reference="CHK-1")
    assert Event.objects.filter(type="consumer_balance.paid_out").count() == 1
    assert ledger_ok()


def test_the_portal_shows_the_balance(tenant: Tenant, api: ApiClient, django_capture_on_commit_callbacks: Any) -> None:
    refused = _refused_refund(tenant, api, django_capture_on_commit_callbacks)
    client = Client()
    session = client.session
    session[SESSION_KEY] = refused.consumer.public_id
    session.save()

    page = client.get("/account/").content.decode()

    assert "$25.00 is yours" in page
    assert "your bank refused it" in page


def test_a_payment_given_back_that_the_card_refuses_is_not_lost(tenant: Tenant) -> None:
    """A payment that could not be applied goes back to the card; when the card refuses that too,
    the consumer is owed it on the books (no order behind it: no merchant is told)."""
    consumer = make_verified_consumer()
    card = payment_method_add(
        consumer=consumer, livemode=False, number=REFUSES_REFUNDS, exp_month=12, exp_year=2035, cvc="123"
    )
    payment = charge_prepare(
        consumer=consumer, payment_method=card, amount=1_234, currency="USD", livemode=False, idempotency_key="stray"
    )
    payment = charge_execute(charge=payment, off_session=False)
    assert payment.status == Charge.Status.SUCCEEDED

    refund = balances.give_back(charge=payment)

    assert refund is not None and refund.status == Charge.Status.FAILED
    balance = ConsumerBalance.objects.get(source_charge=refund)
    assert (balance.amount, balance.plan) == (1_234, None)
    assert account_balance(code=AccountCode.CONSUMER_CREDIT, currency="USD", livemode=False, consumer=consumer) == (
        -1_234
    )
    assert not Event.objects.filter(type="order.refund_failed").exists()
    assert ledger_ok()


def test_an_operator_records_a_pay_out_in_the_admin(
    tenant: Tenant, api: ApiClient, django_capture_on_commit_callbacks: Any
) -> None:
    _refused_refund(tenant, api, django_capture_on_commit_callbacks)
    balance = ConsumerBalance.objects.get()
    admin = operator_client()
    page = f"/admin/payments/consumerbalance/{balance.pk}/change/"
    form = {"paid_out_method": "bank_transfer", "paid_out_reference": "TRF-77"}

    stale = admin.post(page, {**form, "paid_out_amount": "3000"}, follow=True)
    assert "changed successfully" not in stale.content.decode()
    assert "is left on this balance now" in stale.content.decode()
    balance.refresh_from_db()
    assert balance.paid_out_at is None

    done = admin.post(page, {**form, "paid_out_amount": "2500"})
    assert done.status_code == 302
    balance.refresh_from_db()
    assert (balance.paid_out_amount, balance.paid_out_reference, balance.remaining_amount) == (2_500, "TRF-77", 0)
    assert ledger_ok()
