"""Credit decisioning, reached through one door: ``decide(application=...) -> Decision``.

Callers outside decisioning use only what this module offers: ``Application`` (what is asked),
``Decision`` and ``Reason`` (what comes back), ``decide`` (and ``decide_many``, several kept in one
write), ``recheck`` (the policy again, as an order is written), the manual-review and recheck
records, and the merchant's view of an outcome. The
policy, features, scorer and models behind them are decisioning's own (an import-linter contract in
``.importlinter`` keeps them so).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence

    from django.db.models import Prefetch

    from decisioning.models import CreditDecision
    from decisioning.policy import Application, Decision, Reason
    from decisioning.selectors import CheckoutOutcome

__all__ = [
    "Application",
    "Decision",
    "Reason",
    "checkout_outcome",
    "checkout_outcome_prefetch",
    "decide",
    "decide_many",
    "decline_on_recheck",
    "model_readiness",
    "recheck",
    "review_referral",
]

_POLICY_TYPES = frozenset({"Application", "Decision", "Reason"})


def __getattr__(name: str) -> Any:
    """The policy's value types, loaded on first use (decisioning's models load with the apps)."""
    if name in _POLICY_TYPES:
        from decisioning import policy

        return getattr(policy, name)
    raise AttributeError(f"module 'decisioning' has no attribute {name!r}")


def decide(*, application: Application) -> Decision:
    from decisioning.services import credit_decide

    return credit_decide(application=application)


def decide_many(*, applications: Sequence[Application]) -> list[Decision]:
    """``decide`` for several applications (a checkout page's options), kept in one write."""
    from decisioning.services import credit_decide_many

    return credit_decide_many(applications=applications)


def model_readiness() -> dict[str, Any]:
    """Whether decisions can be made now, for ``/readyz``: the credit model's champion loaded (its
    artifact read from storage once per version, sha256 checked), or with none registered, whether
    the settings let the rules policy decide alone (``CREDIT_MODEL_REQUIRED`` false). ``ok`` says it;
    ``error`` gives the reason a champion cannot be loaded."""
    from django.conf import settings

    from decisioning import scoring

    required = bool(settings.CREDIT_MODEL_REQUIRED)
    try:
        champion = scoring.champion()
    except Exception as error:  # noqa: BLE001 - missing or corrupt artifact, storage or database down
        return {"ok": False, "required": required, "error": str(error)[:200]}
    if champion is None:
        return {"ok": not required, "required": required, "champion": None}
    return {"ok": True, "required": required, "champion": champion.model_version_id}


def recheck(*, application: Application) -> tuple[Reason, ...]:
    """The policy's rules again, on the consumer's situation as it is now (no model, no stored
    decision): the reasons it would refuse, empty when it still approves. The checkout calls this
    under the consumer's lock as it writes the order."""
    from decisioning.policy import evaluate, features_for

    return evaluate(features_for(application))


def review_referral(*, decision: CreditDecision, approve: bool, note: str, reviewer: Any) -> CreditDecision:
    """A person settles a referred application (audited)."""
    from decisioning.services import credit_decision_review

    return credit_decision_review(decision=decision, approve=approve, note=note, reviewer=reviewer)


def decline_on_recheck(*, decision_id: str, reasons: tuple[Reason, ...]) -> None:
    """Record that the policy, checked again as the order was written, refused what ``decision_id``
    approved (so the consumer's adverse-action notice exists)."""
    from decisioning.services import credit_decision_decline_on_recheck

    credit_decision_decline_on_recheck(decision_id=decision_id, reasons=reasons)


def checkout_outcome(*, checkout_session: Any) -> CheckoutOutcome | None:
    """The merchant's view of the latest decision on a checkout: outcome and amount lent, no reasons."""
    from decisioning.selectors import checkout_session_outcome

    return checkout_session_outcome(checkout_session=checkout_session)


def checkout_outcome_prefetch() -> Prefetch[str]:
    """Prefetch it on a queryset of checkout sessions: ``checkout_outcome`` then reads each listed
    session's latest decision without a query per session."""
    from decisioning.selectors import checkout_session_outcome_prefetch

    return checkout_session_outcome_prefetch()
