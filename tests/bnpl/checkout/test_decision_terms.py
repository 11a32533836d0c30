"""What a merchant learns of the credit decision on its checkout: the outcome (approved,
counteroffered, declined, referred) and the amount lent, in the session object and in the
session's events -- never the reasons, which are the shopper's (their adverse-action notice)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout.models import CheckoutSession
from bnpl.checkout.step_up import checkout_card_add
from bnpl.core.models import Event
from bnpl.plans.models import ProductKind
from decisioning.models import CreditDecision, ModelVersion
from decisioning.policy import REASON_TEXT
from tests.bnpl.checkout.factories import product_for
from tests.conftest import ApiClient
from tests.consumers.factories import make_verified_consumer
from tests.decisioning.conftest import champion, credit_model  # noqa: F401  (the model for counteroffers)
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

SESSIONS = "/api/v1/checkout/sessions"


def _session(api: ApiClient, amount: int = 10_000) -> dict[str, Any]:
    response = api.post(
        SESSIONS,
        {
            "amount": amount,
            "currency": "USD",
            "line_items": [{"name": "Lamp", "quantity": 1, "unit_amount": amount}],
            "return_url": "https://shop.example.com/thanks",
            "cancel_url": "https://shop.example.com/cart",
        },
    )
    assert response.status_code == 201, response.content
    return dict(response.json())


def _confirm(
    tenant: Tenant, session_id: str, *, kind: str = ProductKind.PAY_IN_4, count: int | None = None, email: str = ""
) -> checkout_confirmation.ConfirmResult:
    """The shopper confirms on the hosted checkout (its service: the page is tested elsewhere)."""
    session = CheckoutSession.objects.get(public_id=session_id)
    consumer = make_verified_consumer(email=email or None)
    card = checkout_card_add(
        session=session, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    return checkout_confirmation.checkout_confirm(
        session=session,
        consumer=consumer,
        product=product_for(tenant.merchant, False, kind, count),
        payment_method=card,
    )


def _seen_by_the_merchant(api: ApiClient, session_id: str) -> dict[str, Any]:
    """The session object, and its events as the events API and the webhooks carry them."""
    events = api.get("/api/v1/events", {"limit": 100}).json()["results"]
    return {
        "session": api.get(f"{SESSIONS}/{session_id}").json(),
        "events": {
            event["type"]: event["data"]["object"] for event in events if event["data"]["object"]["id"] == session_id
        },
    }


def _assert_no_reasons(seen: dict[str, Any], session_id: str) -> None:
    """No reason of any decision on the session -- code or words -- nor any key naming reasons."""
    text = json.dumps(seen)
    decisions = CreditDecision.objects.filter(checkout_session__public_id=session_id)
    reasons = [reason for decision in decisions for reason in decision.reasons]
    assert reasons, "the decision gave reasons to leak"
    for reason in reasons:
        assert reason["code"] not in text and reason["text"] not in text
    for code, words in REASON_TEXT.items():
        assert code not in text and words not in text
    assert '"reasons"' not in text and '"reason"' not in text and '"score"' not in text
    stored = json.dumps(list(Event.objects.filter(object_id=session_id).values_list("data", flat=True)))
    assert all(reason["code"] not in stored and reason["text"] not in stored for reason in reasons)


def test_an_approved_session_says_approved_for_the_whole_amount(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    session = _session(api)

    result = _confirm(tenant, session["id"])

    assert result.order is not None
    seen = _seen_by_the_merchant(api, session["id"])
    assert (session["outcome"], session["approved_amount"]) == (None, None)  # nothing decided yet
    assert seen["events"]["checkout_session.created"]["outcome"] is None
    completed = seen["events"]["checkout_session.completed"]
    assert (seen["session"]["status"], seen["session"]["outcome"], seen["session"]["approved_amount"]) == (
        "complete",
        "approved",
        10_000,
    )
    assert (completed["outcome"], completed["approved_amount"]) == ("approved", 10_000)


def test_a_declined_session_says_declined_and_not_why(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    session = _session(api, amount=300_000)  # over the shopper's exposure limit

    result = _confirm(tenant, session["id"], kind=ProductKind.FINANCING, count=24)

    assert result.order is None
    seen = _seen_by_the_merchant(api, session["id"])
    assert (seen["session"]["status"], seen["session"]["outcome"], seen["session"]["approved_amount"]) == (
        "declined",
        "declined",
        None,
    )
    declined = seen["events"]["checkout_session.declined"]
    assert (declined["outcome"], declined["approved_amount"]) == ("declined", None)
    _assert_no_reasons(seen, session["id"])


def test_a_counteroffer_says_how_much_was_approved_and_not_why(tenant: Tenant, champion: ModelVersion) -> None:  # noqa: F811
    product = product_for(tenant.merchant, False)
    product.spending_limit_amount = 6_000  # the clean shopper's limit: 6,000 of the 10,000 asked
    product.save()
    api = ApiClient(tenant.test_key)
    session = _session(api)

    offered = _confirm(tenant, session["id"], email="ada+clean@example.com")
    while_open = api.get(f"{SESSIONS}/{session['id']}").json()
    Client().post(urlsplit(session["url"]).path + "/cancel")  # "No thanks, return to the shop"

    assert offered.counteroffer is not None and offered.order is None
    assert (while_open["status"], while_open["outcome"], while_open["approved_amount"]) == (
        "open",
        "counteroffered",
        6_000,
    )
    seen = _seen_by_the_merchant(api, session["id"])
    canceled = seen["events"]["checkout_session.canceled"]
    assert (seen["session"]["status"], seen["session"]["outcome"]) == ("canceled", "counteroffered")
    assert (canceled["outcome"], canceled["approved_amount"]) == ("counteroffered", 6_000)
    _assert_no_reasons(seen, session["id"])


def test_a_referral_says_referred_with_nothing_approved_yet(
    tenant: Tenant,
    champion: ModelVersion,  # noqa: F811
    settings: Any,
) -> None:
    settings.CREDIT_REFER_BAND = 1.0  # every score under the cutoff goes to a person
    api = ApiClient(tenant.test_key)
    session = _session(api)

    result = _confirm(tenant, session["id"], email="ada+clean@example.com")

    assert result.decision is not None and result.decision.referred
    seen = _seen_by_the_merchant(api, session["id"])
    assert (seen["session"]["status"], seen["session"]["outcome"], seen["session"]["approved_amount"]) == (
        "in_review",
        "referred",
        None,
    )
    in_review = seen["events"]["checkout_session.in_review"]
    assert (in_review["outcome"], in_review["approved_amount"]) == ("referred", None)
    assert '"reasons"' not in json.dumps(seen) and '"score"' not in json.dumps(seen)
