"""Issue 17, items 12-15 in the merchant dashboard: the nav's search and its "Needs you" list; the
order page with its items, customer, plan and a timeline in plain words; amounts checked at the
form (before any "Yes, refund") and written in their currency; destructive actions that ask first
on the server (a POST without its confirmation changes nothing)."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any

import pytest
from django.test import Client

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.disputes import dispute_open
from bnpl.checkout.models import Dispute
from bnpl.core import clock
from bnpl.core.event_types import EVENT_TYPES
from bnpl.payments.gateways import GatewayResult, SandboxGateway
from merchants import services, webhooks
from merchants.models import ApiKey, Membership, Settlement, WebhookEndpoint
from merchants.settlements import settlements_run
from merchants.views.base import LIVEMODE_SESSION_KEY
from tests.bnpl.accounts.factories import make_user
from tests.bnpl.checkout.factories import make_authorized_order
from tests.helpers import confirmed_post, row_counts, verified_client
from tests.merchants.conftest import WebhookReceiver
from tests.merchants.factories import Tenant, make_member


def _client(user: object, *, livemode: bool = False) -> Client:
    client = Client()
    verified_client(user, client=client)
    session = client.session
    session[LIVEMODE_SESSION_KEY] = livemode
    session.save()
    return client


def _text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode())))


# --- Order detail ---------------------------------------------------------------------------------


def test_the_order_page_shows_items_customer_plan_and_a_timeline_in_plain_words(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=12_000)
    checkout_orders.order_capture(order=order, amount=8_000)
    checkout_orders.order_refund(order=order, amount=2_550)
    dispute_open(order=order, consumer=order.consumer, kind=Dispute.Kind.RETURN, amount=1_000)
    session = order.checkout_session
    item = session.line_items[0]

    response = _client(make_member(merchant=tenant.merchant)).get(f"/merchant/orders/{order.public_id}")
    page = response.content.decode()
    text = _text(response)

    assert response.status_code == 200
    items = page[page.index('id="line-items"') : page.index("</table>", page.index('id="line-items"'))]
    assert item["name"] in items and "$120.00" in items
    email = str(session.customer_email or order.consumer.email or "")
    assert email and email in page[page.index('id="customer"') :]
    plan = page[page.index('id="plan"') : page.index("</dl>", page.index('id="plan"'))]
    assert "Pay in 4" in plan and "4 payments" in plan and "Active" in plan and "On time" in plan
    timeline = _text_of(page, 'id="timeline"', "</ol>")
    for sentence in (
        "Checkout opened for $120.00.",
        "The shopper was approved and confirmed the purchase.",
        "$120.00 authorized: capture it as you ship.",
        "Captured: $80.00 of $120.00 captured so far.",
        "Refunded: $25.50 refunded so far.",
        "The shopper opened a return for $10.00: refund or contest it before the deadline.",
    ):
        assert sentence in timeline, (sentence, timeline)
    assert "The shopper's payment plan started" in timeline
    for name in EVENT_TYPES:  # no raw event names anywhere on the page
        assert name not in text, name
    assert "Return of $10.00" in text


def _text_of(page: str, start: str, end: str) -> str:
    begin = page.index(start)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page[begin : page.index(end, begin)])))


# --- Validate before confirming -------------------------------------------------------------------


def test_a_refund_above_the_refundable_amount_is_refused_at_the_form_and_nothing_changes(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    checkout_orders.order_capture(order=order, amount=6_000)
    client = _client(make_member(merchant=tenant.merchant))
    path = f"/merchant/orders/{order.public_id}"
    before = row_counts()

    refund = client.post(f"{path}/refund", {"amount": "70.00", "text": "too much"})
    capture = client.post(f"{path}/capture", {"amount": "40.01"})

    assert refund.status_code == capture.status_code == 400
    assert "confirmation" not in refund.context and "confirmation" not in capture.context  # never asked
    page = refund.content.decode()
    field = page[page.index('id="refund-amount"') : page.index("</ul>", page.index('id="refund-amount"'))]
    assert 'aria-invalid="true"' in field and 'aria-describedby="refund-amount-error"' in field
    assert 'value="70.00"' in field  # what was typed is kept
    assert "At most $60.00 of this order can be refunded." in field
    assert 'value="too much"' in page
    assert "At most $40.00 is left to capture on this order." in capture.content.decode()
    assert "6000" not in _text(refund) and "4000" not in _text(capture)
    order.refresh_from_db()
    assert (order.captured_amount, order.refunded_amount) == (6_000, 0)
    assert row_counts() == before


def test_a_refund_refused_after_confirming_says_so_in_money(tenant: Tenant) -> None:
    """Two tabs: both ask, one refunds everything; the other's confirmed refund is refused, in dollars."""
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    checkout_orders.order_capture(order=order, amount=6_000)
    client = _client(make_member(merchant=tenant.merchant))
    path = f"/merchant/orders/{order.public_id}/refund"
    late = client.post(path, {"amount": "50.00"}).context["confirmation"]
    done = confirmed_post(client, path, {"amount": "20.00"})

    refused = client.post(path, {"amount": "50.00", "confirmation": late})

    assert done.status_code == 302
    assert refused.status_code == 400  # checked again at the form, before the service is called
    assert "At most $40.00 of this order can be refunded." in refused.content.decode()
    assert "4000" not in _text(refused)
    order.refresh_from_db()
    assert order.refunded_amount == 2_000


