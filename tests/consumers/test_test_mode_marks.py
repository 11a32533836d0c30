"""Test mode is marked on every page a shopper sees of it: each hosted checkout page of a test-mode
session (sign-in included) carries the test-mode banner, an accessible region named "Test mode";
the portal marks test-mode plans, their pages, payments, decisions and documents. Live pages carry
none of it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout.models import CheckoutSession, Order
from bnpl.payments.models import Charge
from consumers.models import Consumer
from consumers.selectors import SESSION_KEY
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.helpers import pdf_text
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

BANNER = re.compile(
    r'<div class="test-mode-banner" id="test-mode-banner" role="region" aria-label="Test mode">'
    r"<strong>Test mode</strong> — no real money moves\."
)
BADGE = '<span class="badge test-mode">Test mode</span>'
CARD = {"card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}


def _shopper(consumer: Consumer | None = None) -> Client:
    client = Client()
    if consumer is not None:
        session = client.session
        session[SESSION_KEY] = consumer.public_id
        session.save()
    return client


def _marked(response: Any) -> bool:
    return bool(BANNER.search(response.content.decode()))


def _pages(tenant: Tenant, *, livemode: bool, settings: Any) -> dict[str, Any]:
    """Every hosted checkout page a shopper of a session of this mode sees, by name."""
    session = make_checkout_session(merchant=tenant.merchant, livemode=livemode)
    path = f"/checkout/{session.public_id}"
    signed_out = _shopper()
    pages = {"cart, signed out": signed_out.get(path)}
    pages["sign-in"] = signed_out.get(f"/account/sign-in?next={path}")
    pages["identity"] = _shopper(make_verified_consumer()).get(f"{path}/identity")
    consumer = make_verified_consumer()
    shopper = _shopper(consumer)
    pages["offers and card"] = shopper.get(path)
    product = product_for(tenant.merchant, livemode).public_id
    pages["declined card"] = shopper.post(
        f"{path}/confirm", {"product": product, **CARD, "card_number": "4000 0000 0000 0002"}
    )
    assert shopper.post(f"{path}/confirm", {"product": product, **CARD}).status_code == 302
    pages["approved"] = shopper.get(f"{path}/approved")
    pages["closed"] = shopper.get(path)  # complete now: the closed page

    refused = make_checkout_session(merchant=tenant.merchant, livemode=livemode)
    settings.CONSUMER_EXPOSURE_LIMIT_MAJOR = 1  # any order is more than this shopper may owe
    pages["credit declined"] = _shopper(make_verified_consumer()).post(
        f"/checkout/{refused.public_id}/confirm", {"product": product, **CARD}
    )
    return pages


def test_every_hosted_checkout_page_of_a_test_session_carries_the_test_mode_banner(
    tenant: Tenant, settings: Any
) -> None:
    pages = _pages(tenant, livemode=False, settings=settings)

    assert "We can't offer pay later" in pages["credit declined"].content.decode()
    assert pages["declined card"].status_code == 402 and pages["closed"].status_code == 409
    unmarked = [name for name, response in pages.items() if not _marked(response)]
    assert unmarked == []


def test_no_live_checkout_page_carries_it(tenant: Tenant, settings: Any) -> None:
    pages = _pages(tenant, livemode=True, settings=settings)

    marked = [name for name, response in pages.items() if _marked(response) or BADGE in response.content.decode()]
    assert marked == []


def test_the_portal_marks_test_plans_their_pages_decisions_and_documents(tenant: Tenant) -> None:
    consumer = make_verified_consumer()
    test_plan = make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer).plan
    live_plan = make_authorized_order(merchant=tenant.merchant, livemode=True, consumer=consumer).plan
    client = _shopper(consumer)

    overview = client.get("/account/").content.decode()
    sections = {
        plan: overview.split(f'id="plan-{plan.public_id}"')[1].split("</h3>")[0] for plan in (test_plan, live_plan)
    }
    assert BADGE in sections[test_plan] and BADGE not in sections[live_plan]
    assert not BANNER.search(overview)  # a page of both modes: its rows say which are tests

    assert _marked(client.get(f"/account/plans/{test_plan.public_id}"))
    assert not _marked(client.get(f"/account/plans/{live_plan.public_id}"))

    decisions = client.get("/account/decisions").content.decode()
    documents = client.get("/account/documents").content.decode()
    assert decisions.count(BADGE) == 1 and documents.count(BADGE) == 2  # the test agreement and its receipt

    test_receipt = Charge.objects.get(plan=test_plan, kind="payment")
    live_receipt = Charge.objects.get(plan=live_plan, kind="payment")
    receipt = pdf_text(client.get(f"/account/receipts/{test_receipt.public_id}.pdf").content)
    assert "TEST MODE - no real money moves" in receipt
    assert "TEST MODE" not in pdf_text(client.get(f"/account/receipts/{live_receipt.public_id}.pdf").content)
    assert "TEST MODE" in pdf_text(client.get(f"/account/plans/{test_plan.public_id}/agreement.pdf").content)


def test_a_test_checkout_offers_only_test_cards(tenant: Tenant) -> None:
    consumer = make_verified_consumer()
    live_order = make_authorized_order(merchant=tenant.merchant, livemode=True, consumer=consumer)
    live_card = Charge.objects.get(plan=live_order.plan).payment_method
    test_session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    client = _shopper(consumer)

    page = client.get(f"/checkout/{test_session.public_id}").content.decode()
    refused = client.post(
        f"/checkout/{test_session.public_id}/confirm",
        {"product": product_for(tenant.merchant, False).public_id, "payment_method": live_card.public_id},
    )

    assert live_card.public_id not in page
    assert refused.status_code == 400 and "Choose one of your saved cards." in refused.content.decode()
    assert CheckoutSession.objects.get(pk=test_session.pk).status == "open"
    assert not Order.objects.filter(checkout_session=test_session).exists()
    with pytest.raises(Exception) as wrong_mode:
        checkout_confirmation.checkout_confirm(
            session=test_session,
            consumer=consumer,
            product=product_for(tenant.merchant, False),
            payment_method=live_card,
        )
    assert getattr(wrong_mode.value, "code", "") == "payment_method_wrong_mode"
    assert not Charge.objects.filter(payment_method=live_card, livemode=False).exists()
