"""The consumer portal at /account/: each page and action through the same services as everywhere,
a consumer sees and touches only their own plans, cards, payments and disputes, and documents are
real PDFs with the agreed terms."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Dispute, Order
from bnpl.collections.models import HardshipRequest
from bnpl.core.models import AuditLogEntry
from bnpl.core.services import clock_advance
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.plans.models import Plan
from tests.bnpl.checkout.factories import make_authorized_order
from tests.consumers.factories import make_verified_consumer
from tests.helpers import consumer_client, ledger_ok, pdf_text
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def _plan(tenant: Tenant, *, kind: str = "pay_in_4", amount: int = 10_000, captured: bool = True) -> Plan:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=amount, kind=kind)
    if captured:
        checkout_orders.order_capture(order=order, amount=amount)
    return Plan.objects.get(order=order)


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_overview_shows_progress_and_the_next_payment(tenant: Tenant) -> None:
    plan = _plan(tenant)
    page = consumer_client(plan.consumer).get("/account/").content.decode()

    assert tenant.merchant.name in page
    assert "$25.00 of $100.00 paid" in page and 'aria-valuenow="25"' in page
    assert "Pay $25.00 now" in page


def test_the_plan_page_shows_schedule_payments_refunds_and_history(tenant: Tenant) -> None:
    plan = _plan(tenant)
    checkout_orders.order_refund(order=plan.order, amount=1_000, reason="one item back")
    page = consumer_client(plan.consumer).get(f"/account/plans/{plan.public_id}").content.decode()

    assert "Schedule" in page and "Credit agreement (PDF)" in page
    first_payment = Charge.objects.get(plan=plan, kind="payment")
    assert f"/account/receipts/{first_payment.public_id}.pdf" in page
    assert "Refund of $10.00" in page and "$10.00 off what you owe" in page
    assert "Your payment plan started" in page and f"{tenant.merchant.name} gave you a refund" in page


def test_paying_early_and_paying_off_from_the_page(tenant: Tenant) -> None:
    plan = _plan(tenant)
    client = consumer_client(plan.consumer)

    early = client.post(f"/account/plans/{plan.public_id}/pay-early", {"amount": "30.00"}, follow=True)
    assert _messages(early) == ["Paid $30.00 early. It goes to your next payments."]
    bad = client.post(f"/account/plans/{plan.public_id}/pay-early", {"amount": "0.001"}, follow=True)
    assert "decimal places" in _messages(bad)[0]
    off = client.post(f"/account/plans/{plan.public_id}/pay-off", follow=True)

    assert _messages(off) == ["Paid $45.00: this plan is paid off."]
    assert Plan.objects.get(pk=plan.pk).status == Plan.Status.PAID
    assert ledger_ok()


def test_moving_a_date_asking_for_help_and_reporting_a_return(tenant: Tenant) -> None:
    plan = _plan(tenant)
    client = consumer_client(plan.consumer)
    second = plan.installments.get(sequence=2)

    moved = client.post(
        f"/account/plans/{plan.public_id}/move-due-date",
        {"installment": 2, "due_date": (second.due_date + dt.timedelta(days=5)).isoformat()},
        follow=True,
    )
    assert _messages(moved)[0].startswith("Moved: that payment is now due on")
    again = client.post(
        f"/account/plans/{plan.public_id}/move-due-date",
        {"installment": 3, "due_date": "2099-01-01"},
        follow=True,
    )
    assert _messages(again) == ["You have already moved a due date on this plan."]

    help_asked = client.post(f"/account/plans/{plan.public_id}/hardship", {"reason": "Lost my job."}, follow=True)
    assert "paused" in _messages(help_asked)[0]
    assert HardshipRequest.objects.get(plan=plan).status == "open"

    reported = client.post(
        f"/account/plans/{plan.public_id}/disputes",
        {"kind": "return", "reason": "returned", "amount": "40.00", "description": "Sent back the lamp."},
        follow=True,
    )
    dispute = Dispute.objects.get(order=plan.order)
    assert _messages(reported)[0] == (
        f"We told {tenant.merchant.name} (the shop answers by {dispute.respond_by:%-d %b %Y}). "
        "Payments #3, #4 ($50.00) are on hold until it is resolved; keep paying the others."
    )
    assert (dispute.kind, dispute.amount, dispute.description) == ("return", 4_000, "Sent back the lamp.")
    withdrawn = client.post(f"/account/disputes/{dispute.public_id}/withdraw", follow=True)
    assert _messages(withdrawn)[0].startswith("Withdrawn.")
    assert Dispute.objects.get(pk=dispute.pk).status == "withdrawn"


def test_adding_a_card_makes_it_the_one_payments_use(tenant: Tenant) -> None:
    plan = _plan(tenant)
    client = consumer_client(plan.consumer)

    added = client.post(  # the plan is a test-mode plan: its cards are test-mode cards
        "/account/cards",
        {"mode": "test", "card_number": "4000 0000 0000 0341", "exp_month": "12", "exp_year": "2035", "cvc": "123"},
        follow=True,
    )
    refused = client.post(
        "/account/cards",
        {"mode": "test", "card_number": "4000 0000 0000 0002", "exp_month": "12", "exp_year": "2035", "cvc": "123"},
        follow=True,
    )

    assert _messages(added)[0].startswith("Added") and "declined" in _messages(refused)[0].lower()
    assert added.redirect_chain[-1][0] == "/account/cards?mode=test"
    default = PaymentMethod.objects.get(consumer=plan.consumer, is_default=True)
    assert (default.last4, default.livemode) == ("0341", False)
    old = PaymentMethod.objects.get(consumer=plan.consumer, last4="4242")
    client.post(f"/account/cards/{old.public_id}/default")
    assert PaymentMethod.objects.get(consumer=plan.consumer, is_default=True) == old


def test_a_card_added_on_the_live_cards_page_never_pays_a_test_plan(tenant: Tenant) -> None:
    plan = _plan(tenant)  # test mode, paid so far with its test card
    client = consumer_client(plan.consumer)

    added = client.post(
        "/account/cards",
        {"card_number": "4000 0000 0000 0341", "exp_month": "12", "exp_year": "2035", "cvc": "123"},
        follow=True,
    )

    assert _messages(added)[0].startswith("Added")
    defaults = {
        card.livemode: card.last4 for card in PaymentMethod.objects.filter(consumer=plan.consumer, is_default=True)
    }
    assert defaults == {True: "0341", False: "4242"}  # each mode keeps its own default card
    paid = client.post(f"/account/plans/{plan.public_id}/pay", follow=True)
    assert _messages(paid) == ["Paid $25.00. Thank you!"]
    last = Charge.objects.filter(plan=plan, kind="payment").latest("id")
    assert (last.payment_method.last4, last.payment_method.livemode) == ("4242", False)

    live_page = client.get("/account/cards").content.decode()
    test_page = client.get("/account/cards?mode=test").content.decode()
    assert "•••• 0341" in live_page and "•••• 4242" not in live_page and 'id="test-mode-banner"' not in live_page
    assert "•••• 4242" in test_page and "•••• 0341" not in test_page and 'id="test-mode-banner"' in test_page


def test_documents_are_pdfs_with_the_agreed_terms(tenant: Tenant) -> None:
    plan = _plan(tenant, kind="financing", amount=60_000)
    client = consumer_client(plan.consumer)
    checkout_orders.order_refund(order=plan.order, amount=10_000)  # the agreement still shows what was agreed

    agreement = client.get(f"/account/plans/{plan.public_id}/agreement.pdf")
    receipt_charge = Charge.objects.filter(plan=plan, kind="payment").first()
    listing = client.get("/account/documents").content.decode()

    assert agreement["Content-Type"] == "application/pdf" and agreement.content.startswith(b"%PDF")
    text = pdf_text(agreement.content)
    created = AuditLogEntry.objects.get(action="plan.created", object_id=plan.public_id).after
    agreed_total = sum(row["amount"] for row in created["installments"])  # type: ignore[index]
    assert "Annual percentage rate" in text and f"${agreed_total / 100:,.2f}" in text
    assert plan.public_id in text
    if receipt_charge is not None:
        receipt = client.get(f"/account/receipts/{receipt_charge.public_id}.pdf")
        assert receipt.content.startswith(b"%PDF") and receipt_charge.public_id in pdf_text(receipt.content)
    assert f"/account/plans/{plan.public_id}/agreement.pdf" in listing


def test_preferences_are_saved_and_audited(tenant: Tenant) -> None:
    consumer = make_verified_consumer()
    client = consumer_client(consumer)

    client.post("/account/preferences", {"notify_by_email": "on"})

    consumer.refresh_from_db()
    assert (consumer.notify_by_email, consumer.notify_by_sms) == (True, False)
    entry = AuditLogEntry.objects.filter(action="consumer.preferences_updated").get()
    assert entry.after["notify_by_sms"] is False  # type: ignore[index]


def test_decisions_show_reasons_and_profile_shows_the_identity(tenant: Tenant) -> None:
    plan = _plan(tenant)
    client = consumer_client(plan.consumer)

    decisions = client.get("/account/decisions").content.decode()
    profile = client.get("/account/profile").content.decode()

    assert tenant.merchant.name in decisions and "Approved" in decisions
    assert "Ada Lovelace" in profile and "1 Main St" in profile


def test_everything_belongs_to_the_signed_in_consumer(tenant: Tenant) -> None:
    theirs = _plan(tenant)
    dispute = Dispute.objects.create(
        merchant=tenant.merchant,
        livemode=False,
        order=theirs.order,
        kind="return",
        reason="returned",
        amount=100,
        respond_by=theirs.created_at + dt.timedelta(days=14),
        refunded_at_open=0,
    )
    card = PaymentMethod.objects.get(consumer=theirs.consumer)
    charge = Charge.objects.filter(plan=theirs).first()
    assert charge is not None
    me = consumer_client(make_verified_consumer())

    for path in (
        f"/account/plans/{theirs.public_id}",
        f"/account/plans/{theirs.public_id}/agreement.pdf",
        f"/account/receipts/{charge.public_id}.pdf",
    ):
        assert me.get(path).status_code == 404, path
    for path in (
        f"/account/plans/{theirs.public_id}/pay",
        f"/account/plans/{theirs.public_id}/pay-off",
        f"/account/plans/{theirs.public_id}/hardship",
        f"/account/disputes/{dispute.public_id}/withdraw",
        f"/account/cards/{card.public_id}/default",
    ):
        assert me.post(path, {"reason": "x"}).status_code == 404, path
    assert Order.objects.get(pk=theirs.order_id).plan.status == Plan.Status.ACTIVE
    assert not HardshipRequest.objects.exists()


def test_signed_out_visitors_are_sent_to_sign_in() -> None:
    response = Client().get("/account/cards")

    assert response.status_code == 302 and response["Location"] == "/account/sign-in?next=/account/cards"
    assert Client().get("/portal/plans/x?y=1")["Location"] == "/account/plans/x?y=1"


def test_a_late_plan_says_so(tenant: Tenant) -> None:
    plan = _plan(tenant)
    clock_advance(by=dt.timedelta(days=20))
    from bnpl.collections import lateness

    lateness.plans_assess_lateness()

    page = consumer_client(plan.consumer).get("/account/").content.decode()
    assert "Late" in page