def test_messages_after_an_operation_write_the_amount_in_its_currency(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=123_456)
    client = _client(make_member(merchant=tenant.merchant))

    done = confirmed_post(client, f"/merchant/orders/{order.public_id}/capture", {"amount": "1,234.56"})
    page = client.get(done["Location"]).content.decode()

    assert "Captured $1,234.56." in page
    assert "123456" not in _text(client.get(done["Location"]))


# --- Confirm destructive actions ------------------------------------------------------------------


def _key(tenant: Tenant) -> ApiKey:
    return services.api_key_create(merchant=tenant.merchant, kind=ApiKey.Kind.SECRET, livemode=False).api_key


def _endpoint(tenant: Tenant) -> WebhookEndpoint:
    return services.webhook_endpoint_create(
        merchant=tenant.merchant, livemode=False, url="https://hooks.example.com/bnpl", enabled_events=["*"]
    )


def _member(tenant: Tenant) -> Membership:
    return services.membership_create(merchant=tenant.merchant, user=make_user(), role=Membership.Role.ANALYST)


DESTRUCTIVE: dict[str, tuple[Any, str, str]] = {
    # name: (make the object, the path of its action, what the confirmation page says)
    "revoke a key": (_key, "/merchant/developers/api-keys/{}/revoke", "Yes, revoke the key"),
    "roll a key": (_key, "/merchant/developers/api-keys/{}/roll", "Yes, roll the key"),
    "delete an endpoint": (_endpoint, "/merchant/developers/webhooks/{}/delete", "Yes, delete the endpoint"),
    "remove a member": (_member, "/merchant/team/members/{}/remove", "Yes, remove"),
}


def _state(instance: Any) -> tuple[Any, ...]:
    instance.refresh_from_db()
    return tuple(getattr(instance, field, None) for field in ("revoked_at", "deleted_at", "role"))


@pytest.mark.parametrize("action", DESTRUCTIVE, ids=str)
def test_a_destructive_action_without_its_confirmation_changes_nothing(tenant: Tenant, action: str) -> None:
    make, route, button = DESTRUCTIVE[action]
    instance = make(tenant)
    client = _client(make_member(merchant=tenant.merchant))
    path = route.format(instance.public_id)
    before, state = row_counts(), _state(instance)

    asked = client.post(path)
    forged = client.post(path, {"confirmation": "made-up"})

    assert asked.status_code == 200
    assert button in asked.content.decode() and 'name="confirmation"' in asked.content.decode()
    assert forged.status_code == 302
    assert row_counts() == before and _state(instance) == state
    assert type(instance).objects.filter(pk=instance.pk).exists()


@pytest.mark.parametrize("action", DESTRUCTIVE, ids=str)
def test_a_destructive_action_is_done_once_with_its_confirmation(tenant: Tenant, action: str) -> None:
    make, route, _ = DESTRUCTIVE[action]
    instance = make(tenant)
    client = _client(make_member(merchant=tenant.merchant))
    path = route.format(instance.public_id)
    asked = client.post(path)
    token = asked.context["confirmation"]

    done = client.post(path, {"confirmation": token})
    after = row_counts()
    again = client.post(path, {"confirmation": token})

    assert done.status_code in {200, 302}  # a rolled key's page shows the new key once
    assert again.status_code in {302, 404}  # a deleted endpoint or removed member is not found any more
    assert row_counts() == after  # the spent token did nothing more
    model = type(instance)
    if isinstance(instance, Membership):
        assert not model.objects.filter(pk=instance.pk).exists()
    elif isinstance(instance, WebhookEndpoint):
        assert model.objects.get(pk=instance.pk).deleted_at is not None
    else:
        assert model.objects.get(pk=instance.pk).revoked_at is not None


# --- Search and what needs the merchant -----------------------------------------------------------


