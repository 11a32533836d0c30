"""Stripe's word on money after the fact, through the real ``POST /webhooks/stripe`` with signed
events: a refund the card's bank refused (``charge.refund.updated``) becomes the consumer's balance,
and a chargeback (``charge.dispute.*``) becomes the order's dispute, holding the plan's share as a
dispute opened in the portal does."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.dispute_holds import held_installments
from bnpl.checkout.models import Dispute, Order
from bnpl.core.models import Event
from bnpl.payments.models import Charge, ConsumerBalance
from tests.bnpl.checkout.factories import make_authorized_order
from tests.bnpl.payments.test_stripe import LIVE_SECRET, SECRET, _post, _signed
from tests.helpers import ledger_ok
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def _send(event_id: str, event_type: str, obj: dict[str, Any], *, capture: Any) -> None:
    event = {"id": event_id, "object": "event", "type": event_type, "livemode": False, "data": {"object": obj}}
    body = json.dumps(event).encode()
    with capture(execute=True):
        assert _post(body, _signed(body)).status_code == 200


def _captured_order(tenant: Tenant) -> Order:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False)
    checkout_orders.order_capture(order=order, amount=order.authorized_amount)
    return order


def _money_sent_back_to_the_card(tenant: Tenant, capture: Any) -> Charge:
    """A full refund after the first installment: 25.00 goes back to the card (Stripe accepts it)."""
    order = _captured_order(tenant)
    with capture(execute=True):
        checkout_orders.order_refund(order=order, amount=10_000)
    return Charge.objects.get(kind=Charge.Kind.REFUND, plan=order.plan)


def test_a_refund_the_bank_refuses_after_accepting_it_becomes_the_consumers_balance(
    tenant: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    card_refund = _money_sent_back_to_the_card(tenant, django_capture_on_commit_callbacks)
    assert card_refund.status == Charge.Status.SUCCEEDED  # accepted at first
    refund_object = {
        "id": card_refund.gateway_reference,
        "object": "refund",
        "status": "failed",
        "failure_reason": "expired_or_canceled_card",
        "amount": card_refund.amount,
        "metadata": {"idempotency_key": card_refund.idempotency_key},
    }

    _send("evt_refund_failed", "charge.refund.updated", refund_object, capture=django_capture_on_commit_callbacks)
    _send("evt_refund_failed_again", "charge.refund.updated", refund_object, capture=django_capture_on_commit_callbacks)

    card_refund.refresh_from_db()
    assert (card_refund.status, card_refund.failure_code) == ("failed", "expired_or_canceled_card")
    balance = ConsumerBalance.objects.get()
    assert (balance.source_charge_id, balance.amount) == (card_refund.pk, 2_500)
    assert Event.objects.filter(type="order.refund_failed").count() == 1
    assert ledger_ok()


def test_a_refund_update_that_is_not_a_failure_changes_nothing(
    tenant: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    card_refund = _money_sent_back_to_the_card(tenant, django_capture_on_commit_callbacks)

    succeeded = {"id": card_refund.gateway_reference, "object": "refund", "status": "succeeded", "metadata": {}}
    _send("evt_refund_ok", "charge.refund.updated", succeeded, capture=django_capture_on_commit_callbacks)
    unknown = {"id": "re_not_ours", "object": "refund", "status": "failed", "metadata": {}}
    _send("evt_refund_unknown", "charge.refund.updated", unknown, capture=django_capture_on_commit_callbacks)

    card_refund.refresh_from_db()
    assert card_refund.status == Charge.Status.SUCCEEDED
    assert not ConsumerBalance.objects.exists()


def _dispute_object(payment: Charge, *, status: str = "needs_response", amount: int = 2_500) -> dict[str, Any]:
    return {
        "id": "dp_1Example",
        "object": "dispute",
        "amount": amount,
        "currency": "usd",
        "payment_intent": payment.gateway_reference,
        "reason": "product_not_received",
        "status": status,
    }


def test_a_chargeback_opens_the_orders_dispute_and_holds_its_share(
    tenant: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    order = _captured_order(tenant)
    payment = Charge.objects.get(kind=Charge.Kind.PAYMENT, plan=order.plan)

    _send("evt_dp_1", "charge.dispute.created", _dispute_object(payment), capture=django_capture_on_commit_callbacks)
    _send("evt_dp_2", "charge.dispute.created", _dispute_object(payment), capture=django_capture_on_commit_callbacks)

    dispute = Dispute.objects.get()
    assert (dispute.source, dispute.gateway_reference, dispute.reason) == (
        "card_network",
        "dp_1Example",
        "not_received",
    )
    assert (dispute.status, dispute.amount) == ("needs_response", 2_500)
    held = held_installments(order.plan)
    assert [row.sequence for row in held] == [4]  # the share in question: the last installment, as in the portal
    assert Event.objects.filter(type="dispute.created", merchant=tenant.merchant).count() == 1

    closed = _dispute_object(payment, status="won")
    _send("evt_dp_3", "charge.dispute.closed", closed, capture=django_capture_on_commit_callbacks)

    dispute.refresh_from_db()
    assert dispute.status == "won"
    assert held_installments(order.plan) == []  # due again
    assert ledger_ok()


def test_a_lost_chargeback_goes_to_our_team(
    tenant: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    order = _captured_order(tenant)
    payment = Charge.objects.get(kind=Charge.Kind.PAYMENT, plan=order.plan)
    _send("evt_dp_a", "charge.dispute.created", _dispute_object(payment), capture=django_capture_on_commit_callbacks)

    lost = _dispute_object(payment, status="lost")
    _send("evt_dp_b", "charge.dispute.closed", lost, capture=django_capture_on_commit_callbacks)

    dispute = Dispute.objects.get()
    assert dispute.status == "under_review"
    assert "for the cardholder" in dispute.decision_note
    assert held_installments(order.plan) != []  # still held until our team decides


def test_a_chargeback_on_a_payment_we_do_not_know_is_ignored(
    tenant: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    order = _captured_order(tenant)
    payment = Charge.objects.get(kind=Charge.Kind.PAYMENT, plan=order.plan)
    stranger = {**_dispute_object(payment), "payment_intent": "pi_someone_elses"}

    _send("evt_dp_x", "charge.dispute.created", stranger, capture=django_capture_on_commit_callbacks)

    assert not Dispute.objects.exists()


def test_an_event_of_the_other_mode_never_closes_a_dispute(
    tenant: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    settings.STRIPE_LIVE_WEBHOOK_SECRET = LIVE_SECRET
    order = _captured_order(tenant)
    payment = Charge.objects.get(kind=Charge.Kind.PAYMENT, plan=order.plan)
    _send("evt_dp_m1", "charge.dispute.created", _dispute_object(payment), capture=django_capture_on_commit_callbacks)

    event = {
        "id": "evt_dp_m2",
        "object": "event",
        "type": "charge.dispute.closed",
        "livemode": True,
        "data": {"object": _dispute_object(payment, status="won")},
    }
    body = json.dumps(event).encode()
    assert _post(body, _signed(body, secret=LIVE_SECRET)).status_code == 200

    assert Dispute.objects.get().status == "needs_response"  # a live event, a test-mode dispute


def test_an_inquiry_that_goes_no_further_releases_what_it_held(
    tenant: Tenant, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.STRIPE_TEST_WEBHOOK_SECRET = SECRET
    order = _captured_order(tenant)
    payment = Charge.objects.get(kind=Charge.Kind.PAYMENT, plan=order.plan)
    inquiry = _dispute_object(payment, status="warning_needs_response")
    _send("evt_in_1", "charge.dispute.created", inquiry, capture=django_capture_on_commit_callbacks)
    assert held_installments(order.plan)

    closed = _dispute_object(payment, status="warning_closed")
    _send("evt_in_2", "charge.dispute.closed", closed, capture=django_capture_on_commit_callbacks)

    assert Dispute.objects.get().status == "won"
    assert held_installments(order.plan) == []
