"""The Truth in Lending disclosure in the partner API: each offer on a checkout session carries the
APR the hosted page shows the shopper, to the character, beside the product's nominal rate under a
name that cannot be taken for it; the plan bought keeps the disclosure it was bought with, whatever
refunds do to its schedule afterwards."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client

from consumers.selectors import SESSION_KEY
from tests.conftest import ApiClient
from tests.consumers.factories import make_verified_consumer
from tests.helpers import pdf_text
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/checkout/sessions"
FROZEN = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)  # offers run from today: one fixed day
SESSION = {
    "amount": 25_000,
    "currency": "USD",
    "line_items": [{"name": "Desk", "quantity": 1, "unit_amount": 25_000}],
    "return_url": "https://shop.example.com/thanks",
    "cancel_url": "https://shop.example.com/cart",
}
# The page's Truth in Lending box of each financing offer: its name and the APR shown.
TILA_APR = re.compile(
    r'aria-label="Truth in Lending disclosure for ([^"]+)">\s*'
    r'<tr><th scope="row">Annual percentage rate \(APR\)</th><td>([^<]+)</td>'
)
# 6 monthly payments at 9.99% nominal on $250.00 from 2 March 2026: 5 x $42.89 and $42.88.
SIX_MONTHS_DISCLOSURE = {
    "annual_percentage_rate": "9.98",
    "annual_percentage_rate_bps": 998,
    "amount_financed": 25_000,
    "finance_charge": 733,
    "total_of_payments": 25_733,
}


def _signed_in_shopper() -> Client:
    shopper = Client()
    cookie = shopper.session
    cookie[SESSION_KEY] = make_verified_consumer().public_id
    cookie.save()
    return shopper


def _shown_aprs(page: str) -> dict[str, str]:
    return {html.unescape(name): apr for name, apr in TILA_APR.findall(page)}


def _offer(offers: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(offer for offer in offers if offer["name"] == name)


def test_each_offer_in_the_api_discloses_the_apr_the_hosted_page_shows(tenant: Tenant) -> None:
    api, shopper = ApiClient(tenant.test_key), _signed_in_shopper()

    with time_machine.travel(FROZEN, tick=False):
        created = api.post(SESSIONS, SESSION).json()
        page = shopper.get(urlsplit(created["url"]).path).content.decode()
        retrieved = api.get(f"{SESSIONS}/{created['id']}").json()

    offers = created["offers"]
    assert retrieved["offers"] == offers
    assert [(offer["kind"], offer["name"]) for offer in offers] == [
        ("pay_in_4", "Pay in 4"),
        ("pay_in_30", "Pay in 30 days"),
        ("financing", "3 monthly payments"),
        ("financing", "6 monthly payments"),
        ("financing", "12 monthly payments"),
    ]
    assert _shown_aprs(page) == {
        offer["name"]: f"{offer['disclosure']['annual_percentage_rate']}%"
        for offer in offers
        if offer["kind"] == "financing"
    }
    assert _shown_aprs(page)["6 monthly payments"] == "9.98%"
    six = _offer(offers, "6 monthly payments")
    assert (six["nominal_rate_bps"], six["apr_bps"]) == (999, 999)  # the nominal rate, under both names
    assert six["disclosure"] == SIX_MONTHS_DISCLOSURE
    assert [payment["amount"] for payment in six["payments"]] == [4289, 4289, 4289, 4289, 4289, 4288]
    assert six["payments"][0]["due_date"] == "2026-04-02" and six["due_today_amount"] == 0
    assert six["total_amount"] == sum(payment["amount"] for payment in six["payments"]) == 25_733
    assert sum(payment["interest_amount"] for payment in six["payments"]) == six["disclosure"]["finance_charge"]
    assert "$7.33" in page and "$257.33" in page  # the page's finance charge and total of payments
    pay_in_4 = _offer(offers, "Pay in 4")
    assert pay_in_4["disclosure"] == {
        "annual_percentage_rate": "0.00",
        "annual_percentage_rate_bps": 0,
        "amount_financed": 18_750,  # the first quarter is paid today
        "finance_charge": 0,
        "total_of_payments": 18_750,
    }
    assert pay_in_4["due_today_amount"] == 6_250


def test_a_session_no_longer_open_offers_nothing_and_events_carry_no_offers(tenant: Tenant) -> None:
    from bnpl.core.models import Event

    api = ApiClient(tenant.test_key)
    session = api.post(SESSIONS, SESSION).json()

    Client().post(urlsplit(session["url"]).path + "/cancel")

    assert session["offers"] != []
    assert api.get(f"{SESSIONS}/{session['id']}").json()["offers"] == []
    events = Event.objects.filter(object_id=session["id"]).order_by("id")
    assert [event.type for event in events] == ["checkout_session.created", "checkout_session.canceled"]
    assert all("offers" not in event.data for event in events)


def test_a_plan_keeps_the_disclosure_it_was_bought_with_when_a_refund_changes_its_schedule(tenant: Tenant) -> None:
    api, shopper = ApiClient(tenant.test_key), _signed_in_shopper()

    with time_machine.travel(FROZEN, tick=False):
        session = api.post(SESSIONS, SESSION).json()
        path = urlsplit(session["url"]).path
        page = shopper.get(path).content.decode()
        offer = _offer(session["offers"], "6 monthly payments")
        confirmed = shopper.post(
            f"{path}/confirm",
            {
                "product": offer["product"],
                "card_number": "4242 4242 4242 4242",
                "exp_month": "12",
                "exp_year": "2035",
                "cvc": "123",
            },
        )
        order_id = api.get(f"{SESSIONS}/{session['id']}").json()["order"]
        plan_id = api.get(f"/api/v1/orders/{order_id}").json()["plan"]
        bought = api.get(f"/api/v1/plans/{plan_id}").json()
        agreement = pdf_text(shopper.get(f"/account/plans/{plan_id}/agreement.pdf").content)

        assert api.post(f"/api/v1/orders/{order_id}/captures", {"amount": 25_000}).status_code == 201
        assert api.post(f"/api/v1/orders/{order_id}/refunds", {"amount": 10_000}).status_code == 201
        refunded = api.get(f"/api/v1/plans/{plan_id}").json()

    assert confirmed.status_code == 302 and confirmed["Location"] == f"{path}/approved"
    assert _shown_aprs(page)["6 monthly payments"] == "9.98%"
    assert bought["disclosure"] == offer["disclosure"] == SIX_MONTHS_DISCLOSURE
    assert (bought["nominal_rate_bps"], bought["apr_bps"], bought["product"]["nominal_rate_bps"]) == (999, 999, 999)
    assert "Annualpercentagerate9.98%" in agreement.replace(" ", "")  # the credit agreement says it too
    assert [row["amount"] for row in refunded["installments"]] != [row["amount"] for row in bought["installments"]]
    assert refunded["disclosure"] == SIX_MONTHS_DISCLOSURE  # what was disclosed is not rewritten


def test_the_schema_tells_the_nominal_rate_from_the_disclosed_apr() -> None:
    from django.test import Client as PlainClient

    schemas = PlainClient().get("/api/v1/schema", {"format": "json"}).json()["components"]["schemas"]

    for name in ("PlanWithHistoryRepresentation", "PaymentProductRepresentation", "OfferRepresentation"):
        fields = schemas[name]["properties"]
        assert fields["apr_bps"]["deprecated"] is True
        assert "nominal_rate_bps" in fields["apr_bps"]["description"]
        assert "NOT the disclosed annual percentage rate" in fields["apr_bps"]["description"]
        assert "NOMINAL" in fields["nominal_rate_bps"]["description"]
        assert "disclosure.annual_percentage_rate" in fields["nominal_rate_bps"]["description"]
        assert "deprecated" not in fields["nominal_rate_bps"]
    disclosure = schemas["DisclosureRepresentation"]
    assert set(disclosure["required"]) == set(SIX_MONTHS_DISCLOSURE)
    assert "never nominal_rate_bps" in disclosure["properties"]["annual_percentage_rate"]["description"]
    assert schemas["PlanWithHistoryRepresentation"]["properties"]["disclosure"]["nullable"] is True
