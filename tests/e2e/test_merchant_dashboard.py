"""The merchant's web experience in headless Chromium against a live server: a new merchant signs
up and applies, an operator approves it in admin, the merchant creates a key, receives a signed test
webhook at a local receiver, sees an order placed through the API appear, captures and refunds it
from the page, and sees the dashboard's figures change; an analyst is refused every write. Every
request the pages make goes to our own server. Screenshots land in var/screenshots/."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bnpl.accounts import two_factor
from merchants.models import BusinessProfile, Membership, Merchant, WebhookDelivery
from tests.bnpl.accounts.factories import make_user
from tests.browser import accessibility_violations, screenshot
from tests.conftest import ApiClient
from tests.e2e.test_checkout_end_to_end import SESSION, _shopper_checks_out
from tests.helpers import totp_code
from tests.merchants.conftest import WebhookReceiver, receiver  # noqa: F401  (the receiver fixture)
from tests.merchants.factories import make_member

pytestmark = pytest.mark.django_db(transaction=True)


def _accessible(page: Any) -> None:
    """No serious or critical WCAG 2.1 A/AA violation (axe-core) on the page."""
    assert accessibility_violations(page) == [], page.url


PASSWORD = "a-long-pass-phrase"


def _watch_hosts(page: Any, hosts: set[str]) -> None:
    page.on("request", lambda request: hosts.add(request.url.split("/")[2]) if "://" in request.url else None)


def _sign_up_and_apply(page: Any, server: str) -> None:
    page.goto(f"{server}/merchant/signup")
    page.get_by_label("Business name").fill("Trailhead Outfitters")
    page.get_by_label("Your work email").fill("owner@trailhead.example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    # an owner sets up two-step sign-in before anything else: the key typed into an "app", its code
    page.wait_for_url(f"{server}/merchant/account/security")
    page.get_by_role("button", name="Set up an authenticator app").click()
    page.locator("#qr-code").wait_for()
    screenshot(page, "dashboard-two-factor-setup")
    _accessible(page)
    page.get_by_label("Authentication code").fill(totp_code(page.locator("#manual-key").inner_text()))
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    page.locator("#backup-codes").wait_for()
    assert page.locator("#backup-codes code").count() == 10
    _accessible(page)
    page.goto(f"{server}/merchant/onboarding")
    form = page.locator("#profile-form")
    for label, value in [
        ("Legal name", "Trailhead Outfitters LLC"),
        ("Registration number", "C7654321"),
        ("Tax number", "98-7654321"),
        ("Address", "5 Summit Rd"),
        ("City", "Boulder"),
        ("State or region", "CO"),
        ("Postal code", "80302"),
        ("Country (ISO code, e.g. US)", "US"),
        ("Website", "https://trailhead.example.com"),
        ("Expected monthly volume", "40000"),
    ]:
        form.get_by_label(label, exact=True).fill(value)
    form.get_by_label("Category").select_option("sports")
    form.get_by_role("button", name="Save and continue").click()
    page.get_by_text("Business details saved.").wait_for()
    # one step at a time: a routing number with a wrong check digit comes back as typed, the error beside it
    bank = page.locator("#bank-form")
    bank.get_by_label("Account holder").fill("Trailhead Outfitters LLC")
    bank.get_by_label("Routing number").fill("110000001")
    bank.get_by_label("Account number (US)").fill("000987654321")
    bank.get_by_role("button", name="Save and continue").click()
    page.get_by_text("This routing number's check digit is wrong").wait_for()
    assert bank.get_by_label("Account number (US)").input_value() == "000987654321"
    screenshot(page, "dashboard-onboarding-bank-error")
    _accessible(page)
    bank.get_by_label("Routing number").fill("110000000")
    bank.get_by_role("button", name="Save and continue").click()
    page.get_by_text("Bank account added.").wait_for()
    documents = page.locator("#document-form")
    documents.get_by_label("File (PDF, PNG or JPEG, up to 10 MB)").set_input_files(
        {"name": "registration.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4 registration"}
    )
    documents.get_by_role("button", name="Upload").click()
    page.get_by_text("Document uploaded.").wait_for()
    page.get_by_role("link", name="Continue to review").click()
    page.get_by_role("button", name="Submit application").click()
    page.locator("#application-status", has_text="Submitted").wait_for()
    screenshot(page, "dashboard-onboarding")
    _accessible(page)


def _operator_approves(browser: Any, server: str, hosts: set[str]) -> None:
    operator = make_user(email="operator@bnpl.test", password=PASSWORD, is_staff=True, is_superuser=True)
    device, _backup_codes = two_factor.authenticator_issue(user=operator)
    context = browser.new_context()
    page = context.new_page()
    _watch_hosts(page, hosts)
    page.goto(f"{server}/admin/login/?next=/admin/merchants/businessprofile/")
    page.locator("#id_username").fill("operator@bnpl.test")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("#id_otp_token").fill(totp_code(device))
    screenshot(page, "admin-sign-in")
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("link", name="Trailhead Outfitters LLC").click()
    page.locator("#decision-form textarea").fill("Documents check out.")
    screenshot(page, "admin-application-queue")
    page.get_by_role("button", name="Approve").click()
    page.get_by_text("application approved").wait_for()
    context.close()


def _figure(page: Any, name: str) -> str:
    return str(page.locator(f"#kpi-{name}").inner_text())


def test_a_merchant_onboards_integrates_and_runs_orders_from_the_dashboard(
    browser: Any,
    live_server: Any,
    receiver: WebhookReceiver,  # noqa: F811
) -> None:
    server = live_server.url
    hosts: set[str] = set()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _watch_hosts(page, hosts)

    # onboarding, approved in admin
    _sign_up_and_apply(page, server)
    _operator_approves(browser, server, hosts)
    merchant = Merchant.objects.get(name="Trailhead Outfitters")
    assert merchant.status == Merchant.Status.ACTIVE
    assert BusinessProfile.objects.get(merchant=merchant).status == "approved"
    page.goto(f"{server}/merchant/onboarding")
    page.locator("#application-status", has_text="Approved").wait_for()

    # a test key, revealed once
    page.get_by_role("link", name="Developers").click()
    page.locator("#key-form").get_by_role("button", name="Create key").click()
    token = page.locator("#revealed-token").inner_text()
    assert re.fullmatch(r"sk_test_[0-9A-Za-z]{32}", token)
    screenshot(page, "dashboard-developers")
    _accessible(page)

    # a webhook endpoint at a local receiver, its secret, a signed test event
    endpoint_form = page.locator("#endpoint-form")
    endpoint_form.get_by_label("Endpoint URL").fill(receiver.url)
    endpoint_form.get_by_label("Every event").check()
    endpoint_form.get_by_role("button", name="Add endpoint").click()
    page.get_by_role("button", name="Reveal secret").click()
    receiver.secret = page.locator("#endpoint-secret").inner_text()
    page.get_by_role("button", name="Send test event").click()
    page.get_by_text("Test event delivered.").wait_for()
    assert receiver.count() == 1
    assert receiver.received[0].signature_valid
    assert b'"type":"webhook_endpoint.test"' in receiver.received[0].body
    page.locator("#deliveries").get_by_role("link").first.click()
    page.get_by_text("Your endpoint answered 200 OK").first.wait_for()
    screenshot(page, "dashboard-webhook-delivery")
    _accessible(page)

    # an order placed through the API appears
    page.goto(f"{server}/merchant/")
    assert _figure(page, "orders") == "0"
    session = ApiClient(token).post("/api/v1/checkout/sessions", SESSION).json()
    order_id = _shopper_checks_out(session["url"])
    page.get_by_role("link", name="Orders").click()
    page.get_by_role("link", name=order_id).wait_for()
    screenshot(page, "dashboard-orders")
    _accessible(page)

    # captured and refunded from the page, each confirmed
    page.get_by_role("link", name=order_id).click()
    page.locator("#capture-amount").fill("120.00")
    page.get_by_role("button", name="Capture…").click()
    page.get_by_role("button", name="Yes, capture $120.00").click()
    page.get_by_text("Captured $120.00.").wait_for()
    page.locator("#refund-amount").fill("30.00")
    page.get_by_role("button", name="Refund…").click()
    screenshot(page, "dashboard-refund-confirmation")
    _accessible(page)
    page.get_by_role("button", name="Yes, refund $30.00").click()
    page.get_by_text("Refunded $30.00.").wait_for()
    assert page.locator("#amount-refunded").inner_text() == "$30.00"
    page.locator("#timeline").get_by_text("Refunded: $30.00 refunded so far.").wait_for()
    screenshot(page, "dashboard-order-detail")
    _accessible(page)

    # the dashboard's figures follow
    page.get_by_role("link", name="Home").click()
    assert _figure(page, "orders") == "1"
    assert _figure(page, "sales") == "$120.00"
    assert _figure(page, "refunds") == "$30.00"
    assert _figure(page, "net") == "$90.00"
    assert _figure(page, "approval") == "100.0%"
    assert page.locator("svg.chart").count() == 2
    screenshot(page, "dashboard-home")
    _accessible(page)
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "dashboard-home-mobile")
    context.close()

    # an analyst reads but is refused every write, on the server
    analyst = make_member(merchant=merchant, role=Membership.Role.ANALYST, password=PASSWORD)
    context = browser.new_context()
    page = context.new_page()
    _watch_hosts(page, hosts)
    page.goto(f"{server}/merchant/login")
    page.get_by_label("Email").fill(analyst.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Developers").click()
    assert page.get_by_role("button", name="Create key").count() == 0
    assert page.get_by_text("Analysts have read-only access.").count() == 1
    screenshot(page, "dashboard-analyst")
    _accessible(page)
    endpoint_id = WebhookDelivery.objects.get().endpoint.public_id
    csrf = next(cookie["value"] for cookie in context.cookies() if cookie["name"] == "csrftoken")
    deliveries_before = WebhookDelivery.objects.count()
    for path, form in [
        ("/merchant/developers/api-keys", {"kind": "secret"}),
        (f"/merchant/orders/{order_id}/refund", {"amount": "10.00"}),
        (f"/merchant/orders/{order_id}/void", {}),
        (f"/merchant/developers/webhooks/{endpoint_id}/test", {}),
        (f"/merchant/developers/webhooks/{endpoint_id}/secret", {}),
        ("/merchant/settings/branding", {"display_name": "x", "primary_colour": "#000000", "accent_colour": "#000000"}),
        ("/merchant/team/invitations", {"email": "x@example.com", "role": "owner"}),
        ("/merchant/onboarding/submit", {}),
    ]:
        response = page.request.post(f"{server}{path}", form=form, headers={"X-CSRFToken": csrf})
        assert response.status == 403, path
    assert WebhookDelivery.objects.count() == deliveries_before
    context.close()

    assert hosts == {server.split("/")[2]}


def _no_sideways_scroll(page: Any) -> None:
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


@pytest.mark.parametrize(("label", "viewport"), [("desktop", (1280, 900)), ("phone", (360, 740))])
def test_the_dashboard_nav_searches_and_collapses_into_a_menu_on_a_phone(
    browser: Any, live_server: Any, label: str, viewport: tuple[int, int]
) -> None:
    """The nav's search box opens an order by its reference; "Needs you" shows its count; at phone
    widths the links sit behind a Menu disclosure (a <details>, no JS needed) and nothing overflows."""
    from bnpl.checkout import orders as checkout_orders
    from bnpl.checkout.disputes import dispute_open
    from bnpl.checkout.models import Dispute
    from tests.bnpl.checkout.factories import make_authorized_order
    from tests.merchants.factories import make_merchant

    merchant = make_merchant(name="Harbor Goods")
    order = make_authorized_order(merchant=merchant, livemode=False, amount=12_000)
    checkout_orders.order_capture(order=order, amount=12_000)
    dispute_open(order=order, consumer=order.consumer, kind=Dispute.Kind.RETURN, amount=2_000)
    member = make_member(merchant=merchant, role=Membership.Role.ADMIN, password=PASSWORD)
    width, height = viewport
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    hosts: set[str] = set()
    _watch_hosts(page, hosts)
    page.goto(f"{live_server.url}/merchant/login")
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#attention-count").wait_for()
    page.wait_for_load_state("load")  # the stylesheet applied: which nav shows is its media query's
    assert page.locator("#attention-count").inner_text().strip().endswith("1")

    menu = page.locator("details.dash-menu summary")
    if label == "phone":
        assert menu.is_visible()
        assert not page.locator(".dash-links").is_visible()
        screenshot(page, "dashboard-nav-phone-closed")
        menu.click()
        page.locator(".dash-menu-links").get_by_role("link", name="Orders").wait_for()
        screenshot(page, "dashboard-nav-phone-open")
        _accessible(page)
        page.locator(".dash-menu-links").get_by_role("link", name="Orders").click()
        page.get_by_role("heading", name="Orders").wait_for()
    else:
        assert not menu.is_visible()
        assert page.locator(".dash-links").get_by_role("link", name="Orders").is_visible()
    _no_sideways_scroll(page)

    search = page.get_by_role("search").first
    search.get_by_role("searchbox").fill(order.merchant_reference)
    search.get_by_role("button", name="Search").click()
    page.locator("#search-results").get_by_role("link", name=order.public_id).wait_for()
    screenshot(page, f"dashboard-search-{label}")
    _accessible(page)
    _no_sideways_scroll(page)
    page.locator("#search-results").get_by_role("link", name=order.public_id).click()
    page.locator("#line-items").wait_for()
    page.locator("#timeline").get_by_text("The shopper opened a return for $20.00").wait_for()
    screenshot(page, f"dashboard-order-detail-{label}")
    _accessible(page)
    _no_sideways_scroll(page)

    page.locator("#attention-link").click()
    page.locator("#attention-disputes").get_by_text("A return of $20.00").wait_for()
    screenshot(page, f"dashboard-needs-you-{label}")
    _accessible(page)
    _no_sideways_scroll(page)
    assert hosts == {live_server.url.split("/")[2]}
    context.close()
