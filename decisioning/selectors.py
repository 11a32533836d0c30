"""Reads of credit decisions for other parts of the product (through ``decisioning``'s door)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch

from decisioning.models import CreditDecision


@dataclass(frozen=True)
class CheckoutOutcome:
    """What a merchant may know of the credit decision on its checkout: the outcome and the amount
    lent, never the reasons (those are the consumer's, in their adverse-action notice), the score,
    the limit or what the decision saw."""

    outcome: str  # one of OUTCOMES
    approved_amount: int | None  # minor units lent; None unless approved or counteroffered


APPROVED, COUNTEROFFERED, DECLINED, REFERRED = "approved", "counteroffered", "declined", "referred"
OUTCOMES = (APPROVED, COUNTEROFFERED, DECLINED, REFERRED)

# What an outcome is read from, and the order that makes a decision a session's latest.
_OUTCOME_FIELDS = ("outcome", "amount", "approved_amount", "review_status")
_LATEST_FIRST = ("-created_at", "-id")
# Where ``checkout_session_outcome_prefetch`` puts each session's latest decision (a list of at most one).
_PREFETCHED_LATEST = "latest_credit_decisions"


def checkout_session_outcome_prefetch() -> Prefetch[str]:
    """For a list of checkout sessions: fetches the latest decision of every session in one query, so
    ``checkout_session_outcome`` reads it from the session instead of asking once per session."""
    latest = CreditDecision.objects.order_by(*_LATEST_FIRST).only(*_OUTCOME_FIELDS, "checkout_session")[:1]
    return Prefetch("decisions", queryset=latest, to_attr=_PREFETCHED_LATEST)


def checkout_session_outcome(*, checkout_session: Any) -> CheckoutOutcome | None:
    """The latest credit decision on ``checkout_session`` as the merchant sees it (None: none yet).

    * approved: lent the whole order (``approved_amount`` is the session's amount);
    * counteroffered: approved for less, the rest due today as a down payment (``approved_amount``
      is what was lent); the session completes if the shopper accepts;
    * declined, including a referral a reviewer declined and an approval the policy refused as the
      order was written;
    * referred: a person is reviewing it; a reviewer's approval reads as approved for the whole order.

    A session listed with ``checkout_session_outcome_prefetch`` carries its latest decision; any other
    is asked about here (one query).
    """
    prefetched: list[CreditDecision] | None = getattr(checkout_session, _PREFETCHED_LATEST, None)
    if prefetched is not None:
        decision = prefetched[0] if prefetched else None
    else:
        decision = (
            CreditDecision.objects.filter(checkout_session=checkout_session)
            .order_by(*_LATEST_FIRST)
            .only(*_OUTCOME_FIELDS)
            .first()
        )
    if decision is None:
        return None
    if decision.outcome == CreditDecision.Outcome.APPROVED:
        return CheckoutOutcome(APPROVED, decision.approved_amount)
    if decision.outcome == CreditDecision.Outcome.APPROVED_WITH_DOWN_PAYMENT:
        return CheckoutOutcome(COUNTEROFFERED, decision.approved_amount)
    if decision.outcome == CreditDecision.Outcome.REFERRED:
        if decision.review_status == CreditDecision.Review.APPROVED:
            return CheckoutOutcome(APPROVED, decision.amount)
        if decision.review_status == CreditDecision.Review.DECLINED:
            return CheckoutOutcome(DECLINED, None)
        return CheckoutOutcome(REFERRED, None)
    return CheckoutOutcome(DECLINED, None)
