"""Factories for settlements, made through the real services (registered for the schema walk)."""

from __future__ import annotations

import datetime as dt

from bnpl.checkout import orders as checkout_orders
from bnpl.core import clock
from merchants.models import Merchant, Settlement
from merchants.settlements import settlement_create, settlement_pay
from tests.checkout_factories import make_authorized_order
from tests.factories import owned_object_factory


@owned_object_factory(Settlement)
def make_settlement(*, merchant: Merchant, livemode: bool) -> Settlement:
    order = make_authorized_order(merchant=merchant, livemode=livemode)
    checkout_orders.order_capture(order=order, amount=order.authorized_amount)
    settlement = settlement_create(
        merchant_id=merchant.pk, livemode=livemode, currency="USD", cutoff=clock.now() + dt.timedelta(seconds=1)
    )
    assert settlement is not None
    return settlement_pay(settlement=settlement)