def test_the_nav_search_finds_an_order_by_id_reference_or_customer_email(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False)
    other = make_authorized_order(merchant=tenant.merchant, livemode=False)
    client = _client(make_member(merchant=tenant.merchant))
    email = str(order.checkout_session.customer_email or order.consumer.email or "")
    assert email

    by_id = client.get("/merchant/search", {"q": order.public_id})
    by_reference = client.get("/merchant/search", {"q": order.merchant_reference})
    by_email = client.get("/merchant/search", {"q": email.split("@")[0].upper()})
    nothing = client.get("/merchant/search", {"q": "no-such-thing"})

    assert by_id.status_code == 302 and by_id["Location"] == f"/merchant/orders/{order.public_id}"
    assert order.public_id in by_reference.content.decode()
    assert other.public_id not in by_reference.content.decode()
    assert order.public_id in by_email.content.decode()
    assert "Nothing matches" in nothing.content.decode()
    assert 'role="search"' in client.get("/merchant/").content.decode()


class RefusingPayouts(SandboxGateway):
    """The sandbox, except that the bank refuses every payout."""

    def payout(self, *, destination: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
        return GatewayResult(succeeded=False, failure_code="account_closed", failure_message="The account is closed.")


def _nav_count(response: Any) -> str:
    found = re.search(r'id="attention-count">.*?(\d+)</span>', response.content.decode(), re.S)
    assert found is not None
    return found.group(1)


def test_needs_you_lists_disputes_and_failing_endpoints_with_a_count_in_the_nav(
    tenant: Tenant, receiver: WebhookReceiver
) -> None:
    """Test mode (a live endpoint needs https, the receiver is plain http)."""
    client = _client(make_member(merchant=tenant.merchant), livemode=False)
    assert _nav_count(client.get("/merchant/")) == "0"
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    checkout_orders.order_capture(order=order, amount=10_000)
    dispute = dispute_open(
        order=order, consumer=order.consumer, kind=Dispute.Kind.DISPUTE, reason="not_received", amount=2_500
    )
    answered = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=5_000)
    checkout_orders.order_capture(order=answered, amount=5_000)
    closed = dispute_open(order=answered, consumer=answered.consumer, kind=Dispute.Kind.RETURN, amount=1_000)
    checkout_orders.order_refund(order=answered, amount=1_000)  # refunding resolves the return
    failing = services.webhook_endpoint_create(
        merchant=tenant.merchant, livemode=False, url=receiver.url, enabled_events=["order.captured"]
    )
    healthy = services.webhook_endpoint_create(
        merchant=tenant.merchant,
        livemode=False,
        url=receiver.url.replace("/bnpl/webhooks", "/healthy"),
        enabled_events=["order.refunded"],
    )
    receiver.statuses = [500]
    for endpoint in (failing, healthy):
        event = webhooks.webhook_endpoint_test(endpoint=endpoint)
        webhooks.deliveries_send_due(delivery_ids=webhooks.deliveries_create_for_events(event_ids=[event.pk]))

    page = client.get("/merchant/notifications")
    text = _text(page)

    closed.refresh_from_db()
    assert closed.status == "refunded"
    assert _nav_count(page) == _nav_count(client.get("/merchant/orders")) == "2"
    assert f"A dispute of $25.00 on order {order.public_id}" in text
    assert dispute.respond_by.strftime("%b %-d, %Y") in text
    assert answered.public_id not in text
    assert failing.url in text and "/healthy" not in text
    assert "2 things need you in test data." in text
    live = _client(make_member(merchant=tenant.merchant), livemode=True).get("/merchant/notifications")
    assert "Nothing needs you in live data." in _text(live) and _nav_count(live) == "0"


def test_needs_you_lists_a_failed_payout_until_one_is_paid(tenant: Tenant, settings: Any) -> None:
    settings.PAYMENT_GATEWAY_LIVE = f"{__name__}.RefusingPayouts"
    client = _client(make_member(merchant=tenant.merchant), livemode=True)
    order = make_authorized_order(merchant=tenant.merchant, livemode=True, amount=10_000)
    checkout_orders.order_capture(order=order, amount=10_000)
    settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))
    payout = Settlement.objects.get(merchant=tenant.merchant, livemode=True)

    page = client.get("/merchant/notifications")
    text = _text(page)

    assert payout.status == "failed"
    assert _nav_count(page) == "1"
    assert f"The payout of {_net(payout)}" in text and "The account is closed." in text
    assert str(payout.net_amount) not in text.replace(_net(payout), "")

    settings.PAYMENT_GATEWAY_LIVE = "bnpl.payments.gateways.SandboxGateway"
    more = make_authorized_order(merchant=tenant.merchant, livemode=True, amount=5_000)
    checkout_orders.order_capture(order=more, amount=5_000)
    settlements_run(cutoff=clock.now() + dt.timedelta(seconds=2))

    assert Settlement.objects.filter(merchant=tenant.merchant, livemode=True, status="paid").exists()
    assert _nav_count(client.get("/merchant/notifications")) == "0"


def _net(settlement: Settlement) -> str:
    from bnpl.core.money import format_amount

    return format_amount(settlement.net_amount, settlement.currency)
