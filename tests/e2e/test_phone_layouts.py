"""Phone layouts in headless Chromium at 360 x 740 (a small Android phone): the consumer portal's
pages, the error pages and the merchant dashboard's home and orders never scroll sideways
(``document.documentElement.scrollWidth <= innerWidth``), keep axe-core at no serious or critical
violation, fold the portal's navigation behind a "Menu" button, and show dates on one line. Screenshots
go to var/screenshots/phone-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bnpl.checkout import orders as checkout_orders
from bnpl.plans.models import Plan
from bnpl.servicing import services as servicing
from merchants.models import Membership
from merchants.services import branding_update
from tests.bnpl.checkout.factories import make_authorized_order
from tests.browser import accessibility_violations, screenshot, signed_in_cookie
from tests.consumers.factories import make_verified_consumer
from tests.consumers.test_portal_plain_language import PNG
from tests.merchants.factories import Tenant, make_member

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 360, "height": 740}


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _fits_the_phone(page: Any, name: str) -> None:
    """No sideways scroll on the page, axe-core clean, and a screenshot."""
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    screenshot(page, f"phone-{name}")
    assert width[0] <= width[1], f"{page.url} is {width[0]} px wide on a {width[1]} px screen"
    assert accessibility_violations(page) == [], page.url


def _one_line(page: Any, selector: str) -> None:
    """Every element matched (dates) sits on one line: no taller than its own line height."""
    tall = page.evaluate(
        """(selector) => [...document.querySelectorAll(selector)]
            .filter((node) => node.getClientRects().length > 1)
            .map((node) => node.textContent)""",
        selector,
    )
    assert tall == [], f"wrapped onto several lines: {tall}"


def test_the_consumer_portal_fits_a_phone(phone: Any, live_server: Any, tenant: Tenant, other_tenant: Tenant) -> None:
    consumer = make_verified_consumer(email="a.very.long.email.address.for.a.phone@an-example-domain.example.com")
    branding_update(
        merchant=tenant.merchant,
        display_name="Acme Lamps",
        primary_colour="#3b2bd6",
        accent_colour="#1d1d27",
        logo=SimpleUploadedFile("logo.png", PNG, content_type="image/png"),
    )
    orders = []
    for merchant, amount in ((tenant.merchant, 12_000), (other_tenant.merchant, 30_000)):
        orders.append(make_authorized_order(merchant=merchant, livemode=False, amount=amount, consumer=consumer))
        checkout_orders.order_capture(order=orders[-1], amount=amount)
    plan = Plan.objects.get(order=orders[0])
    servicing.plan_pay_next_installment(plan=plan)
    checkout_orders.order_refund(order=orders[0], amount=1_000, reason="one item back")
    page = phone
    page.context.add_cookies([signed_in_cookie(consumer.public_id, live_server.url)])

    page.goto(f"{live_server.url}/account/")
    nav = page.get_by_role("navigation", name="Main")
    menu = page.get_by_role("button", name="Menu")
    assert menu.is_visible() and not nav.is_visible()  # folded on a phone
    _fits_the_phone(page, "portal-plans")
    assert page.locator(".shop-head").count() == 2 and page.locator("img.shop-logo").count() == 1
    menu.click()
    assert nav.is_visible() and menu.get_attribute("aria-expanded") == "true"
    screenshot(page, "phone-portal-menu-open")
    nav.get_by_role("link", name="Decisions").click()
    page.wait_for_url(f"{live_server.url}/account/decisions")
    _fits_the_phone(page, "portal-decisions")

    page.goto(f"{live_server.url}/account/plans/{plan.public_id}")
    _fits_the_phone(page, "portal-plan")
    _one_line(page, "td.nowrap, time.nowrap")
    for path, name in (
        ("/account/cards", "portal-cards"),
        ("/account/documents", "portal-documents"),
        ("/account/data-sharing", "portal-data-sharing"),
        ("/account/preferences", "portal-preferences"),
        ("/account/profile", "portal-profile"),
        ("/account/plans/pln_nosuchplan0000000000", "error-404-shopper"),
        ("/", "home"),
    ):
        page.goto(f"{live_server.url}{path}")
        _fits_the_phone(page, name)
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/account/sign-in")
    _fits_the_phone(page, "sign-in")


def test_the_merchant_dashboard_home_and_orders_fit_a_phone(phone: Any, live_server: Any, tenant: Tenant) -> None:
    for amount in (12_345, 99_999, 5_000):
        order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=amount)
        checkout_orders.order_capture(order=order, amount=amount // 2)
    analyst = make_member(merchant=tenant.merchant, role=Membership.Role.ANALYST)  # no second factor to pass
    client = Client()
    client.force_login(analyst)
    page = phone
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])

    page.goto(f"{live_server.url}/merchant/")
    _fits_the_phone(page, "dashboard-home")
    page.goto(f"{live_server.url}/merchant/orders")
    page.locator("#orders-table tbody tr").first.wait_for()
    _fits_the_phone(page, "dashboard-orders")
    _one_line(page, "#orders-table td:nth-child(2)")  # the created date and time
    ids = page.evaluate(
        "() => [...document.querySelectorAll('#orders-table td code')].map((node) => node.getClientRects().length)"
    )
    assert ids and set(ids) == {1}  # an id on one line (cut short with an ellipsis), never a letter per line
    page.goto(f"{live_server.url}/merchant/no-such-page")
    _fits_the_phone(page, "error-404-merchant")
