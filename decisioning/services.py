"""The credit decision: policy rules, then the champion model's probability of default against its
cutoff, with the model's own principal reasons for a decline; a challenger scores in shadow. Every
decision is stored with what it saw, the model version, the score and the latency."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.conf import settings
from django.db import transaction

from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.money import exponent
from bnpl.core.services import change_record
from decisioning import scoring
from decisioning.bureau import get_bureau
from decisioning.features import PlatformHistory, model_features
from decisioning.models import CreditDecision
from decisioning.policy import (
    POLICY_VERSION,
    Application,
    Decision,
    Features,
    Reason,
    evaluate,
    features_as_dict,
    features_for,
)
from decisioning.registry import ModelUnavailableError

logger = logging.getLogger(__name__)


def _model_inputs(application: Application, policy_features: Features) -> dict[str, float | None]:
    consumer = application.consumer
    try:
        report = get_bureau().report(consumer_id=consumer.public_id, email=consumer.email)
    except Exception as error:
        logger.exception("bureau unavailable")
        raise ModelUnavailableError(
            "We cannot check credit right now. Please try again in a few minutes.", code="bureau_unavailable"
        ) from error
    scale = 10 ** exponent(application.currency)
    history = PlatformHistory(
        installments_past_due=policy_features.installments_past_due,
        outstanding_amount_major=policy_features.outstanding_amount / scale,
        plans_paid=0,
    )
    return model_features(bureau=report, history=history, amount_major=application.amount / scale)


def _shadow(features: dict[str, float | None]) -> scoring.ModelScore | None:
    """The challenger's opinion, for the record. Its failures never touch the decision."""
    try:
        scorer = scoring.challenger()
        return None if scorer is None else scoring.score(scorer, features, with_reasons=False)
    except Exception:
        logger.exception("challenger model failed; decision made without its shadow score")
        return None


def credit_decide(*, application: Application) -> Decision:
    """Decide, and keep the decision with what it saw (audited, evented for operators).

    Fails closed: a champion whose artifact is missing or corrupt raises ModelUnavailableError (no
    decision is made); with no champion registered, the policy decides alone unless
    ``CREDIT_MODEL_REQUIRED`` is set.
    """
    started = time.perf_counter()
    policy_features = features_for(application)
    reasons = evaluate(policy_features)
    inputs: dict[str, float | None] = {}
    champion_score = shadow = None
    referred = False
    reviewed = _approved_review(application)
    if not reasons and reviewed is None:
        champion = scoring.champion()
        if champion is None and settings.CREDIT_MODEL_REQUIRED:
            raise ModelUnavailableError("No credit model is in service; decisions are paused.", code="no_champion")
        if champion is not None:
            inputs = _model_inputs(application, policy_features)
            cutoff = application.product.credit_cutoff_probability  # None: the model's own
            champion_score = scoring.score(champion, inputs, with_reasons=False, cutoff=cutoff)
            if not champion_score.probability < champion_score.cutoff_probability:  # NaN declines too
                champion_score = scoring.score(
                    champion, inputs, with_reasons=True, cutoff=cutoff
                )  # reasons for declines
                reasons = tuple(Reason(code=reason.code, text=reason.text) for reason in champion_score.reasons)
            else:
                referred = champion_score.probability >= champion_score.cutoff_probability - settings.CREDIT_REFER_BAND
            shadow = _shadow(inputs)
    latency_ms = (time.perf_counter() - started) * 1000
    with transaction.atomic():
        record = CreditDecision.objects.create(
            consumer=application.consumer,
            merchant=application.merchant,
            livemode=application.livemode,
            checkout_session=application.checkout_session,
            product_kind=application.product.kind,
            amount=application.amount,
            currency=application.currency,
            outcome=_outcome(reasons, referred),
            reasons=[{"code": reason.code, "text": reason.text} for reason in reasons],
            features={**features_as_dict(policy_features), **({"review_of": reviewed.public_id} if reviewed else {})},
            policy_version=POLICY_VERSION,
            model_inputs=inputs,
            model_version_id=champion_score.model_version_pk if champion_score else None,
            score=champion_score.probability if champion_score else None,
            cutoff_probability=champion_score.cutoff_probability if champion_score else None,
            challenger_version_id=shadow.model_version_pk if shadow else None,
            challenger_score=shadow.probability if shadow else None,
            latency_ms=round(latency_ms, 3),
        )
        change_record(
            action=f"credit_decision.{record.outcome}",
            instance=record,
            data={
                "id": record.public_id,
                "outcome": record.outcome,
                "reasons": record.reasons,
                "amount": record.amount,
                "score": record.score,
                "model_version": champion_score.model_version_id if champion_score else None,
            },
        )
    return Decision(
        approved=not reasons and not referred, reasons=reasons, referred=referred, decision_id=record.public_id
    )


