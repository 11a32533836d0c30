"""Credit decisioning, reached through one door: ``decide(application=...) -> Decision``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from decisioning.models import CreditDecision
    from decisioning.policy import Application, Decision, Reason
    from decisioning.selectors import CheckoutOutcome


def decide(*, application: Application) -> Decision:
    from decisioning.services import credit_decide

    return credit_decide(application=application)


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
