"""The credit decision: policy rules, then the champion model's probability of default against its
cutoff, with the model's own principal reasons for a decline; a challenger scores in shadow. Every
decision is stored with what it saw, the model version, the score and the latency."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from bnpl.core import clock, inserts, metrics, outbox
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.ids import generate_public_id
from bnpl.core.money import exponent
from bnpl.core.services import change_record, change_rows
from decisioning import limits, scoring
from decisioning.bureau import BureauUnavailableError, get_bureau
from decisioning.features import PlatformHistory, model_features
from decisioning.inputs import situation_read
from decisioning.models import CreditDecision, ModelVersion
from decisioning.policy import (
    POLICY_VERSION,
    Application,
    Decision,
    Features,
    Reason,
    evaluate,
    features_as_dict,
    features_from,
)
from decisioning.registry import ModelUnavailableError, Scorer

logger = logging.getLogger(__name__)


def _model_inputs(application: Application, policy_features: Features) -> dict[str, float | None]:
    consumer = application.consumer
    try:
        bureau = get_bureau(livemode=application.livemode)
        report = bureau.report(consumer_id=consumer.public_id, email=consumer.email)
    except BureauUnavailableError as error:
        logger.warning("bureau unavailable: %s", error)
        raise ModelUnavailableError(
            "We cannot check credit right now. Please try again in a few minutes.", code="bureau_unavailable"
        ) from error
    scale = 10 ** exponent(application.currency)
    history = PlatformHistory(
        installments_past_due=policy_features.installments_past_due,
        outstanding_amount_major=policy_features.outstanding_amount / scale,
    )
    return model_features(
        bureau=report,
        history=history,
        amount_major=application.amount / scale,
        cash_flow=policy_features.cash_flow,
        minor_per_major=scale,
    )


def _shadow(features: dict[str, float | None], challenger_pk: int | None) -> scoring.ModelScore | None:
    """The challenger's opinion, for the record. Its failures never touch the decision."""
    try:
        scorer = scoring.scorer_for(ModelVersion.Status.CHALLENGER, challenger_pk)
        return None if scorer is None else scoring.score(scorer, features, with_reasons=False)
    except Exception:
        logger.exception("challenger model failed; decision made without its shadow score")
        return None


LIMIT_REASONS = {
    "risk": Reason(code="credit_limit", text="The amount is more than we can lend you for this purchase right now."),
    "affordability": Reason(
        code="cash_flow",
        text="Your income after regular spending, as your bank account shows it, is low for this amount.",
    ),
}


@dataclass
class _Verdict:
    """What the model part of a decision concluded (empty: the policy decided alone)."""

    reasons: tuple[Reason, ...] = ()
    referred: bool = False
    score: scoring.ModelScore | None = None
    limit: limits.Limit | None = None
    offer: limits.Counteroffer | None = None


def _model_verdict(
    champion: Scorer, application: Application, policy_features: Features, inputs: dict[str, float | None]
) -> _Verdict:
    """Score against the product's cutoff; then, below it, the spending limit and what it allows.
    A decline or a counteroffer states its principal reasons (the limit's, then the model's)."""
    product = application.product
    cutoff = product.credit_cutoff_probability  # None: the model's own
    result = scoring.score(champion, inputs, with_reasons=False, cutoff=cutoff)
    if not result.probability < result.cutoff_probability:  # NaN declines too
        result = scoring.explain(champion, inputs, result)
        return _Verdict(reasons=_plain(result.reasons), score=result)
    if result.probability >= result.cutoff_probability - settings.CREDIT_REFER_BAND:
        return _Verdict(referred=True, score=result)
    cash_flow = policy_features.cash_flow
    limit = limits.spending_limit(
        product_limit=product.spending_limit_amount or product.max_amount,
        probability=result.probability,
        cutoff=result.cutoff_probability,
        free_cash_flow=None if cash_flow is None else cash_flow.free_cash_flow,
        affordability_share=settings.CREDIT_AFFORDABILITY_SHARE,
        months=limits.repayment_months(
            kind=product.kind, installment_count=product.installment_count, interval_days=product.interval_days
        ),
        unit=10 ** exponent(application.currency),
    )
    offer = limits.counteroffer(
        amount=application.amount,
        limit=limit.amount,
        product_min_amount=product.min_amount,
        max_down_payment_share=settings.CREDIT_MAX_DOWN_PAYMENT_SHARE,
    )
    if offer is not None and not offer.down_payment_amount:
        return _Verdict(score=result, limit=limit, offer=offer)
    result = scoring.explain(champion, inputs, result)
    explained = (LIMIT_REASONS[limit.binding], *_plain(result.reasons))[: scoring.MAX_REASONS]
    return _Verdict(reasons=explained, score=result, limit=limit, offer=offer)  # no offer: declined


def _plain(reasons: tuple[scoring.ModelReason, ...]) -> tuple[Reason, ...]:
    return tuple(Reason(code=reason.code, text=reason.text) for reason in reasons)


def credit_decide(*, application: Application) -> Decision:
    """Decide, and keep the decision with what it saw (audited, evented for operators).

    Fails closed: a champion whose artifact is missing or corrupt raises ModelUnavailableError (no
    decision is made); with no champion registered, the policy decides alone unless
    ``CREDIT_MODEL_REQUIRED`` is set.

    Two round trips to the database: one read (``decisioning.inputs``: the policy's inputs, an
    approved referral, the model versions in service) and one write (the decision, its audit row and
    its event: ``bnpl.core.inserts.insert_rows``). The model's reasons are worked out only for a decline or a
    counteroffer, which must state them.
    """
    return credit_decide_many(applications=[application])[0]


