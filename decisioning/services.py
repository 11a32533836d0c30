from __future__ import annotations

from django.db import transaction

from bnpl.core.services import change_record
from decisioning.models import CreditDecision
from decisioning.policy import POLICY_VERSION, Application, Decision, evaluate, features_as_dict, features_for


def credit_decide(*, application: Application) -> Decision:
    """Decide, and keep the decision with the features it saw (audited, evented for operators)."""
    features = features_for(application)
    reasons = evaluate(features)
    with transaction.atomic():
        record = CreditDecision.objects.create(
            consumer=application.consumer,
            merchant=application.merchant,
            livemode=application.livemode,
            checkout_session=application.checkout_session,
            product_kind=application.product.kind,
            amount=application.amount,
            currency=application.currency,
            outcome=CreditDecision.Outcome.DECLINED if reasons else CreditDecision.Outcome.APPROVED,
            reasons=[{"code": reason.code, "text": reason.text} for reason in reasons],
            features=features_as_dict(features),
            policy_version=POLICY_VERSION,
        )
        change_record(
            action=f"credit_decision.{record.outcome}",
            instance=record,
            data={
                "id": record.public_id,
                "outcome": record.outcome,
                "reasons": record.reasons,
                "amount": record.amount,
            },
        )
    return Decision(approved=not reasons, reasons=reasons, decision_id=record.public_id)
