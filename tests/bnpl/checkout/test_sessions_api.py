"""Checkout sessions through the partner API: what a merchant may create (and every refusal, which
writes nothing), listing and retrieving them, and their expiry 48 hours later by the periodic sweep."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from bnpl.celery import app
from bnpl.checkout import sessions as checkout_sessions
from bnpl.checkout.models import CheckoutSession
from bnpl.core.errors import InvalidRequestError
from bnpl.core.models import AuditLogEntry, Event
from bnpl.plans.models import PaymentProduct, ProductKind
from bnpl.plans.services import product_update
from tests.bnpl.checkout.factories import product_for
from tests.conftest import ApiClient
from tests.helpers import row_counts
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/checkout/sessions"
FROZEN = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
SESSION = {
    "amount": 12000,
    "currency": "USD",
    "line_items": [
        {"name": "Trail shoes", "quantity": 1, "unit_amount": 9000, "sku": "TS-42"},
        {"name": "Socks", "quantity": 2, "unit_amount": 1500},
    ],
    "return_url": "https://shop.example.com/thanks",
    "cancel_url": "https://shop.example.com/cart",
    "merchant_reference": "1001",
    "customer_email": "Ada@Example.com",
    "customer_phone": "(415) 555-2671",
}


def _changes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {table: after[table] - before[table] for table in after if after[table] != before[table]}


def _refused(api: ApiClient, body: dict[str, Any]) -> dict[str, Any]:
    """POST a session that must be refused: 400, and no row anywhere (a 400 keeps no idempotency key)."""
    before = row_counts()
    response = api.post(SESSIONS, body)
    assert response.status_code == 400, response.content
    assert _changes(before, row_counts()) == {}
    error: dict[str, Any] = response.json()["error"]
    return error


# --- Create ----------------------------------------------------------------------------------------


def test_a_created_session_is_open_for_48_hours_with_its_hosted_url(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)

    with time_machine.travel(FROZEN, tick=False):
        response = api.post(SESSIONS, SESSION)

    assert response.status_code == 201, response.content
    body = response.json()
    session = CheckoutSession.objects.get()
    offers = body.pop("offers")  # what the hosted page offers (tests/bnpl/checkout/test_disclosure.py)
    assert [(offer["kind"], offer["name"]) for offer in offers] == [
        ("pay_in_4", "Pay in 4"),
        ("pay_in_30", "Pay in 30 days"),
        ("financing", "3 monthly payments"),
    ]
    assert body == {
        "id": session.public_id,
        "object": "checkout.session",
        "livemode": False,
        "status": "open",
        "amount": 12000,
        "currency": "USD",
        "line_items": [
            {"name": "Trail shoes", "quantity": 1, "unit_amount": 9000, "total_amount": 9000, "sku": "TS-42"},
            {"name": "Socks", "quantity": 2, "unit_amount": 1500, "total_amount": 3000},
        ],
        "merchant_reference": "1001",
        "customer_email": "ada@example.com",
        "customer_phone": "+14155552671",
        "product_kinds": [],
        "return_url": "https://shop.example.com/thanks",
        "cancel_url": "https://shop.example.com/cart",
        "url": f"{settings.PUBLIC_BASE_URL.rstrip('/')}/checkout/{session.public_id}",
        "consumer": None,
        "order": None,
        "outcome": None,
        "approved_amount": None,
        "expires_at": "2026-03-04T09:30:00Z",
        "created_at": "2026-03-02T09:30:00Z",
    }
    assert session.public_id.startswith("cs_")
    assert session.expires_at == FROZEN + dt.timedelta(hours=48)
    assert (session.merchant, session.livemode, session.status) == (tenant.merchant, False, "open")
    event = Event.objects.get(type="checkout_session.created")
    assert (event.merchant, event.livemode, event.object_id) == (tenant.merchant, False, session.public_id)
    assert AuditLogEntry.objects.filter(action="checkout_session.created", object_id=session.public_id).count() == 1


def test_a_live_key_creates_a_live_session_with_the_kinds_asked_for(tenant: Tenant) -> None:
    response = ApiClient(tenant.live_key).post(
        SESSIONS, {**SESSION, "product_kinds": ["pay_in_4", "financing", "pay_in_4"]}
    )

    assert response.status_code == 201, response.content
    assert response.json()["livemode"] is True
    assert response.json()["product_kinds"] == ["financing", "pay_in_4"]
    assert CheckoutSession.objects.get().livemode is True


def test_line_items_that_do_not_add_up_to_the_amount_are_refused(tenant: Tenant) -> None:
    error = _refused(ApiClient(tenant.test_key), {**SESSION, "amount": 12001})

    assert error == {
        "type": "invalid_request_error",
        "code": "amount_mismatch",
        "message": "The line items add up to 12000, not the amount 12001.",
        "param": "amount",
    }


def test_a_currency_the_merchant_does_not_sell_in_is_refused(tenant: Tenant) -> None:
    assert tenant.merchant.currencies == ["USD"]

    error = _refused(ApiClient(tenant.test_key), {**SESSION, "currency": "eur"})

    assert error == {
        "type": "invalid_request_error",
        "code": "currency_not_enabled",
        "message": "EUR is not one of this merchant's currencies (USD).",
        "param": "currency",
    }


def test_a_currency_that_does_not_exist_is_refused(tenant: Tenant) -> None:
    error = _refused(ApiClient(tenant.test_key), {**SESSION, "currency": "ZZZ"})

    assert (error["code"], error["param"]) == ("parameter_invalid", "currency")


def test_an_amount_below_every_products_minimum_is_refused(tenant: Tenant) -> None:
    # The smallest minimum is pay in 30 days' $10.00.
    body = {**SESSION, "amount": 999, "line_items": [{"name": "Pen", "quantity": 1, "unit_amount": 999}]}

    error = _refused(ApiClient(tenant.test_key), body)

    assert error == {
        "type": "invalid_request_error",
        "code": "no_eligible_product",
        "message": "No enabled payment product takes this amount in this currency.",
        "param": "amount",
    }


def test_an_amount_no_product_of_the_asked_kinds_takes_is_refused(tenant: Tenant) -> None:
    # Financing starts at $100.00; pay in 4 would take $50.00, but only financing is asked for.
    body = {
        **SESSION,
        "amount": 5000,
        "line_items": [{"name": "Cap", "quantity": 1, "unit_amount": 5000}],
        "product_kinds": ["financing"],
    }

    error = _refused(ApiClient(tenant.test_key), body)

    assert (error["code"], error["param"]) == ("no_eligible_product", "amount")


def test_the_smallest_minimum_itself_is_accepted(tenant: Tenant) -> None:
    body = {**SESSION, "amount": 1000, "line_items": [{"name": "Pen", "quantity": 1, "unit_amount": 1000}]}

    response = ApiClient(tenant.test_key).post(SESSIONS, body)

    assert response.status_code == 201, response.content


def test_an_unknown_product_kind_is_refused(tenant: Tenant) -> None:
    error = _refused(ApiClient(tenant.test_key), {**SESSION, "product_kinds": ["pay_in_4", "pay_in_5"]})

    assert error == {
        "type": "invalid_request_error",
        "code": "parameter_invalid_choice",
        "message": 'product_kinds[1]: "pay_in_5" is not a valid choice.',
        "param": "product_kinds[1]",
    }


@pytest.mark.parametrize("phone", ["12345", "+1 555 0100", "call me", "+44 20"])
def test_a_phone_number_that_is_not_valid_is_refused(tenant: Tenant, phone: str) -> None:
    error = _refused(ApiClient(tenant.test_key), {**SESSION, "customer_phone": phone})

    assert error == {
        "type": "invalid_request_error",
        "code": "parameter_invalid",
        "message": "customer_phone: Not a valid phone number.",
        "param": "customer_phone",
    }


def test_no_line_items_are_refused(tenant: Tenant) -> None:
    error = _refused(ApiClient(tenant.test_key), {**SESSION, "line_items": []})

    assert error["param"] == "line_items"


# --- List and retrieve ---------------------------------------------------------------------------


def test_sessions_are_listed_newest_first_and_retrieved_by_id(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    with time_machine.travel(FROZEN, tick=False) as traveller:
        first = api.post(SESSIONS, SESSION).json()
        traveller.shift(dt.timedelta(minutes=1))
        second = api.post(SESSIONS, {**SESSION, "merchant_reference": "1002"}).json()

        listed = api.get(SESSIONS).json()
        retrieved = api.get(f"{SESSIONS}/{first['id']}")  # the same day: the same offers as when created

    assert [row["id"] for row in listed["results"]] == [second["id"], first["id"]]
    without_quote = {key: value for key, value in first.items() if key != "offers"}
    assert listed["results"][1] == without_quote  # a list leaves the per-session quote out
    assert retrieved.status_code == 200
    assert retrieved.json() == first


def test_another_merchants_sessions_are_neither_listed_nor_retrieved(tenant: Tenant, other_tenant: Tenant) -> None:
    session = ApiClient(tenant.test_key).post(SESSIONS, SESSION).json()
    other = ApiClient(other_tenant.test_key)

    assert other.get(SESSIONS).json()["results"] == []
    response = other.get(f"{SESSIONS}/{session['id']}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "resource_missing"


def test_the_other_modes_sessions_are_neither_listed_nor_retrieved(tenant: Tenant) -> None:
    session = ApiClient(tenant.test_key).post(SESSIONS, SESSION).json()
    live = ApiClient(tenant.live_key)

    assert live.get(SESSIONS).json()["results"] == []
    assert live.get(f"{SESSIONS}/{session['id']}").status_code == 404


# --- Expiry ----------------------------------------------------------------------------------------


def test_the_sweep_expires_a_session_48_hours_after_it_was_created(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    with time_machine.travel(FROZEN, tick=False) as traveller:
        session = api.post(SESSIONS, SESSION).json()
        hosted = urlsplit(session["url"]).path

        traveller.shift(dt.timedelta(hours=48) - dt.timedelta(seconds=1))
        assert checkout_sessions.checkout_sessions_expire() == 0
        assert Client().get(hosted).status_code == 200

        traveller.shift(dt.timedelta(seconds=1))
        expired = checkout_sessions.checkout_sessions_expire()
        again = checkout_sessions.checkout_sessions_expire()

    assert (expired, again) == (1, 0)
    assert CheckoutSession.objects.get().status == CheckoutSession.Status.EXPIRED
    assert api.get(f"{SESSIONS}/{session['id']}").json()["status"] == "expired"
    assert Event.objects.filter(type="checkout_session.expired", object_id=session["id"]).count() == 1


def test_a_session_past_its_expiry_is_closed_on_the_hosted_page_before_the_sweep(tenant: Tenant) -> None:
    with time_machine.travel(FROZEN, tick=False) as traveller:
        session = ApiClient(tenant.test_key).post(SESSIONS, SESSION).json()
        traveller.shift(dt.timedelta(hours=48))

        page = Client().get(urlsplit(session["url"]).path)

    assert page.status_code == 409
    assert "This checkout has expired. Return to the shop to start again." in page.content.decode()
    assert CheckoutSession.objects.get().status == CheckoutSession.Status.OPEN  # only the sweep writes


def test_an_expired_session_says_it_has_expired_on_the_hosted_page(tenant: Tenant) -> None:
    with time_machine.travel(FROZEN, tick=False) as traveller:
        session = ApiClient(tenant.test_key).post(SESSIONS, SESSION).json()
        traveller.shift(dt.timedelta(hours=48))
        checkout_sessions.checkout_sessions_expire()

        page = Client().get(urlsplit(session["url"]).path)

    assert page.status_code == 409
    content = page.content.decode()
    assert f'href="https://shop.example.com/cart?checkout_session={session["id"]}"' in content
    # The same words as before the sweep ran (a regression test: the sweep once changed them to the generic
    # "This checkout is expired.").
    assert "This checkout has expired. Return to the shop to start again." in content


def test_the_events_feed_lists_session_created_and_expired(tenant: Tenant, other_tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    with time_machine.travel(FROZEN, tick=False) as traveller:
        session = api.post(SESSIONS, SESSION).json()
        traveller.shift(dt.timedelta(hours=48))
        checkout_sessions.checkout_sessions_expire()

    created = api.get("/api/v1/events", {"type": "checkout_session.created"}).json()["results"]
    expired = api.get("/api/v1/events", {"type": "checkout_session.expired"}).json()["results"]

    assert [(event["type"], event["data"]["object"]["id"]) for event in created] == [
        ("checkout_session.created", session["id"])
    ]
    assert created[0]["data"]["object"]["status"] == "open"
    assert [(event["type"], event["data"]["object"]["id"]) for event in expired] == [
        ("checkout_session.expired", session["id"])
    ]
    assert expired[0]["data"]["object"]["status"] == "expired"
    assert (
        ApiClient(other_tenant.test_key).get("/api/v1/events", {"type": "checkout_session.created"}).json()["results"]
        == []
    )


def test_the_expiry_sweeps_are_registered_tasks_on_the_beat_schedule() -> None:
    app.loader.import_default_modules()
    registered = {"bnpl.checkout.tasks.checkout_sessions_expire", "bnpl.checkout.tasks.orders_expire"}
    assert registered <= set(app.tasks)

    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    # Without a beat entry nothing would ever run them: sessions would stay open, authorizations would never
    # be warned about nor released (a regression test: the schedule once lacked both).
    assert registered <= scheduled, registered - scheduled


def test_a_product_that_cannot_make_a_schedule_is_refused_and_skipped(tenant: Tenant) -> None:
    product = product_for(tenant.merchant, False, ProductKind.FINANCING, count=6)
    with pytest.raises(InvalidRequestError) as raised:
        product_update(product=product, down_payment_bps=10_000)
    assert raised.value.param == "down_payment_bps"

    PaymentProduct.objects.filter(pk=product.pk).update(installment_count=999)  # bad data that got in anyway
    response = ApiClient(tenant.test_key).post(
        "/api/v1/checkout/sessions",
        {
            "amount": 50000,
            "currency": "USD",
            "line_items": [{"name": "Bike", "quantity": 1, "unit_amount": 50000}],
            "return_url": "https://shop.example.com/ok",
            "cancel_url": "https://shop.example.com/no",
        },
    )
    assert response.status_code == 201
