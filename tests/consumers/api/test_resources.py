"""The consumer app's resources (issue 20 item 3), each on the service the portal's page uses: the
profile, plans with their schedules and history, paying now, early and off (idempotent, amounts in
minor units with their currency), cards through the gateway's own SDK only, decisions with their
reasons, receipts and agreements as PDFs, returns and disputes, hardship requests, notification
preferences and bank-data consents. Isolation, lists and bad input are walked for every path by
``test_schema_walks.py``; here, what each endpoint says and does."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from bnpl.checkout.models import Dispute
from bnpl.collections.models import HardshipRequest
from bnpl.core.models import AuditLogEntry, Event
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.plans.models import Plan
from consumers.models import Consumer
from decisioning import decide
from decisioning.models import BankDataConsent
from decisioning.policy import Application
from tests.bnpl.checkout.factories import product_for
from tests.consumers.api.conftest import SignedIn, SignIn
from tests.consumers.api.factories import make_app_card, make_app_consent, make_app_plan, verified
from tests.helpers import pdf_text, row_counts
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

ADA = "ada@example.com"


@pytest.fixture
def ada(sign_in: SignIn) -> SignedIn:
    return sign_in(ADA)


def _consumer() -> Consumer:
    return Consumer.objects.get(email=ADA)


def _events(object_id: str) -> list[str]:
    return list(Event.objects.filter(object_id=object_id).order_by("id").values_list("type", flat=True))


def test_the_profile_is_the_portals(ada: SignedIn) -> None:
    before = ada.client.get("profile").json()
    verified(_consumer())
    after = ada.client.get("profile").json()

    assert before["id"] == _consumer().public_id and before["object"] == "profile"
    assert (before["email"], before["email_verified"], before["identity"]) == (ADA, True, None)
    assert after["identity"]["legal_name"] == "Ada Lovelace"
    assert after["identity"]["country"] == "US"


def test_plans_list_with_their_schedule_and_the_detail_tells_the_history(ada: SignedIn) -> None:
    plan = make_app_plan(_consumer())

    listed = ada.client.get("plans").json()
    detail = ada.client.get(f"plans/{plan.public_id}").json()

    assert [row["id"] for row in listed["results"]] == [plan.public_id]
    row = listed["results"][0]
    assert (row["total_amount"], row["paid_amount"], row["remaining_amount"], row["currency"]) == (
        10_000,
        2_500,
        7_500,
        "USD",
    )
    assert [(item["sequence"], item["amount"], item["status"]) for item in row["installments"]] == [
        (1, 2_500, "paid"),
        (2, 2_500, "scheduled"),
        (3, 2_500, "scheduled"),
        (4, 2_500, "scheduled"),
    ]
    assert row["next_payment"]["sequence"] == 2 and row["next_payment"]["amount"] == 2_500
    assert row["shop"] == plan.merchant.name and row["open_dispute"] is None
    assert row["agreement_url"] == f"/api/consumer/v1/plans/{plan.public_id}/agreement"
    assert detail["payoff_amount"] == 7_500 and detail["can_move_due_date"] is True
    texts = [item["text"] for item in detail["history"]]
    assert "Your payment plan started" in texts
    assert f"{plan.merchant.name} shipped your order (or part of it)" in texts


def test_paying_early_then_off_through_the_portals_service(ada: SignedIn) -> None:
    plan = make_app_plan(_consumer())

    early = ada.client.post(f"plans/{plan.public_id}/pay-early", {"amount": 3_000, "currency": "USD"})
    off = ada.client.post(f"plans/{plan.public_id}/pay-off")

    assert early.status_code == 201, early.content
    assert (early.json()["object"], early.json()["amount"], early.json()["currency"]) == ("payment", 3_000, "USD")
    assert early.json()["plan"] == plan.public_id and early.json()["status"] == "succeeded"
    assert off.status_code == 201 and off.json()["amount"] == 4_500
    plan.refresh_from_db()
    assert plan.status == Plan.Status.PAID
    assert _events(plan.public_id).count("plan.payment_succeeded") == 2
    assert AuditLogEntry.objects.filter(object_id=plan.public_id, action="plan.payment_succeeded").count() == 2
    receipt = ada.client.get(early.json()["receipt_url"])
    assert receipt["Content-Type"] == "application/pdf" and "30.00" in pdf_text(receipt.content)


def test_a_payment_retried_with_its_key_is_paid_once(ada: SignedIn) -> None:
    plan = make_app_plan(_consumer())

    first = ada.client.post(f"plans/{plan.public_id}/pay-now", idempotency_key="pay-now-1")
    again = ada.client.post(f"plans/{plan.public_id}/pay-now", idempotency_key="pay-now-1")

    assert first.status_code == 201 and first.json()["amount"] == 2_500
    assert again.status_code == 201 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Charge.objects.filter(plan=plan, kind=Charge.Kind.PAYMENT).count() == 2  # purchase day + this one


def test_a_payment_refused_names_the_field_and_charges_nothing(ada: SignedIn) -> None:
    plan = make_app_plan(_consumer())
    before = row_counts()

    wrong_currency = ada.client.post(f"plans/{plan.public_id}/pay-early", {"amount": 1_000, "currency": "EUR"})
    too_much = ada.client.post(f"plans/{plan.public_id}/pay-early", {"amount": 7_501, "currency": "USD"})

    assert wrong_currency.status_code == 400
    assert (wrong_currency.json()["error"]["code"], wrong_currency.json()["error"]["param"]) == (
        "currency_mismatch",
        "currency",
    )
    assert too_much.status_code == 400 and too_much.json()["error"]["param"] == "amount"
    assert row_counts() == before


def test_moving_a_due_date_once(ada: SignedIn) -> None:
    plan = make_app_plan(_consumer())
    second = plan.installments.get(sequence=2)
    later = second.due_date + dt.timedelta(days=7)

    moved = ada.client.post(f"plans/{plan.public_id}/move-due-date", {"installment": 2, "due_date": str(later)})
    again = ada.client.post(f"plans/{plan.public_id}/move-due-date", {"installment": 3, "due_date": str(later)})

    assert moved.status_code == 200, moved.content
    assert moved.json()["installments"][1]["due_date"] == str(later)
    assert moved.json()["can_move_due_date"] is False
    assert "You moved a due date" in [row["text"] for row in moved.json()["history"]]
    assert again.status_code == 409 and again.json()["error"]["code"] == "due_date_already_moved"


def test_the_credit_agreement_is_a_pdf(ada: SignedIn) -> None:
    plan = make_app_plan(_consumer())

    response = ada.client.get(f"plans/{plan.public_id}/agreement")

    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    assert plan.public_id in pdf_text(response.content)


def test_receipts_list_payments(ada: SignedIn) -> None:
    plan = make_app_plan(_consumer())
    first = Charge.objects.get(plan=plan)

    listed = ada.client.get("receipts").json()["results"]

    assert [(row["id"], row["amount"], row["kind"]) for row in listed] == [(first.public_id, 2_500, "payment")]
    assert listed[0]["receipt_url"] == f"/api/consumer/v1/receipts/{first.public_id}/pdf"


def test_cards_come_only_through_the_gateways_sdk(ada: SignedIn) -> None:
    card = make_app_card(_consumer())
    second = make_app_card(_consumer())
    before = row_counts()

    setup = ada.client.post("cards/setup", {"mode": "test"})
    added = ada.client.post("cards", {"setup_intent": "seti_123", "mode": "test"})

    # The sandbox gateway has no SDK: the app is sent to the portal, and nothing is saved (but the
    # 409, a refusal from doing the work, kept for its key's replay).
    assert setup.status_code == 409 and setup.json()["error"]["code"] == "card_setup_unavailable"
    assert added.status_code == 400 and added.json()["error"]["param"] == "setup_intent"
    assert row_counts() == {**before, "core.idempotencykey": before["core.idempotencykey"] + 1}
    listed = ada.client.get("cards").json()["results"]
    assert [(row["id"], row["is_default"]) for row in listed] == [(second.public_id, True), (card.public_id, False)]
    assert ada.client.get("cards", {"mode": "live"}).json()["results"] == []
    bad_mode = ada.client.get("cards", {"mode": "both"})
    assert bad_mode.status_code == 400 and bad_mode.json()["error"]["param"] == "mode"


def test_a_card_made_the_default(ada: SignedIn) -> None:
    card = make_app_card(_consumer())
    make_app_card(_consumer())

    response = ada.client.post(f"cards/{card.public_id}/default")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["is_default"], response.json()["payments_resumed"]) == (
        card.public_id,
        True,
        0,
    )
    assert PaymentMethod.objects.get(consumer=_consumer(), is_default=True, livemode=False) == card


def test_decisions_say_what_we_decided_and_why(ada: SignedIn) -> None:
    plan = make_app_plan(_consumer())

    listed = ada.client.get("decisions").json()["results"]

    assert len(listed) == 1
    decision = listed[0]
    assert (decision["shop"], decision["outcome"], decision["verdict"]) == (plan.merchant.name, "approved", "Approved")
    assert (decision["amount"], decision["approved_amount"], decision["adverse_action"]) == (10_000, 10_000, False)
    assert all(reason["text"] for reason in decision["reasons"])
    assert ada.client.get(f"decisions/{decision['id']}").json() == decision


def test_a_decline_is_an_adverse_action_with_its_principal_reasons(ada: SignedIn, tenant: Tenant) -> None:
    product = product_for(tenant.merchant, False)
    application = Application(
        consumer=verified(_consumer()),
        merchant=tenant.merchant,
        product=product,
        amount=product.max_amount + 1,  # more than the product lends: the policy declines
        currency="USD",
        livemode=False,
    )
    assert not decide(application=application).approved

    [decision] = ada.client.get("decisions").json()["results"]

    assert (decision["outcome"], decision["verdict"], decision["adverse_action"]) == ("declined", "Declined", True)
    assert decision["approved_amount"] is None
    assert "amount_out_of_range" in [reason["code"] for reason in decision["reasons"]]
    assert all(reason["text"] for reason in decision["reasons"])
    assert ada.client.get(f"decisions/{decision['id']}").json()["adverse_action"] is True


def test_a_return_is_opened_listed_and_withdrawn(ada: SignedIn) -> None:
    plan = make_app_plan(_consumer())

    opened = ada.client.post(
        f"plans/{plan.public_id}/disputes", {"kind": "return", "amount": 1_000, "description": "Sent one back"}
    )
    again = ada.client.post(f"plans/{plan.public_id}/disputes", {"kind": "return"})
    listed = ada.client.get("disputes").json()["results"]
    on_plan = ada.client.get(f"plans/{plan.public_id}").json()
    withdrawn = ada.client.post(f"disputes/{opened.json()['id']}/withdraw")

    assert opened.status_code == 201, opened.content
    assert (opened.json()["kind"], opened.json()["reason"], opened.json()["amount"]) == ("return", "returned", 1_000)
    assert again.status_code == 409 and again.json()["error"]["code"] == "dispute_already_open"
    assert [row["id"] for row in listed] == [opened.json()["id"]]
    assert on_plan["open_dispute"] == opened.json()["id"]
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == Dispute.Status.WITHDRAWN
    assert "dispute.created" in _events(opened.json()["id"])


def test_asking_for_hardship_help_pauses_the_plan(ada: SignedIn) -> None:
    plan = make_app_plan(_consumer())

    asked = ada.client.post(f"plans/{plan.public_id}/hardship-requests", {"reason": "I lost my job."})
    again = ada.client.post(f"plans/{plan.public_id}/hardship-requests", {"reason": "Still"})
    blank = ada.client.post(f"plans/{plan.public_id}/hardship-requests", {"reason": "  "})
    listed = ada.client.get(f"plans/{plan.public_id}/hardship-requests").json()["results"]

    assert asked.status_code == 201
    assert (asked.json()["status"], asked.json()["plan"], asked.json()["reason"]) == (
        "open",
        plan.public_id,
        "I lost my job.",
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "hardship_already_open"
    assert blank.status_code == 400 and blank.json()["error"]["param"] == "reason"
    assert [row["reason"] for row in listed] == ["I lost my job."]
    assert HardshipRequest.objects.filter(plan=plan).count() == 1
    plan.refresh_from_db()
    assert plan.collections_paused is True


def test_notification_preferences(ada: SignedIn) -> None:
    shown = ada.client.get("preferences").json()
    saved = ada.client.post("preferences", {"notify_by_email": True, "notify_by_sms": False})

    assert (shown["notify_by_email"], shown["notify_by_sms"]) == (True, True)
    assert saved.status_code == 200 and (saved.json()["notify_by_email"], saved.json()["notify_by_sms"]) == (
        True,
        False,
    )
    consumer = _consumer()
    assert (consumer.notify_by_email, consumer.notify_by_sms) == (True, False)
    assert AuditLogEntry.objects.filter(object_id=consumer.public_id, action="consumer.preferences_updated").exists()


def test_bank_data_consents_widened_revoked_and_granted_again(ada: SignedIn) -> None:
    consent = make_app_consent(_consumer())
    path = f"bank-data-consents/{consent.public_id}"

    listed = ada.client.get("bank-data-consents").json()["results"]
    widened = ada.client.post(f"{path}/scope", {"scope": "all_decisions"})
    revoked = ada.client.post(f"{path}/revoke")
    revoked_again = ada.client.post(f"{path}/revoke")
    granted = ada.client.post(f"{path}/grant")

    assert [(row["id"], row["scope"], row["current"]) for row in listed] == [(consent.public_id, "source", True)]
    assert listed[0]["shared"] == {
        "transactions": 0,
        "accounts": 0,
        "first_booked_on": None,
        "latest_booked_on": None,
    }
    assert widened.status_code == 200 and widened.json()["scope"] == "all_decisions"
    assert revoked.status_code == 200
    assert (revoked.json()["current"], revoked.json()["revoked_by"]) == (False, "consumer")
    assert revoked_again.status_code == 409 and revoked_again.json()["error"]["code"] == "no_consent"
    assert granted.status_code == 200 and (granted.json()["current"], granted.json()["scope"]) == (True, "source")
    consent.refresh_from_db()
    assert consent.revoked_at is None and consent.scope == BankDataConsent.Scope.SOURCE


def test_a_card_added_with_the_gateways_sdk(ada: SignedIn, stripe_gateway: None, settings: Any) -> None:
    setup = ada.client.post("cards/setup", {"mode": "test"})
    assert setup.status_code == 201, setup.content
    body = setup.json()
    assert body["publishable_key"] == "pk_test_localstripe" and body["setup_intent"].startswith("seti_")
    unconfirmed = ada.client.post("cards", {"setup_intent": body["setup_intent"], "mode": "test"})
    # What the gateway's SDK does on the phone, with the publishable key: the number never reaches us.
    confirmed = requests.post(
        f"{settings.STRIPE_API_BASE}/v1/setup_intents/{body['setup_intent']}/confirm",
        json={
            "key": body["publishable_key"],
            "client_secret": body["client_secret"],
            "payment_method_data": {
                "type": "card",
                "card": {"number": "4242424242424242", "exp_month": "12", "exp_year": "2035", "cvc": "123"},
            },
        },
        timeout=10,
    )
    assert confirmed.status_code == 200, confirmed.text

    added = ada.client.post("cards", {"setup_intent": body["setup_intent"], "mode": "test"})
    again = ada.client.post("cards", {"setup_intent": body["setup_intent"], "mode": "test"})

    assert unconfirmed.status_code == 400
    assert (unconfirmed.json()["error"]["code"], unconfirmed.json()["error"]["param"]) == (
        "card_setup_incomplete",
        "setup_intent",
    )
    assert added.status_code == 201, added.content
    assert (added.json()["last4"], added.json()["is_default"], added.json()["livemode"]) == ("4242", True, False)
    assert again.json()["id"] == added.json()["id"]
    assert PaymentMethod.objects.filter(consumer=_consumer()).count() == 1
    assert [row["id"] for row in ada.client.get("cards", {"mode": "test"}).json()["results"]] == [added.json()["id"]]


def test_a_pending_device_reaches_none_of_the_resources(ada: SignedIn, sign_in: SignIn) -> None:
    plan = make_app_plan(_consumer())
    tablet = sign_in(ADA, device_name="Tablet")
    before = row_counts()

    for path in ("profile", "plans", f"plans/{plan.public_id}", "cards", "decisions", "receipts"):
        refused = tablet.client.get(path)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "device_not_trusted", path
    paying = tablet.client.post(f"plans/{plan.public_id}/pay-now")

    assert paying.status_code == 403 and paying.json()["error"]["code"] == "device_not_trusted"
    assert row_counts() == before
