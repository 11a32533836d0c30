"""The consumer's web experience in headless Chromium against a live server, through the real pages
only (one-time codes read from the sandbox inbox page): a new consumer completes checkout with each
kind of product; a declined one sees the reasons; a returning one signs in and pays early, changes
the card and asks for hardship, which an operator then sees in the admin queue; one confirms a saved
card at a new shop with a fresh code and manages the bank data a shop shares. Every page passes
an axe-core check (no serious or critical WCAG 2.1 AA violation) and asks no host but ours.
Screenshots of the main screens go to var/screenshots/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model

from bnpl.accounts import two_factor
from bnpl.checkout.models import CheckoutSession, Order
from bnpl.checkout.orders import order_capture
from bnpl.checkout.sessions import checkout_session_create
from bnpl.collections.models import HardshipRequest
from bnpl.core import clock
from bnpl.payments.models import PaymentMethod
from bnpl.plans.models import PaymentProduct, Plan
from consumers.models import MerchantConsumer
from decisioning import bank_data
from decisioning.models import BankDataConsent
from tests.bnpl.checkout.factories import make_authorized_order
from tests.browser import accessibility_violations, screenshot
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def visit(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser context whose page records every host it asks, and checks each page it
    lands on for accessibility."""
    context = browser.new_context(viewport={"width": 420, "height": 900})  # a phone first
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.hosts = set()
    page.on("request", lambda request: page.hosts.add(request.url.split("/")[2]) if "://" in request.url else None)
    yield page
    ours = live_server.url.split("/")[2]
    assert page.hosts <= {ours}, f"asked other hosts: {page.hosts - {ours}}"
    context.close()


def _accessible(page: Any) -> None:
    assert accessibility_violations(page) == [], page.url


def _session(tenant: Tenant, live_server: Any, amount: int = 10_000) -> CheckoutSession:
    return checkout_session_create(
        merchant=tenant.merchant,
        livemode=False,
        amount=amount,
        currency="USD",
        line_items=[{"name": "Desk lamp", "quantity": 1, "unit_amount": amount}],
        merchant_reference="A-1001",
        return_url=f"{live_server.url}/healthz",
        cancel_url=f"{live_server.url}/healthz",
    )


def _sign_in(page: Any, live_server: Any, email: str) -> None:
    """On the sign-in page: ask for a code, read it in the sandbox inbox, enter it."""
    page.get_by_label("Email or mobile number").fill(email)
    page.get_by_role("button", name="Send code").click()
    page.get_by_label("6-digit code").wait_for()
    inbox = page.context.new_page()
    inbox.goto(f"{live_server.url}/sandbox/inbox?{urlencode({'to': email})}")
    code = re.search(r"code is (\d{6})", inbox.content())
    inbox.close()
    assert code, "no code in the sandbox inbox"
    page.get_by_label("6-digit code").fill(code.group(1))
    page.get_by_role("button", name="Continue").click()


def _card(page: Any, number: str = "4242 4242 4242 4242") -> None:
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2035")
    page.get_by_label("Security code").fill("123")


@pytest.mark.parametrize("kind", ["pay_in_4", "pay_in_30", "financing"])
def test_a_new_consumer_completes_checkout(visit: Any, live_server: Any, tenant: Tenant, kind: str) -> None:
    session = _session(tenant, live_server)
    product = PaymentProduct.objects.filter(merchant=tenant.merchant, livemode=False, kind=kind).order_by(
        "installment_count"
    )[0]
    page = visit
    page.goto(f"{live_server.url}/checkout/{session.public_id}")
    _accessible(page)
    page.get_by_role("link", name="Continue").click()
    _accessible(page)
    _sign_in(page, live_server, f"new.{kind}+clean@example.com")

    page.get_by_label("Full legal name").wait_for()
    _accessible(page)
    screenshot(page, "checkout-identity")
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

    page.locator(f'input[name="product"][value="{product.public_id}"]').check()
    _card(page)
    _accessible(page)
    screenshot(page, f"checkout-offers-{kind}")
    page.locator("#confirm-button").click()  # "Pay $25.00 today", "Nothing to pay today"

    page.get_by_role("heading", name="You're approved").wait_for()
    _accessible(page)
    screenshot(page, f"checkout-approved-{kind}")
    page.get_by_role("link", name=f"Continue to {tenant.merchant.name}").click()
    page.wait_for_url(f"{live_server.url}/healthz?**")
    order = Order.objects.get(checkout_session=session)
    assert Plan.objects.get(order=order).product == product
    assert f"order={order.public_id}" in page.url


def test_a_declined_consumer_sees_the_reasons(visit: Any, live_server: Any, tenant: Tenant) -> None:
    session = _session(tenant, live_server, amount=300_000)  # over the spending limit
    page = visit
    page.goto(f"{live_server.url}/checkout/{session.public_id}")
    page.get_by_role("link", name="Continue").click()
    _sign_in(page, live_server, "declined+clean@example.com")
    page.get_by_label("Full legal name").fill("Alan Turing")
    page.get_by_label("Date of birth").fill("1980-06-23")
    page.get_by_label("Address", exact=True).fill("2 Side St")
    page.get_by_label("City").fill("Springfield")
    page.get_by_label("Postal code").fill("12345")
    page.get_by_label("Last 4 digits of your SSN or national id").fill("4321")
    page.get_by_role("button", name="Continue").click()

    # Decided before the choice: the decline right after identity, no offers and no card asked for.
    page.get_by_role("heading", name="We can't offer pay later for this order").wait_for()
    assert page.locator('input[name="product"], input[name="card_number"]').count() == 0
    _accessible(page)
    screenshot(page, "checkout-declined")
    assert "over your spending limit" in page.locator("#decline-reasons").inner_text()
    assert page.get_by_role("heading", name="What you can do").is_visible()
    assert CheckoutSession.objects.get(pk=session.pk).status == CheckoutSession.Status.DECLINED


