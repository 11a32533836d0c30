"""The hosted pages' own reads (compiled once per process): the session by its public id with its
merchant's branding, and the approval page's order, plan, first payment and installments -- shown
only to the shopper who bought."""

from __future__ import annotations

import pytest
from django.test import Client

from bnpl.checkout.models import Order
from merchants.models import Branding
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session
from tests.consumers.factories import make_verified_consumer
from tests.helpers import consumer_client
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def test_only_the_shopper_who_bought_sees_the_approval(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=12000)
    path = f"/checkout/{order.checkout_session.public_id}/approved"

    mine = consumer_client(order.consumer).get(path)
    theirs = consumer_client(make_verified_consumer()).get(path)

    assert mine.status_code == 200
    page = mine.content.decode()
    plan = Order.objects.get(pk=order.pk).plan
    assert plan.product.name in page and "$30.00" in page  # the plan's product and its installments
    assert [row["amount"] for row in mine.context["installments"]] == ["$30.00"] * 4
    assert theirs.status_code == 404  # another shopper, signed in, sees nothing of it


def test_an_approval_page_of_an_open_or_unknown_session_is_not_found(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    shopper = consumer_client(make_verified_consumer())

    assert shopper.get(f"/checkout/{session.public_id}/approved").status_code == 404
    assert shopper.get("/checkout/cs_test_doesnotexist0000000000/approved").status_code == 404


def test_the_checkout_shows_the_merchant_s_branding_when_it_has_one(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    path = f"/checkout/{session.public_id}"

    plain = Client().get(path)
    Branding.objects.create(merchant=tenant.merchant, display_name="Trail Co.")
    branded = Client().get(path)

    assert plain.status_code == branded.status_code == 200
    assert plain.context["branding"] is None and tenant.merchant.name in plain.content.decode()
    assert "Trail Co." in branded.content.decode()