def credit_decide_many(*, applications: Sequence[Application]) -> list[Decision]:
    """``credit_decide`` for several applications at once (a checkout page's options): each is
    decided exactly as it would be alone -- its own read, policy, score and record -- and all of
    them are kept in one write, one commit (one disk flush instead of one per option). None of
    them reads what another writes (a decision reads referrals a person approved, never a decision
    just made), so deciding them together changes no answer. All or none are kept: an error in any
    (ModelUnavailableError) keeps none."""
    made = [_decision_made(application) for application in applications]
    _decisions_store(made)
    for decision in made:
        metrics.credit_decisions.labels(outcome=decision.record.outcome).inc()
        metrics.credit_decision_duration.observe(time.perf_counter() - decision.started)
    return [decision.answer for decision in made]


@dataclass
class _Made:
    """A decision made and not yet kept: its row, what the champion said, and the caller's answer."""

    record: CreditDecision
    champion_score: scoring.ModelScore | None
    merchant: Any  # the decision's (its row holds the id only)
    answer: Decision
    started: float  # time.perf_counter() as it began


def _decision_made(application: Application) -> _Made:
    started = time.perf_counter()
    situation = situation_read(application=application)
    policy_features = features_from(application, situation)
    verdict = _Verdict(reasons=evaluate(policy_features))
    inputs: dict[str, float | None] = {}
    shadow = None
    reviewed = situation.reviewed_decision_id
    if not verdict.reasons and reviewed is None:
        champion = scoring.scorer_for(ModelVersion.Status.CHAMPION, situation.champion_pk)
        if champion is None:
            if settings.CREDIT_MODEL_REQUIRED:
                raise ModelUnavailableError("No credit model is in service; decisions are paused.", code="no_champion")
        else:
            inputs = _model_inputs(application, policy_features)
            verdict = _model_verdict(champion, application, policy_features, inputs)
            shadow = _shadow(inputs, situation.challenger_pk)
    down_payment = verdict.offer.down_payment_amount if verdict.offer else 0
    declined = bool(verdict.reasons) and not down_payment
    outcome = _outcome(declined=declined, referred=verdict.referred, down_payment=down_payment)
    latency_ms = (time.perf_counter() - started) * 1000
    champion_score = verdict.score
    record = CreditDecision(
        public_id=generate_public_id(CreditDecision.PUBLIC_ID_PREFIX),  # its audit row and event name it
        # ids, not instances: the related descriptors' checks cost more than the rest of the row
        consumer_id=application.consumer.pk,
        merchant_id=application.merchant.pk,
        livemode=application.livemode,
        checkout_session_id=application.checkout_session.pk if application.checkout_session is not None else None,
        product_kind=application.product.kind,
        amount=application.amount,
        currency=application.currency,
        outcome=outcome,
        spending_limit=verdict.limit.amount if verdict.limit else None,
        approved_amount=None if declined or verdict.referred else application.amount - down_payment,
        down_payment_amount=down_payment,
        reasons=[{"code": reason.code, "text": reason.text} for reason in verdict.reasons],
        features={**features_as_dict(policy_features), **({"review_of": reviewed} if reviewed else {})},
        policy_version=POLICY_VERSION,
        model_inputs=inputs,
        cash_flow=policy_features.cash_flow.as_dict() if policy_features.cash_flow else {},
        model_version_id=champion_score.model_version_pk if champion_score else None,
        score=champion_score.probability if champion_score else None,
        cutoff_probability=champion_score.cutoff_probability if champion_score else None,
        challenger_version_id=shadow.model_version_pk if shadow else None,
        challenger_score=shadow.probability if shadow else None,
        latency_ms=round(latency_ms, 3),
    )
    answer = Decision(
        approved=not declined and not verdict.referred,
        reasons=verdict.reasons,
        referred=verdict.referred,
        down_payment_amount=down_payment,
        decision_id=record.public_id,
    )
    return _Made(record, champion_score, application.merchant, answer, started)


def _decisions_store(made: Sequence[_Made]) -> None:
    """The decisions, each with its audit row and its event, all or none, in one statement (prepared
    once per connection for each number of decisions): outside the caller's transaction (a checkout
    decides outside any) it is its own, committed as it ends."""
    rows: list[Any] = []
    for decision in made:
        record, champion_score = decision.record, decision.champion_score
        audit, event = change_rows(
            action=f"credit_decision.{record.outcome}",
            instance=record,
            merchant=decision.merchant,
            data={
                "id": record.public_id,
                "outcome": record.outcome,
                "reasons": record.reasons,
                "amount": record.amount,
                "approved_amount": record.approved_amount,
                "down_payment_amount": record.down_payment_amount,
                "score": record.score,
                "model_version": champion_score.model_version_id if champion_score else None,
            },
        )
        rows += [record, audit, event]
    inserts.insert_rows(rows, durable=settings.CREDIT_DECISION_DURABLE_COMMIT, prepared=True)
    for event in rows[2::3]:
        outbox.notify_after_commit(event.pk, event_type=event.type, owner=(event.merchant_id, event.livemode))


def _outcome(*, declined: bool, referred: bool, down_payment: int) -> str:
    if declined:
        return CreditDecision.Outcome.DECLINED
    if referred:
        return CreditDecision.Outcome.REFERRED
    return CreditDecision.Outcome.APPROVED_WITH_DOWN_PAYMENT if down_payment else CreditDecision.Outcome.APPROVED


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
