"""Reads of credit decisions for other parts of the product (through ``decisioning``'s door)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


def checkout_session_outcome(*, checkout_session: Any) -> CheckoutOutcome | None:
    """The latest credit decision on ``checkout_session`` as the merchant sees it (None: none yet).

    * approved: lent the whole order (``approved_amount`` is the session's amount);
    * counteroffered: approved for less, the rest due today as a down payment (``approved_amount``
      is what was lent); the session completes if the shopper accepts;
    * declined, including a referral a reviewer declined and an approval the policy refused as the
      order was written;
    * referred: a person is reviewing it; a reviewer's approval reads as approved for the whole order.
    """
    decision = (
        CreditDecision.objects.filter(checkout_session=checkout_session)
        .order_by("-created_at", "-id")
        .only("outcome", "amount", "approved_amount", "review_status")
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
