"""Charges left pending (their request died before the gateway answered) are settled by a sweep,
once old enough that their own request can no longer be sending them."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine

from bnpl.core import clock
from bnpl.payments.models import Charge
from bnpl.payments.services import charges_settle_pending
from tests.bnpl.checkout.factories import make_authorized_order
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def test_pending_charges_are_settled_by_the_sweep(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    payment = Charge.objects.get(kind=Charge.Kind.PAYMENT)
    stuck = Charge.objects.create(
        consumer=order.consumer,
        payment_method=payment.payment_method,
        kind=Charge.Kind.REFUND,
        refunded_charge=payment,
        amount=100,
        currency="USD",
        status=Charge.Status.PENDING,
        idempotency_key="stuck-return",
    )
    assert charges_settle_pending() == 0  # too fresh: its own request may still be sending it
    with time_machine.travel(clock.real_now() + dt.timedelta(minutes=2)):
        assert charges_settle_pending() == 1
    stuck.refresh_from_db()
    assert stuck.status == Charge.Status.SUCCEEDED
