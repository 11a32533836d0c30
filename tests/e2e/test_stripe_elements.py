"""The hosted checkout with Stripe configured, in headless Chromium against a live server: the new
card is typed into Stripe Elements (localstripe's Stripe.js), saved by a SetupIntent confirmed in
the browser, and only the SetupIntent's id reaches our server; the first payment is then an
off-session PaymentIntent on that card."""

from __future__ import annotations

from typing import Any

import pytest

from bnpl.checkout.models import CheckoutSession
from bnpl.checkout.sessions import checkout_session_create
from bnpl.payments.models import Charge, PaymentMethod
from tests.browser import screenshot, signed_in_cookie
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

CARD = "4242424242424242"


def _checkout_page(browser: Any, live_server: Any, session: CheckoutSession, consumer_id: str) -> tuple[Any, list]:
    context = browser.new_context()
    context.add_cookies([signed_in_cookie(consumer_id, live_server.url)])
    page = context.new_page()
    sent: list[tuple[str, str]] = []  # every request body the page sends to our server
    page.on(
        "request",
        lambda request: (
            sent.append((request.url, request.post_data or "")) if request.url.startswith(live_server.url) else None
        ),
    )
    page.goto(f"{live_server.url}/checkout/{session.public_id}")
    return page, sent


def _session(tenant: Tenant, live_server: Any) -> CheckoutSession:
    """A session whose return and cancel addresses are on the live server (no other host is reachable)."""
    return checkout_session_create(
        merchant=tenant.merchant,
        livemode=False,
        amount=10_000,
        currency="USD",
        line_items=[{"name": "Desk lamp", "quantity": 1, "unit_amount": 10_000}],
        return_url=f"{live_server.url}/healthz",
        cancel_url=f"{live_server.url}/healthz",
    )


def _type_card(page: Any, number: str) -> None:
    element = page.locator("#card-element")
    for field, value in (("number", number), ("exp_month", "12"), ("exp_year", "35"), ("cvc", "123")):
        element.locator(f'input[placeholder="{field}"]').fill(value)
    element.locator('input[placeholder="postal_code"]').fill("12345")


def test_a_new_card_is_saved_by_stripe_elements_and_never_reaches_our_server(
    browser: Any,
    live_server: Any,
    tenant: Tenant,
    stripe_gateway: None,
) -> None:
    session = _session(tenant, live_server)
    consumer = make_verified_consumer()
    page, sent = _checkout_page(browser, live_server, session, consumer.public_id)
    assert page.locator("#card_number").count() == 0  # no card field of ours
    _type_card(page, CARD)
    screenshot(page, "checkout-stripe-elements")

    page.locator("#confirm-button").click()  # "Pay $25.00 today", "Nothing to pay today"
    page.get_by_role("heading", name="You're approved").wait_for()
    screenshot(page, "checkout-approved")
    page.get_by_role("link", name="Continue to").click()
    page.wait_for_url(f"{live_server.url}/healthz?**")  # the shop's return_url

    card = PaymentMethod.objects.get(consumer=consumer)
    assert (card.gateway, card.last4) == ("stripe", "4242") and card.gateway_token.startswith("cus_")
    first = Charge.objects.get(consumer=consumer, kind="payment")
    assert first.status == "succeeded" and first.gateway_reference.startswith("pi_") and first.amount == 2_500
    assert CheckoutSession.objects.get(pk=session.pk).status == "complete"
    posted = [body for url, body in sent if body]
    assert any("setup_intent=seti_" in body for body in posted)
    assert not any(CARD in body or CARD[-4:] + "&" in body for body in posted)


def test_a_card_the_bank_declines_is_refused_in_the_browser(
    browser: Any,
    live_server: Any,
    tenant: Tenant,
    stripe_gateway: None,
) -> None:
    session = _session(tenant, live_server)
    consumer = make_verified_consumer()
    page, _ = _checkout_page(browser, live_server, session, consumer.public_id)
    _type_card(page, "4000000000000002")

    page.locator("#confirm-button").click()  # "Pay $25.00 today", "Nothing to pay today"

    page.locator("#card-errors").filter(has_text="declined").wait_for()
    screenshot(page, "checkout-stripe-elements-declined")
    assert not PaymentMethod.objects.filter(consumer=consumer).exists()
    assert CheckoutSession.objects.get(pk=session.pk).status == "open"