def _outcome(reasons: tuple[Reason, ...], referred: bool) -> str:
    if reasons:
        return CreditDecision.Outcome.DECLINED
    return CreditDecision.Outcome.REFERRED if referred else CreditDecision.Outcome.APPROVED


def _approved_review(application: Application) -> CreditDecision | None:
    """A referral of this very application (session, consumer, amount, product kind) that a person
    approved: it stands in for the model (the policy's hard rules still apply)."""
    if application.checkout_session is None:
        return None
    return CreditDecision.objects.filter(
        checkout_session=application.checkout_session,
        consumer=application.consumer,
        amount=application.amount,
        product_kind=application.product.kind,
        outcome=CreditDecision.Outcome.REFERRED,
        review_status=CreditDecision.Review.APPROVED,
    ).first()


def credit_decision_review(*, decision: CreditDecision, approve: bool, note: str, reviewer: Any) -> CreditDecision:
    """A person settles a referral, with a note (audited). Call inside the caller's transaction."""
    decision = CreditDecision.objects.select_for_update().get(pk=decision.pk)
    if decision.outcome != CreditDecision.Outcome.REFERRED or decision.review_status:
        raise StateError("Only a referral waiting for review can be reviewed.", code="not_awaiting_review")
    if not note.strip():
        raise InvalidRequestError("Write a note saying why.", param="review_note")
    before = {"review_status": decision.review_status}
    decision.review_status = CreditDecision.Review.APPROVED if approve else CreditDecision.Review.DECLINED
    decision.review_note = note.strip()
    decision.reviewed_by = reviewer
    decision.reviewed_at = clock.now()
    if not approve:
        decision.reasons = [
            {"code": "manual_review", "text": "After reviewing your application, we could not approve it."}
        ]
    decision.save()
    change_record(
        action="credit_decision.reviewed",
        instance=decision,
        before=before,
        data={"id": decision.public_id, "review_status": decision.review_status, "note": decision.review_note},
    )
    return decision


def credit_decision_decline_on_recheck(*, decision_id: str, reasons: tuple[Reason, ...]) -> CreditDecision:
    """Record the decline when the policy, checked again as the order was written, refused what an
    earlier decision approved: the consumer's adverse-action notice must exist and say why."""
    approved = CreditDecision.objects.get(public_id=decision_id)
    with transaction.atomic():
        record = CreditDecision.objects.create(
            consumer=approved.consumer,
            merchant=approved.merchant,
            livemode=approved.livemode,
            checkout_session=approved.checkout_session,
            product_kind=approved.product_kind,
            amount=approved.amount,
            currency=approved.currency,
            outcome=CreditDecision.Outcome.DECLINED,
            reasons=[{"code": reason.code, "text": reason.text} for reason in reasons],
            features={**approved.features, "recheck_of": approved.public_id},
            policy_version=approved.policy_version,
            model_inputs=approved.model_inputs,
            model_version=approved.model_version,
            score=approved.score,
            cutoff_probability=approved.cutoff_probability,
        )
        change_record(
            action="credit_decision.declined",
            instance=record,
            data={
                "id": record.public_id,
                "outcome": record.outcome,
                "reasons": record.reasons,
                "recheck_of": decision_id,
            },
        )
    return record
