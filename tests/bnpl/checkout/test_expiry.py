"""An ended authorization shows as expired wherever the merchant looks, at once, not at the next
hourly run; and the sandbox's `advance_clock --run-daily-work` plays every day's work."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.test import Client

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Order
from bnpl.core.models import Event
from merchants.models import Settlement
from tests.bnpl.checkout.factories import make_authorized_order
from tests.conftest import ApiClient
from tests.helpers import verified_client
from tests.merchants.factories import Tenant, make_member

pytestmark = pytest.mark.django_db


def test_the_api_shows_an_ended_authorization_as_expired_before_any_job_runs(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    api = ApiClient(tenant.test_key)
    ended = order.authorization_expires_at

    with time_machine.travel(ended - dt.timedelta(seconds=1), tick=False):
        still_open = api.get(f"/api/v1/orders/{order.public_id}").json()
    with time_machine.travel(ended, tick=False):
        capture = api.post(f"/api/v1/orders/{order.public_id}/captures", {"amount": 100})
        detail = api.get(f"/api/v1/orders/{order.public_id}").json()
        listed = api.get("/api/v1/orders").json()["results"][0]

    assert (still_open["status"], still_open["open_amount"]) == ("authorized", 10000)
    assert (capture.status_code, capture.json()["error"]["code"]) == (409, "order_expired")
    assert (detail["status"], detail["open_amount"]) == ("expired", 0)
    assert (listed["id"], listed["status"], listed["open_amount"]) == (order.public_id, "expired", 0)
    assert Event.objects.filter(type="order.expired", object_id=order.public_id).count() == 1


def test_the_list_warns_of_an_authorization_about_to_end(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)

    with time_machine.travel(order.authorization_expires_at - dt.timedelta(days=2), tick=False):
        ApiClient(tenant.test_key).get("/api/v1/orders")

    assert Event.objects.filter(type="order.authorization_expiring", object_id=order.public_id).count() == 1
    assert Order.objects.get(pk=order.pk).status == Order.Status.AUTHORIZED


def test_the_dashboard_shows_an_ended_authorization_as_expired(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    browser = Client()
    member = make_member(merchant=tenant.merchant)

    with time_machine.travel(order.authorization_expires_at + dt.timedelta(minutes=1), tick=False):
        verified_client(member, client=browser)
        page = browser.get(f"/merchant/orders/{order.public_id}")

    assert page.status_code == 200
    assert Order.objects.get(pk=order.pk).status == Order.Status.EXPIRED


def test_advance_clock_runs_every_days_work(tenant: Tenant) -> None:
    uncaptured = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    captured = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    checkout_orders.order_capture(order=captured, amount=10000)
    out = StringIO()

    call_command("advance_clock", "--days", "30", "--run-daily-work", stdout=out)

    assert Order.objects.get(pk=uncaptured.pk).status == Order.Status.EXPIRED
    assert Event.objects.filter(type="order.authorization_expiring", object_id=uncaptured.public_id).exists()
    text = out.getvalue()
    assert "authorization(s) expired" in text and "authorization(s) expiring soon" in text
    assert "reminder(s)" in text and "collected" in text and "settlement(s)" in text
    assert Settlement.objects.filter(merchant=tenant.merchant, livemode=False).exists()
