"""Merchant fees: the fees charged to date are always the fee on the net captured amount, so
splitting a capture (or a refund) never changes what the merchant pays."""

from __future__ import annotations

import pytest

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Order
from bnpl.plans.models import ProductKind
from bnpl.plans.services import product_update
from tests.bnpl.checkout.factories import make_authorized_order, product_for
from tests.conftest import ApiClient
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def test_tiny_captures_cannot_skip_the_fee(tenant: Tenant) -> None:
    """The black-box run's case: three captures of 8 cents on a 5.99% product each came back with
    no fee. The fee on 24 cents is 1.44 cents, rounded to 1: the third capture carries it."""
    product = product_for(tenant.merchant, False, kind=ProductKind.FINANCING, count=3)
    product_update(product=product, merchant_fee_bps=599, merchant_fee_fixed_amount=0)
    order = make_authorized_order(
        merchant=tenant.merchant, livemode=False, amount=10000, kind=ProductKind.FINANCING, count=3
    )
    api = ApiClient(tenant.test_key)

    fees = [
        api.post(f"/api/v1/orders/{order.public_id}/captures", {"amount": 8}).json()["merchant_fee_amount"]
        for _ in range(3)
    ]

    assert fees == [0, 1, 0]  # 0.48 -> 0, 0.96 -> 1, 1.44 -> 1
    assert Order.objects.get(pk=order.pk).merchant_fee_amount == 1


def test_a_split_capture_and_a_split_refund_cost_what_one_of_each_would(tenant: Tenant) -> None:
    product_update(product=product_for(tenant.merchant, False), merchant_fee_bps=599, merchant_fee_fixed_amount=30)
    split = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=9999)
    whole = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=9999)

    for amount in (3333, 3333, 3333):
        checkout_orders.order_capture(order=split, amount=amount)
    for amount in (1111, 1111):
        checkout_orders.order_refund(order=split, amount=amount)
    checkout_orders.order_capture(order=whole, amount=9999)
    checkout_orders.order_refund(order=whole, amount=2222)

    split.refresh_from_db()
    whole.refresh_from_db()
    assert split.merchant_fee_amount == whole.merchant_fee_amount == (7777 * 599 + 5000) // 10000 + 30


def test_the_fixed_fee_is_charged_once_in_full_and_refunds_use_the_terms_of_purchase(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    product_update(product=product_for(tenant.merchant, False), merchant_fee_bps=2000)  # later price change

    first = checkout_orders.order_capture(order=order, amount=1)
    rest = checkout_orders.order_capture(order=order, amount=9999)
    refund = checkout_orders.order_refund(order=order, amount=2000)

    assert (first.merchant_fee_amount, rest.merchant_fee_amount) == (30, 400)  # 4% of 9999 = 399.96 -> 400
    assert refund.merchant_fee_refunded_amount == 80  # 4% of 2000, not the new 20%
    order.refresh_from_db()
    assert order.merchant_fee_amount == 30 + 400 - 80
