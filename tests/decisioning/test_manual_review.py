"""Referrals: close to the cutoff, a person decides. The shopper waits, the operator approves or
declines with a note in admin (audited), and the shopper is told; an approved referral lets the
same checkout finish."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout.models import CheckoutSession, Order
from bnpl.checkout.step_up import checkout_card_add
from bnpl.core.models import AuditLogEntry
from bnpl.payments.models import Charge
from consumers.models import SandboxMessage
from decisioning.models import CreditDecision, ModelVersion
from tests.bnpl.accounts.factories import make_user
from tests.bnpl.checkout.factories import make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.helpers import verified_client
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def refer_everything(settings: Any) -> None:
    settings.CREDIT_REFER_BAND = 1.0  # every score under the cutoff is referred


def _confirm(tenant: Tenant, session: CheckoutSession, email: str) -> checkout_confirmation.ConfirmResult:
    current = CheckoutSession.objects.get(pk=session.pk)
    consumer = current.consumer or make_verified_consumer(email=email)
    card = checkout_card_add(
        session=current, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    return checkout_confirmation.checkout_confirm(
        session=CheckoutSession.objects.get(pk=session.pk),
        consumer=consumer,
        product=product_for(tenant.merchant, False),
        payment_method=card,
    )


def _operator() -> Client:
    client = Client()
    verified_client(make_user(email="reviewer@lender.example", is_staff=True, is_superuser=True), client=client)
    return client


def test_a_referral_waits_without_taking_money(tenant: Tenant, champion: ModelVersion, refer_everything: None) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)

    result = _confirm(tenant, session, "ann+clean@example.com")

    session.refresh_from_db()
    decision = CreditDecision.objects.get(checkout_session=session)
    assert result.order is None and result.decision is not None and result.decision.referred
    assert (session.status, decision.outcome, decision.review_status) == ("in_review", "referred", "")
    assert not Charge.objects.exists() and not Order.objects.exists()
    page = Client().get(f"/checkout/{session.public_id}")
    assert page.status_code == 200 and b"reviewing your application" in page.content


def test_an_approved_referral_lets_the_shopper_finish(
    tenant: Tenant, champion: ModelVersion, refer_everything: None, django_capture_on_commit_callbacks: Any
) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    _confirm(tenant, session, "ann+clean@example.com")
    decision = CreditDecision.objects.get(checkout_session=session)
    operator = _operator()

    queue = operator.get("/admin/decisioning/creditdecision/", {"review": "waiting"})
    with django_capture_on_commit_callbacks(execute=True):
        response = operator.post(
            f"/admin/decisioning/creditdecision/{decision.pk}/change/",
            {"review_note": "Income verified by phone.", "_approve_referral": "Approve"},
        )

    assert decision.public_id in queue.content.decode()
    assert response.status_code == 302
    decision.refresh_from_db()
    session.refresh_from_db()
    assert (decision.review_status, decision.review_note, decision.reviewed_by.email) == (  # type: ignore[union-attr]
        "approved",
        "Income verified by phone.",
        "reviewer@lender.example",
    )
    assert session.status == "open"
    entry = AuditLogEntry.objects.get(action="credit_decision.reviewed")
    assert entry.actor_kind == "operator" and entry.after is not None and entry.after["review_status"] == "approved"
    message = SandboxMessage.objects.filter(destination="ann+clean@example.com").latest("id")
    assert re.search(rf"/checkout/{session.public_id}", message.body)

    finished = _confirm(tenant, session, "ann+clean@example.com")

    assert finished.order is not None
    final = CreditDecision.objects.filter(checkout_session=session).latest("id")
    assert final.outcome == "approved" and final.features["review_of"] == decision.public_id


def test_a_declined_referral_closes_the_checkout_and_leaves_a_notice(
    tenant: Tenant, champion: ModelVersion, refer_everything: None
) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    _confirm(tenant, session, "ann+clean@example.com")
    decision = CreditDecision.objects.get(checkout_session=session)

    operator = _operator()
    without_note = operator.post(
        f"/admin/decisioning/creditdecision/{decision.pk}/change/",
        {"review_note": "", "_decline_referral": "Decline"},
        follow=True,
    )
    decision.refresh_from_db()
    assert decision.review_status == "" and "Write a note saying why." in without_note.content.decode()

    operator.post(
        f"/admin/decisioning/creditdecision/{decision.pk}/change/",
        {"review_note": "Could not verify income.", "_decline_referral": "Decline"},
    )

    decision.refresh_from_db()
    session.refresh_from_db()
    assert (decision.review_status, session.status) == ("declined", "declined")
    from consumers.selectors import declined_decision_list

    assert decision in list(declined_decision_list(consumer=decision.consumer))


def test_only_referrals_waiting_for_review_can_be_changed(tenant: Tenant, champion: ModelVersion) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    _confirm(tenant, session, "bea+clean@example.com")  # approved outright (band at its default)
    decision = CreditDecision.objects.get(checkout_session=session)

    response = _operator().post(
        f"/admin/decisioning/creditdecision/{decision.pk}/change/", {"review_note": "x", "_approve_referral": "Approve"}
    )

    assert decision.outcome == "approved"
    assert response.status_code == 403
