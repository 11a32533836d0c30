"""The operators' API: every credit decision with its reasons, score and model, for the lender's
own people only (a merchant never sees why a shopper was declined)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout.step_up import checkout_card_add
from decisioning.models import CreditDecision, ModelVersion
from tests.bnpl.accounts.factories import make_user
from tests.bnpl.checkout.factories import make_checkout_session, product_for
from tests.conftest import ApiClient
from tests.consumers.factories import make_verified_consumer
from tests.helpers import verified_client
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

DECISIONS = "/ops/api/v1/credit-decisions"


def _decline(tenant: Tenant) -> CreditDecision:
    consumer = make_verified_consumer(email="bo+risky@example.com")
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    card = checkout_card_add(
        session=session, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    checkout_confirmation.checkout_confirm(
        session=session,
        consumer=consumer,
        product=product_for(tenant.merchant, False),
        payment_method=card,
    )
    return CreditDecision.objects.get(consumer=consumer)


def _operator(*, allowed: bool) -> Client:
    user = make_user(email=f"ops-{allowed}@lender.example", is_staff=True)
    if allowed:
        user.user_permissions.add(Permission.objects.get(codename="view_creditdecision"))
    client = Client()
    verified_client(user, client=client)
    return client


def test_an_operator_reads_a_declines_reasons_score_and_model(tenant: Tenant, champion: ModelVersion) -> None:
    decision = _decline(tenant)

    body = _operator(allowed=True).get(f"{DECISIONS}/{decision.public_id}").json()

    assert body["outcome"] == "declined"
    assert body["reasons"] == decision.reasons and 1 <= len(body["reasons"]) <= 4
    assert body["reasons"][0]["code"] in {feature["name"] for feature in champion.feature_spec["features"]}
    assert body["model_version"] == champion.public_id
    assert body["score"] == decision.score and body["score"] >= body["cutoff_probability"]
    assert body["consumer"] == decision.consumer.public_id
    assert body["model_inputs"]["NumberOfTimes90DaysLate"] == 3


def test_the_list_filters_by_outcome_and_consumer(tenant: Tenant, champion: ModelVersion) -> None:
    declined = _decline(tenant)
    operator = _operator(allowed=True)

    assert [row["id"] for row in operator.get(DECISIONS, {"outcome": "declined"}).json()["results"]] == [
        declined.public_id
    ]
    assert operator.get(DECISIONS, {"outcome": "approved"}).json()["results"] == []
    mine = operator.get(DECISIONS, {"consumer": declined.consumer.public_id}).json()["results"]
    assert [row["id"] for row in mine] == [declined.public_id]
    bad = operator.get(DECISIONS, {"outcome": "maybe"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "outcome"


def test_only_operators_with_the_permission_read_decisions(tenant: Tenant, champion: ModelVersion) -> None:
    decision = _decline(tenant)
    path = f"{DECISIONS}/{decision.public_id}"

    assert Client().get(path).status_code == 401
    assert _operator(allowed=False).get(path).status_code == 403
    assert ApiClient(tenant.test_key).get(path).status_code == 401  # a merchant's key is not a way in
    assert _operator(allowed=True).get(path).status_code == 200


def test_an_unknown_decision_is_not_found(tenant: Tenant) -> None:
    operator = _operator(allowed=True)
    assert operator.get(f"{DECISIONS}/dec_000000000000000000000000").status_code == 404
    assert operator.get(f"{DECISIONS}/not-an-id").status_code == 404
