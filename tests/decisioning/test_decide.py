"""The decision with the model in it: policy first, then the champion's probability against its
cutoff, reasons from the model's own contributions, a challenger in shadow, and failing closed."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import xgboost
from django.core.files.storage import default_storage

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout.models import Order
from bnpl.checkout.step_up import checkout_card_add
from bnpl.payments.models import Charge
from decisioning import registry, scoring, training
from decisioning.bureau import BureauReport, BureauUnavailableError, SandboxBureau
from decisioning.features import MODEL_FEATURES, PlatformHistory, model_features
from decisioning.models import CreditDecision, ModelVersion
from decisioning.registry import ModelUnavailableError
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def _confirm(
    tenant: Tenant, email: str, amount: int = 10000
) -> tuple[checkout_confirmation.ConfirmResult, CreditDecision]:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=amount)
    consumer = make_verified_consumer(email=email)
    card = checkout_card_add(
        session=session, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    result = checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product_for(tenant.merchant, False), payment_method=card
    )
    return result, CreditDecision.objects.get(consumer=consumer)


def test_features_from_fixed_inputs_are_exact() -> None:
    report = BureauReport(0.5, 1, 0, 0, 0.3, 4000.0, 7, 1)
    features = model_features(
        bureau=report,
        history=PlatformHistory(installments_past_due=2, outstanding_amount_major=600.0),
        amount_major=600.0,
    )
    assert tuple(features) == MODEL_FEATURES
    assert features == {
        "RevolvingUtilizationOfUnsecuredLines": 0.5,
        "NumberOfTime30-59DaysPastDueNotWorse": 3,  # the bureau's 1 + 2 installments past due here
        "NumberOfTime60-89DaysPastDueNotWorse": 0,
        "NumberOfTimes90DaysLate": 0,
        "DebtRatio": 0.325,  # 0.3 + (600 owed + 600 asked) / 12 months / 4000 income
        "MonthlyIncome": 4000.0,
        "NumberOfOpenCreditLinesAndLoans": 7,
        "NumberRealEstateLoansOrLines": 1,
    }


def test_the_sandbox_bureau_answers_the_same_for_the_same_consumer() -> None:
    bureau = SandboxBureau()
    assert bureau.report(consumer_id="con_a", email="a@example.com") == bureau.report(
        consumer_id="con_a", email="a@example.com"
    )
    assert bureau.report(consumer_id="con_a", email=None) != bureau.report(consumer_id="con_b", email=None)
    assert bureau.report(consumer_id="con_a", email="ada+thin@example.com").monthly_income is None


def test_the_sandbox_bureau_keeps_giving_every_consumer_the_file_it_always_gave() -> None:
    bureau = SandboxBureau()
    assert [bureau.report(consumer_id=consumer_id, email=None) for consumer_id in ("con_1", "con_15", "con_113")] == [
        BureauReport(0.151, 2, 0, 0, 0.6783, 7225.03, 9, 3),
        BureauReport(0.874, 0, 1, 1, 0.1117, 4726.28, 11, 0),
        BureauReport(0.1996, 1, 1, 0, 0.54, 2504.0, 10, 0),
    ]


def test_a_clean_file_is_approved_and_the_decision_records_the_model(tenant: Tenant, champion: ModelVersion) -> None:
    result, decision = _confirm(tenant, "ada+clean@example.com")

    assert result.order is not None
    assert decision.outcome == "approved"
    assert decision.model_version == champion
    assert decision.score is not None and decision.cutoff_probability == champion.cutoff_probability
    assert decision.score < champion.cutoff_probability
    assert decision.model_inputs["MonthlyIncome"] == 7500.0
    assert decision.latency_ms is not None and decision.latency_ms > 0
    assert decision.challenger_score is None


def test_a_risky_file_is_declined_for_the_features_that_raised_its_risk(tenant: Tenant, champion: ModelVersion) -> None:
    result, decision = _confirm(tenant, "bob+risky@example.com")

    assert result.order is None and not Charge.objects.exists()
    assert (
        decision.outcome == "declined" and decision.score is not None and decision.score >= champion.cutoff_probability
    )
    scorer = scoring.champion()
    assert scorer is not None
    row = scorer.row(decision.model_inputs)
    matrix = xgboost.DMatrix(row, missing=np.nan, feature_names=scorer.spec.feature_names)
    contributions = scorer.booster.predict(matrix, pred_contribs=True)[0][:-1]
    by_feature = {
        feature.name: float(value) for feature, value in zip(scorer.spec.features, contributions, strict=True)
    }
    raising = sorted((name for name, value in by_feature.items() if value > 0), key=lambda name: -by_feature[name])
    reason_texts = {feature.name: feature.reason for feature in scorer.spec.features}
    assert [reason["text"] for reason in decision.reasons] == [reason_texts[name] for name in raising[:4]]
    assert 1 <= len(decision.reasons) <= 4


def test_the_policy_decides_first_and_the_model_is_not_consulted(tenant: Tenant, champion: ModelVersion) -> None:
    _, decision = _confirm(tenant, "carol+clean@example.com", amount=300000)  # over the exposure limit
    assert decision.outcome == "declined"
    assert decision.reasons[0]["code"] == "exposure_limit"
    assert decision.score is None and decision.model_version is None


def test_more_lateness_never_lowers_the_risk(champion: ModelVersion) -> None:
    scorer = scoring.champion()
    assert scorer is not None
    base = model_features(
        bureau=BureauReport(0.4, 0, 0, 0, 0.3, 5000.0, 8, 1), history=PlatformHistory(0, 0.0), amount_major=100
    )
    for feature in (
        "NumberOfTime30-59DaysPastDueNotWorse",
        "NumberOfTime60-89DaysPastDueNotWorse",
        "NumberOfTimes90DaysLate",
    ):
        scores = [scoring.score(scorer, {**base, feature: count}, with_reasons=False).probability for count in range(8)]
        assert all(later >= earlier for earlier, later in itertools.pairwise(scores)), (feature, scores)


def test_a_new_champion_is_used_by_the_next_decision_and_a_challenger_scores_in_shadow(
    tenant: Tenant, champion: ModelVersion, credit_model: training.TrainedModel
) -> None:
    _, first = _confirm(tenant, "dan+clean@example.com")
    second_version = registry.model_promote(
        model_version=registry.register_model(name="credit", trained=credit_model), to=ModelVersion.Status.CHAMPION
    )
    challenger = registry.model_promote(
        model_version=registry.register_model(name="credit", trained=credit_model), to=ModelVersion.Status.CHALLENGER
    )

    _, second = _confirm(tenant, "eve+clean@example.com")

    assert first.model_version == champion
    assert second.model_version == second_version
    assert second.challenger_version == challenger and second.challenger_score is not None
    assert second.outcome == "approved"


def test_a_corrupt_champion_fails_closed(tenant: Tenant, champion: ModelVersion) -> None:
    with default_storage.open(champion.artifact_path, "wb") as artifact:
        artifact.write(b"not a model")
    scoring.forget_loaded()

    with pytest.raises(ModelUnavailableError) as raised:
        _confirm(tenant, "fay+clean@example.com")

    assert raised.value.code == "model_artifact_corrupt"
    assert not Order.objects.exists() and not Charge.objects.exists() and not CreditDecision.objects.exists()


def test_with_no_champion_the_policy_decides_alone_unless_a_model_is_required(settings: Any, tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False)
    assert CreditDecision.objects.get(consumer=order.consumer).score is None

    settings.CREDIT_MODEL_REQUIRED = True
    with pytest.raises(ModelUnavailableError) as raised:
        _confirm(tenant, "gus@example.com")
    assert raised.value.code == "no_champion"


def test_the_portal_shows_the_adverse_action_notice_with_the_reasons(tenant: Tenant, champion: ModelVersion) -> None:
    from django.test import Client

    _, decision = _confirm(tenant, "hal+risky@example.com")
    client = Client()
    session = client.session
    session["consumer_public_id"] = decision.consumer.public_id
    session.save()
    client.cookies["sessionid"] = str(session.session_key)

    page = client.get("/account/decisions").content.decode()

    assert f'id="notice-{decision.public_id}"' in page
    assert all(reason["text"].replace("'", "&#x27;") in page for reason in decision.reasons)


class BrokenBureau:
    is_sandbox = True

    def report(self, *, consumer_id: str, email: str | None) -> BureauReport:
        raise BureauUnavailableError("bureau down")


def test_a_bureau_outage_fails_closed_with_a_clear_error(settings: Any, tenant: Tenant, champion: ModelVersion) -> None:
    settings.BUREAU_PROVIDER_TEST = "tests.decisioning.test_decide.BrokenBureau"
    with pytest.raises(ModelUnavailableError) as raised:
        _confirm(tenant, "ida+clean@example.com")
    assert raised.value.code == "bureau_unavailable" and raised.value.status_code == 503
    assert not Order.objects.exists() and not CreditDecision.objects.exists()


def test_a_registry_spec_that_disagrees_with_the_artifact_fails_closed(tenant: Tenant, champion: ModelVersion) -> None:
    spec = dict(champion.feature_spec)
    spec["features"] = list(reversed(spec["features"]))
    ModelVersion.objects.filter(pk=champion.pk).update(feature_spec=spec)
    with pytest.raises(ModelUnavailableError) as raised:
        _confirm(tenant, "jon+clean@example.com")
    assert raised.value.code == "model_artifact_corrupt"


def test_a_broken_challenger_never_touches_the_decision(
    tenant: Tenant, champion: ModelVersion, credit_model: training.TrainedModel
) -> None:
    challenger = registry.model_promote(
        model_version=registry.register_model(name="credit", trained=credit_model), to=ModelVersion.Status.CHALLENGER
    )
    with default_storage.open(challenger.artifact_path, "wb") as artifact:
        artifact.write(b"garbage")

    result, decision = _confirm(tenant, "kim+clean@example.com")

    assert result.order is not None and decision.outcome == "approved"
    assert decision.challenger_score is None and decision.model_version == champion


def test_a_thin_file_is_never_told_it_paid_late(tenant: Tenant, champion: ModelVersion) -> None:
    _, decision = _confirm(tenant, "lou+thin@example.com")
    assert decision.outcome == "declined"
    assert {reason["code"] for reason in decision.reasons} <= {"insufficient_credit_history", "income_unverified"}


def test_a_decline_found_on_the_recheck_is_recorded_with_its_reasons(tenant: Tenant, settings: Any) -> None:
    from tests.bnpl.checkout.test_payment_outcomes import GATEWAY, HookedGateway

    settings.PAYMENT_GATEWAY_TEST = GATEWAY
    consumer = make_verified_consumer(email="max@example.com")
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=150000)
    card = checkout_card_add(
        session=session, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )

    # While the first payment is in flight, another checkout of the same consumer takes most of the limit.
    def take_the_limit() -> None:
        HookedGateway.during_charge.clear()  # once: the other checkout's own charge must not recurse
        make_authorized_order(merchant=tenant.merchant, livemode=False, amount=150000, consumer=consumer)

    HookedGateway.during_charge = [take_the_limit]
    try:
        with pytest.raises(checkout_confirmation.DecisionChangedError):
            checkout_confirmation.checkout_confirm(
                session=session, consumer=consumer, product=product_for(tenant.merchant, False), payment_method=card
            )
    finally:
        HookedGateway.during_charge = []

    declined = CreditDecision.objects.get(checkout_session=session, outcome="declined")
    assert declined.reasons[0]["code"] == "exposure_limit"
    assert (
        declined.features["recheck_of"]
        == CreditDecision.objects.get(checkout_session=session, outcome="approved").public_id
    )


def test_protected_characteristics_are_refused_under_other_names() -> None:
    for name in ("applicant_age", "is_female", "married", "NumberOfDependents"):
        spec = {"label": "y", "features": [{"name": name, "monotone": 0, "reason": "x"}]}
        with pytest.raises(training.TrainingDataError) as raised:
            training.FeatureSpec.from_dict(spec)
        assert raised.value.code == "protected_feature", name


def test_a_product_may_set_its_own_stricter_cutoff(tenant: Tenant, champion: ModelVersion) -> None:
    from bnpl.plans.services import product_update

    product_update(product=product_for(tenant.merchant, False), credit_cutoff_probability=0.0001)

    result, decision = _confirm(tenant, "nia+clean@example.com")

    assert result.order is None and decision.outcome == "declined"
    assert decision.cutoff_probability == 0.0001 and decision.score is not None and decision.score >= 0.0001
    assert decision.reasons and all(reason["code"] != "model_risk" for reason in decision.reasons)