def test_a_returning_consumer_pays_early_changes_the_card_and_asks_for_help(
    visit: Any, live_server: Any, tenant: Tenant
) -> None:
    consumer = make_verified_consumer(email="returning+clean@example.com")
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer)
    order_capture(order=order, amount=10_000)
    plan = Plan.objects.get(order=order)
    page = visit

    page.goto(f"{live_server.url}/account/")
    _sign_in(page, live_server, consumer.email or "")
    page.get_by_role("heading", name="Your plans").wait_for()
    _accessible(page)
    screenshot(page, "account-overview")
    page.get_by_role("link", name="Details").click()
    page.get_by_role("heading", name="Schedule").wait_for()
    _accessible(page)
    screenshot(page, "account-plan")
    page.get_by_label("Pay an amount early").fill("30.00")
    page.get_by_role("button", name="Pay early").click()
    page.get_by_text("Paid $30.00 early.").wait_for()

    page.get_by_role("button", name="Menu").click()  # on a phone the account's navigation is folded
    page.get_by_role("link", name="Cards").click()  # a test plan only: its test-mode cards
    page.get_by_role("region", name="Test mode").wait_for()
    _card(page, "4000 0000 0000 0341")
    page.get_by_role("button", name="Add card").click()
    page.get_by_text("Your test-mode payments now use visa •••• 0341.").wait_for()
    _accessible(page)
    screenshot(page, "account-cards")
    assert PaymentMethod.objects.get(consumer=consumer, is_default=True).last4 == "0341"

    page.get_by_role("button", name="Menu").click()
    page.get_by_role("link", name="Plans").click()
    page.get_by_role("link", name="Details").click()
    page.get_by_label("Struggling to pay?").fill("I lost my job last week.")
    page.get_by_role("button", name="Ask for help").click()
    page.get_by_text("We have your request.").wait_for()
    request = HardshipRequest.objects.get(plan=plan)
    assert request.status == "open" and Plan.objects.get(pk=plan.pk).collections_paused

    operator = get_user_model().objects.create_superuser("ops@bnpl.test", "ops-password-1")  # type: ignore[attr-defined]
    _device, backup_codes = two_factor.authenticator_issue(user=operator)
    admin = page.context.new_page()
    admin.goto(f"{live_server.url}/admin/collections/hardshiprequest/")
    admin.get_by_label("Email").fill("ops@bnpl.test")
    admin.get_by_label("Password").fill("ops-password-1")
    admin.get_by_label("Authenticator code").fill(backup_codes[0])
    admin.get_by_role("button", name="Log in").click()
    admin.get_by_text(plan.public_id).wait_for()
    screenshot(admin, "admin-hardship-queue")


def test_a_returning_consumer_confirms_a_saved_card_at_a_new_shop_and_manages_data_sharing(
    visit: Any, live_server: Any, tenant: Tenant, other_tenant: Tenant
) -> None:
    consumer = make_verified_consumer(email="saved+clean@example.com")
    make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer)  # card saved
    link = MerchantConsumer.objects.get(merchant=tenant.merchant, consumer=consumer)
    bank_data.consent_record(link=link, reference="c-1", granted_at=clock.now())
    bank_data.transactions_ingest(
        link=link, transactions=[bank_data.IncomingTransaction("t1", "acc", clock.today(), 250_000, "USD", "income")]
    )
    session = _session(other_tenant, live_server)
    page = visit

    page.goto(f"{live_server.url}/checkout/{session.public_id}")
    page.get_by_role("link", name="Continue").click()
    _sign_in(page, live_server, consumer.email or "")
    page.locator("#confirm-button").click()  # "Pay $25.00 today", "Nothing to pay today"
    page.get_by_role("heading", name="Check it is you").wait_for()
    _accessible(page)
    screenshot(page, "checkout-step-up")
    inbox = page.context.new_page()
    inbox.goto(f"{live_server.url}/sandbox/inbox?{urlencode({'to': consumer.email})}")
    code = re.search(r"code is (\d{6})\. [^<]*Enter it only to pay", inbox.content())
    inbox.close()
    assert code, "no step-up code in the sandbox inbox"
    page.get_by_label("Code", exact=True).fill(code.group(1))
    page.locator("#confirm-button").click()  # "Pay $25.00 today", "Nothing to pay today"
    page.get_by_role("heading", name="You're approved").wait_for()
    assert Order.objects.filter(checkout_session=session).exists()

    page.goto(f"{live_server.url}/account/data-sharing")
    page.get_by_role("heading", name="Your bank data").wait_for()
    _accessible(page)
    screenshot(page, "account-data-sharing")
    page.get_by_role("button", name="Use it for all my decisions").click()
    page.get_by_text("Done: what").wait_for()
    page.get_by_role("button", name="Revoke and delete what was shared").click()
    page.get_by_text("Revoked:").wait_for()
    _accessible(page)
    consent = BankDataConsent.objects.get(consumer=consumer)
    assert (consent.status, consent.revoked_by) == ("revoked", "consumer")
