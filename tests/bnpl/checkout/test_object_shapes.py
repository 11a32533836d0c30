"""Every object the API returns says what it is and which mode it lives in, captures and refunds
included (they come back from their own POSTs and inside orders)."""

from __future__ import annotations

import pytest

from tests.bnpl.checkout.factories import make_authorized_order
from tests.conftest import ApiClient
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("livemode", [False, True])
def test_captures_and_refunds_carry_object_livemode_and_their_order(tenant: Tenant, livemode: bool) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=livemode, amount=10000)
    api = ApiClient(tenant.live_key if livemode else tenant.test_key)

    capture = api.post(f"/api/v1/orders/{order.public_id}/captures", {"amount": 6000}).json()
    refund = api.post(f"/api/v1/orders/{order.public_id}/refunds", {"amount": 1000}).json()
    nested = api.get(f"/api/v1/orders/{order.public_id}").json()

    for shape, kind in ((capture, "capture"), (refund, "refund")):
        assert (shape["object"], shape["livemode"], shape["order"]) == (kind, livemode, order.public_id)
    assert nested["captures"] == [capture]
    assert nested["refunds"] == [refund]
