"""The hosted checkout walked in headless Chromium at a desktop size and a phone's (360 x 740):
the merchant's name first, the order summary and the steps in view from sign-in on, the decision
before the card (only approved options), a picker whose confirm button says what happens today, a
declined card's error next to its field, and the approval. Every page passes axe-core (no serious
or critical WCAG 2.1 AA violation) and nothing is wider than the screen, even a long email address.
Screenshots go to var/screenshots/checkout-<size>-*.png."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

import pytest

from bnpl.checkout.models import CheckoutSession, Order
from bnpl.checkout.sessions import checkout_session_create
from bnpl.payments.models import PaymentMethod
from bnpl.plans.models import PaymentProduct
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session
from tests.browser import accessibility_violations, screenshot, signed_in_cookie
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}
FIRST_LOAD_MS = 60_000  # the live server's first request loads the whole project (seconds on a busy machine)
LONG_EMAIL = "maximiliana.featherstonehaugh-wolfeschlegelsteinhausen+clean@example-shop-domain.com"


def _check(page: Any, size: str, name: str) -> None:
    """Accessible, no wider than the screen, and photographed."""
    assert accessibility_violations(page) == [], page.url
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= SIZES[size]["width"], f"{page.url} is {width}px wide at {size} size"
    screenshot(page, f"checkout-{size}-{name}")


def _summary_in_view(page: Any) -> None:
    summary = page.get_by_role("region", name="Order summary")
    assert "Trail running shoes" in summary.inner_text() and "$120.00" in summary.inner_text()
    assert page.locator(".checkout-merchant").inner_text().startswith("Merchant A")


@pytest.mark.parametrize("size", list(SIZES))
def test_the_checkout_at_desktop_and_phone_sizes(browser: Any, live_server: Any, tenant: Tenant, size: str) -> None:
    session = checkout_session_create(
        merchant=tenant.merchant,
        livemode=False,
        amount=12_000,
        currency="USD",
        line_items=[
            {"name": "Trail running shoes", "quantity": 1, "unit_amount": 9_000},
            {"name": "Merino socks", "quantity": 2, "unit_amount": 1_500},
        ],
        merchant_reference="A-1001",
        return_url=f"{live_server.url}/healthz",
        cancel_url=f"{live_server.url}/healthz",
    )
    context = browser.new_context(viewport=SIZES[size])
    context.set_default_timeout(10_000)
    page = context.new_page()

    page.goto(f"{live_server.url}/checkout/{session.public_id}", timeout=FIRST_LOAD_MS)
    _summary_in_view(page)
    _check(page, size, "1-start")
    page.get_by_role("link", name="Continue").click()

    page.get_by_label("Email or mobile number").fill(LONG_EMAIL)
    _summary_in_view(page)
    assert page.locator('[aria-current="step"]').inner_text().strip().endswith("Sign in")
    _check(page, size, "2-sign-in")
    page.get_by_role("button", name="Send code").click()
    page.get_by_label("6-digit code").wait_for()
    _summary_in_view(page)
    _check(page, size, "3-code")
    inbox = context.new_page()
    inbox.goto(f"{live_server.url}/sandbox/inbox?{urlencode({'to': LONG_EMAIL})}")
    code = re.search(r"code is (\d{6})", inbox.content())
    inbox.close()
    assert code
    page.get_by_label("6-digit code").fill(code.group(1))
    page.get_by_role("button", name="Continue").click()

    page.get_by_label("Full legal name").wait_for()
    _summary_in_view(page)
    assert page.locator('[aria-current="step"]').inner_text().strip().endswith("Identity")
    _check(page, size, "4-identity")
    for label, value in (
        ("Full legal name", "Grace Hopper"),
        ("Date of birth", "1986-12-09"),
        ("Address", "1 Main St"),
        ("City", "Springfield"),
        ("Postal code", "12345"),
        ("Last 4 digits of your SSN or national id", "6789"),
    ):
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Continue").click()

    page.get_by_role("heading", name="Choose how to pay").wait_for()
    assert page.locator('[aria-current="step"]').inner_text().strip().endswith("Plan")
    products = {
        product.kind: product
        for product in PaymentProduct.objects.filter(merchant=tenant.merchant, livemode=False).order_by(
            "-installment_count"
        )
    }
    button = page.locator("#confirm-button")
    page.locator(f'input[name="product"][value="{products["pay_in_30"].public_id}"]').check()
    assert button.inner_text() == "Nothing to pay today"
    page.locator(f'input[name="product"][value="{products["pay_in_4"].public_id}"]').check()
    assert button.inner_text() == "Pay $30.00 today"
    option = page.locator(f"#option-{products['pay_in_4'].public_id}")
    option.get_by_text("Schedule, costs and agreement").click()
    assert option.get_by_role("region", name="Credit agreement for Pay in 4").is_visible()
    _check(page, size, "5-plan")

    page.get_by_label("Card number").fill("4000 0000 0000 0002")
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2035")
    page.get_by_label("Security code").fill("123")
    button.click()
    error = page.locator("#card_number-error")
    error.wait_for()
    assert error.inner_text() == "The card was declined."
    assert page.get_by_label("Card number").input_value() == "4000 0000 0000 0002"
    assert not PaymentMethod.objects.exists()
    _check(page, size, "6-card-declined")

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Security code").fill("123")
    page.locator("#confirm-button").click()
    page.get_by_role("heading", name="You're approved").wait_for()
    _check(page, size, "7-approved")
    assert CheckoutSession.objects.get(pk=session.pk).status == CheckoutSession.Status.COMPLETE
    assert Order.objects.filter(checkout_session=session).exists()
    context.close()


def test_typing_a_new_card_chooses_it_over_the_saved_one(browser: Any, live_server: Any, tenant: Tenant) -> None:
    consumer = make_verified_consumer(email="saved+clean@example.com")
    make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer)  # a saved card, bought here
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    context = browser.new_context(viewport=SIZES["phone"])
    context.set_default_timeout(10_000)
    context.add_cookies([signed_in_cookie(consumer.public_id, live_server.url)])
    page = context.new_page()

    page.goto(f"{live_server.url}/checkout/{session.public_id}", timeout=FIRST_LOAD_MS)
    saved = page.locator('input[name="payment_method"]').first
    assert saved.is_checked() and saved.get_attribute("value", timeout=1_000)
    page.get_by_label("Card number").fill("4242 4242 4242 4242")

    assert page.locator("#new-card-choice").is_checked() and not saved.is_checked()
    _check(page, "phone", "8-new-card-chosen")
    context.close()
