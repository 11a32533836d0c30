"""The whole product at once, on the real parts: a merchant's API calls, a shopper's hosted checkout
(one-time code, KYC, card), a real Celery worker delivering every event as a signed webhook to a
local HTTP receiver, then captures and a refund, and a ledger that balances.

Runs on PostgreSQL + Redis in CI (and on SQLite with the filesystem broker locally)."""

from __future__ import annotations

import html
import json
import re
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.test import Client

from consumers.models import SandboxMessage
from merchants.models import WebhookDelivery
from tests.bnpl.checkout.factories import IDENTITY_FORM
from tests.conftest import ApiClient
from tests.helpers import wait_until
from tests.merchants.conftest import WebhookReceiver, receiver  # noqa: F401  (the receiver fixture)
from tests.merchants.factories import Tenant

SESSION = {
    "amount": 12000,
    "currency": "USD",
    "line_items": [
        {"name": "Trail shoes", "quantity": 1, "unit_amount": 9000},
        {"name": "Socks", "quantity": 2, "unit_amount": 1500},
    ],
    "return_url": "https://shop.example.com/thanks",
    "cancel_url": "https://shop.example.com/cart",
    "merchant_reference": "1001",
}
EXPECTED_EVENTS = [
    "webhook_endpoint.created",  # the endpoint hears of its own creation too
    "checkout_session.created",
    "merchant_consumer.created",  # the shopper confirmed a purchase: only now the merchant's id for them
    "plan.created",
    "checkout_session.completed",
    "order.authorized",
    "order.captured",
    "order.captured",
    "plan.reduced",
    "order.refunded",
]


def _shopper_checks_out(session_url: str) -> str:
    shopper = Client()
    path = urlsplit(session_url).path
    shopper.get(f"/account/sign-in?next={path}")
    shopper.post("/account/sign-in", {"identifier": "ada@example.com"})
    code = re.search(r"code is (\d{6})", SandboxMessage.objects.filter(destination="ada@example.com").latest("id").body)
    assert code, "the one-time code never reached the sandbox inbox"
    assert shopper.post("/account/verify", {"code": code.group(1)})["Location"] == path
    assert shopper.post(f"{path}/identity", IDENTITY_FORM).status_code == 302
    page = shopper.get(path).content.decode()
    pay_in_4 = re.search(
        r'value="(prod_\w+)"[^>]*>\s*<span class="option-text">\s*<strong class="option-name">Pay in 4<', page
    )
    assert pay_in_4, page
    confirmed = shopper.post(
        f"{path}/confirm",
        {
            "product": pay_in_4.group(1),
            "card_number": "4242 4242 4242 4242",
            "exp_month": "12",
            "exp_year": "2035",
            "cvc": "123",
        },
    )
    assert confirmed.status_code == 302, confirmed.content[:500]
    approval = shopper.get(confirmed["Location"]).content.decode()
    continue_url = html.unescape(re.search(r'id="continue" href="([^"]+)"', approval).group(1))  # type: ignore[union-attr]
    return parse_qs(urlsplit(continue_url).query)["order"][0]


@pytest.mark.django_db(transaction=True)
def test_checkout_to_refund_with_every_webhook_signed_and_a_balanced_ledger(
    celery_worker: None,
    tenant: Tenant,
    receiver: WebhookReceiver,  # noqa: F811
) -> None:
    api = ApiClient(tenant.test_key)
    endpoint = api.post("/api/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["*"]}).json()
    receiver.secret = endpoint["secret"]

    session = api.post("/api/v1/checkout/sessions", SESSION).json()
    order_id = _shopper_checks_out(session["url"])
    assert (
        api.post(f"/api/v1/orders/{order_id}/captures", {"amount": 6000, "merchant_reference": "box 1"}).status_code
        == 201
    )
    assert (
        api.post(f"/api/v1/orders/{order_id}/captures", {"amount": 6000, "merchant_reference": "box 2"}).status_code
        == 201
    )
    refund = api.post(f"/api/v1/orders/{order_id}/refunds", {"amount": 3000, "reason": "returned socks"})
    assert refund.status_code == 201

    assert wait_until(lambda: receiver.count() >= len(EXPECTED_EVENTS), timeout=60.0), (
        f"only {receiver.count()} webhooks arrived: {[json.loads(r.body)['type'] for r in receiver.received]}"
    )
    assert wait_until(
        lambda: not WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.SUCCEEDED).exists(), timeout=60.0
    )
    bodies = [json.loads(received.body) for received in receiver.received]
    assert all(received.signature_valid for received in receiver.received)
    assert sorted(body["type"] for body in bodies) == sorted(EXPECTED_EVENTS)
    assert len({body["id"] for body in bodies}) == len(bodies)  # each event delivered once here
    assert {body["livemode"] for body in bodies} == {False}
    feed = {event["id"] for event in api.get("/api/v1/events", {"limit": 100}).json()["results"]}
    assert {body["id"] for body in bodies} <= feed  # the webhooks are the event feed, signed and pushed
    refunded = next(body for body in bodies if body["type"] == "order.refunded")["data"]["object"]
    assert (refunded["captured_amount"], refunded["refunded_amount"], refunded["status"]) == (12000, 3000, "captured")

    out = StringIO()
    call_command("ledger_verify", stdout=out)
    assert "Ledger OK" in out.getvalue()
