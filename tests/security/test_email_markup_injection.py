"""Attack: a merchant names itself with markup (``<img src=x onerror=…>``, a link to a phishing
page) so that it runs or renders in the emails we send its shoppers, or in the sandbox inbox that
shows them. Everything a merchant, consumer or operator wrote is escaped in an email's HTML part;
the inbox puts each email in a frame that runs no script (``sandbox=""``), escaped into ``srcdoc``."""

from __future__ import annotations

from typing import Any

import pytest
from celery import current_app
from django.test import Client

from consumers.models import SandboxMessage
from tests.bnpl.checkout.factories import make_authorized_order
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import make_tenant

pytestmark = pytest.mark.django_db

HOSTILE = '<img src=x onerror="alert(1)"><a href="https://evil.example">Pay here</a>'


def test_a_merchant_name_with_markup_is_text_in_the_email_and_in_the_inbox(
    django_capture_on_commit_callbacks: Any, client: Client
) -> None:
    tenant = make_tenant(name=HOSTILE)
    consumer = make_verified_consumer()
    previous = current_app.conf.task_always_eager
    current_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer)
    finally:
        current_app.conf.task_always_eager = previous

    email = SandboxMessage.objects.get(destination=consumer.email, channel="email")
    assert "<img" not in email.html and 'href="https://evil.example"' not in email.html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in email.html
    assert HOSTILE in email.body  # the text part is plain text: shown as written, never rendered

    page = client.get("/sandbox/inbox", {"to": consumer.email or ""}).content.decode()
    assert "<img" not in page and '<a href="https://evil.example"' not in page
    assert 'sandbox=""' in page
