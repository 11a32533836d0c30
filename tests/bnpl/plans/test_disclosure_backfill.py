"""Plans bought before the disclosure was kept get it back from their first schedule (migration
0010), refunded or not, and never figures that were not shown."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
import time_machine
from django.apps import apps

from bnpl.checkout import orders as checkout_orders
from bnpl.plans.models import Plan, ProductKind
from tests.bnpl.checkout.factories import make_authorized_order
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

migration = importlib.import_module("bnpl.plans.migrations.0010_plan_disclosure_as_bought")
UNKNOWN = {
    "disclosed_apr": None,
    "disclosed_financed_amount": None,
    "disclosed_finance_charge_amount": None,
    "disclosed_total_of_payments_amount": None,
}


def test_a_refunded_plan_gets_back_the_disclosure_of_its_first_schedule(tenant: Tenant) -> None:
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC), tick=False):
        order = make_authorized_order(
            merchant=tenant.merchant, livemode=False, amount=25_000, kind=ProductKind.FINANCING, count=6
        )
        disclosed = order.plan.disclosure
        checkout_orders.order_capture(order=order, amount=25_000)
        checkout_orders.order_refund(order=order, amount=10_000)
    Plan.objects.filter(pk=order.plan.pk).update(**UNKNOWN)  # as bought before the figures were kept

    migration.disclose_from_first_schedule(apps, None)

    plan = Plan.objects.get(pk=order.plan.pk)
    assert disclosed is not None and plan.disclosure == disclosed
    assert (plan.disclosure.apr_text, plan.disclosure.amount_financed) == ("9.98", 25_000)
