"""The dashboard's global search and its "Needs you" list read only the signed-in member's merchant
in the current mode: another merchant's order is not found by its id, its reference or its
customer's email (no redirect to it, no row, nothing of it on the page), nor is the other mode's;
and another merchant's dispute is not counted."""

from __future__ import annotations

from django.test import Client

from bnpl.checkout.disputes import dispute_open
from bnpl.checkout.models import Dispute, Order
from merchants.views.base import LIVEMODE_SESSION_KEY
from tests.bnpl.checkout.factories import make_authorized_order, make_order
from tests.helpers import verified_client
from tests.merchants.factories import Tenant, make_member


def _client(tenant: Tenant, *, livemode: bool = False) -> Client:
    client = Client()
    verified_client(make_member(merchant=tenant.merchant), client=client)
    session = client.session
    session[LIVEMODE_SESSION_KEY] = livemode
    session.save()
    return client


def _email(order: Order) -> str:
    return str(order.checkout_session.customer_email or order.consumer.email or "")


def test_search_never_finds_another_merchants_order(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = make_authorized_order(merchant=other_tenant.merchant, livemode=False)
    client = _client(tenant)

    for query in (theirs.public_id, theirs.merchant_reference, _email(theirs)):
        response = client.get("/merchant/search", {"q": query})
        page = response.content.decode()
        assert response.status_code == 200, query  # no redirect to their order
        assert f"/merchant/orders/{theirs.public_id}" not in page and "Nothing matches" in page, query
        assert 'id="search-results"' not in page, query
    assert client.get(f"/merchant/orders/{theirs.public_id}").status_code == 404


def test_search_in_test_mode_never_finds_a_live_order(tenant: Tenant) -> None:
    live = make_authorized_order(merchant=tenant.merchant, livemode=True)

    in_test = _client(tenant, livemode=False).get("/merchant/search", {"q": live.public_id})
    in_live = _client(tenant, livemode=True).get("/merchant/search", {"q": live.public_id})

    assert in_test.status_code == 200 and f"/merchant/orders/{live.public_id}" not in in_test.content.decode()
    assert in_live.status_code == 302 and in_live["Location"] == f"/merchant/orders/{live.public_id}"


def test_a_shared_customer_email_finds_only_this_merchants_orders(tenant: Tenant, other_tenant: Tenant) -> None:
    ours = make_authorized_order(merchant=tenant.merchant, livemode=False)
    theirs = make_authorized_order(merchant=other_tenant.merchant, livemode=False, consumer=ours.consumer)

    page = _client(tenant).get("/merchant/search", {"q": str(ours.consumer.email)}).content.decode()

    assert ours.public_id in page and theirs.public_id not in page


def test_needs_you_counts_only_this_merchants_disputes(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = make_order(merchant=other_tenant.merchant, livemode=False)
    dispute_open(order=theirs, consumer=theirs.consumer, kind=Dispute.Kind.RETURN, amount=1_000)

    ours = _client(tenant).get("/merchant/notifications")
    their_view = _client(other_tenant).get("/merchant/notifications")

    assert theirs.public_id not in ours.content.decode()
    assert "Nothing needs you in test data." in ours.content.decode()
    assert theirs.public_id in their_view.content.decode()
