"""The sandbox inbox in headless Chromium: an email shows as it would arrive (its HTML part in a
frame that runs no script), readable on a phone, with its text version under it; a text message
shows its text. Screenshots go to var/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from celery import current_app

from consumers.models import Consumer
from tests.bnpl.checkout.factories import make_authorized_order
from tests.browser import accessibility_violations, screenshot
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager() -> Iterator[None]:
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True  # the listener's task runs as the order commits
    try:
        yield
    finally:
        current_app.conf.task_always_eager = previous


@pytest.mark.parametrize("width", [360, 1280])
def test_the_inbox_shows_a_confirmation_email_rendered_and_its_text(
    browser: Any, live_server: Any, tenant: Tenant, eager: None, width: int
) -> None:
    consumer = make_verified_consumer()
    Consumer.objects.filter(pk=consumer.pk).update(phone="+14155552671")
    make_authorized_order(merchant=tenant.merchant, livemode=False, amount=12_000, consumer=consumer)
    context = browser.new_context(viewport={"width": width, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()

    page.goto(f"{live_server.url}/sandbox/inbox?{urlencode({'to': consumer.email})}")

    frame = page.frame_locator("iframe.inbox-frame").first
    frame.get_by_role("heading", name="Your purchase is confirmed").wait_for()
    assert "$120.00" in frame.locator("body").inner_text()
    assert "$30.00" in frame.locator("body").inner_text()
    assert page.locator("iframe.inbox-frame").first.get_attribute("sandbox") == ""
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width  # nothing overflows
    page.locator("summary", has_text="Text version").first.click()
    assert "Your purchase is confirmed" in page.locator("pre.inbox-text").first.inner_text()
    assert accessibility_violations(page) == []
    screenshot(page, f"sandbox-inbox-email-{width}")

    page.goto(f"{live_server.url}/sandbox/inbox?{urlencode({'to': '+14155552671'})}")
    assert "Merchant A: your $120.00 purchase is confirmed." in page.locator("main").inner_text()
    context.close()
