"""Reads of credit decisions for other parts of the product (through ``decisioning``'s door)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db.models import (
    Case,
    Exists,
    F,
    IntegerField,
    OrderBy,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.fields.json import KeyTextTransform

from bnpl.core.compiled import CompiledSelect
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

# What an outcome is read from.
_OUTCOME_FIELDS = ("outcome", "amount", "approved_amount", "review_status")
# Where ``checkout_session_outcome_prefetch`` puts each session's governing decision (a list of at most one).
_PREFETCHED_LATEST = "latest_credit_decisions"


def governing_first() -> tuple[Any, ...]:
    """The order that puts first the decision governing a checkout session, of the several it may
    hold (the hosted checkout prequalifies each payment option, a re-check as the order is written,
    a reviewer's decision on a referral):

    * once an order is placed, the decision on the very product it was placed with (its
      prequalification), else the latest on a product of that kind for that shopper;
    * before that, what the shopper may still use -- an approval, then a pending referral -- ahead
      of a decline;
    * the latest of equals.

    An approval the re-check at the order declined counts for nothing, whatever the above: its
    decline stands in its place."""
    prequalification = apps.get_model("checkout", "Prequalification")  # checkout sits above decisioning
    order = "checkout_session__order"
    placed_with = prequalification.objects.filter(
        decision=OuterRef("pk"), product=OuterRef(f"{order}__plan__product"), consumer=OuterRef(f"{order}__consumer")
    )
    chosen = Case(
        When(Exists(placed_with), then=Value(0)),
        When(product_kind=F(f"{order}__plan__product__kind"), consumer=F(f"{order}__consumer"), then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    rechecked = CreditDecision.objects.annotate(recheck_of=KeyTextTransform("recheck_of", "features")).filter(
        checkout_session=OuterRef("checkout_session"), recheck_of=OuterRef("public_id")
    )
    approved = (CreditDecision.Outcome.APPROVED, CreditDecision.Outcome.APPROVED_WITH_DOWN_PAYMENT)
    usable = Case(
        When(**{f"{order}__isnull": False}, then=Value(0)),  # placed: the latest on its option
        When(outcome__in=approved, then=Value(0)),
        When(outcome=CreditDecision.Outcome.REFERRED, review_status=CreditDecision.Review.APPROVED, then=Value(0)),
        When(outcome=CreditDecision.Outcome.REFERRED, review_status="", then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    superseded = Case(When(Exists(rechecked), then=Value(1)), default=Value(0), output_field=IntegerField())
    return (OrderBy(superseded), OrderBy(chosen), OrderBy(usable), "-created_at", "-id")


def governing_decisions(queryset: QuerySet[CreditDecision]) -> QuerySet[CreditDecision]:
    """Of ``queryset``, the decisions that govern their checkout session for their shopper
    (``governing_first``; several shoppers may open one checkout link): one per purchase. A decision
    made outside a checkout stands on its own."""
    governing = CreditDecision.objects.filter(
        checkout_session=OuterRef("checkout_session"), consumer=OuterRef("consumer")
    ).order_by(*governing_first())
    return queryset.filter(Q(checkout_session__isnull=True) | Q(pk=Subquery(governing.values("pk")[:1])))


def checkout_session_outcome_prefetch() -> Prefetch[str]:
    """For a list of checkout sessions: fetches the latest decision of every session in one query, so
    ``checkout_session_outcome`` reads it from the session instead of asking once per session."""
    latest = CreditDecision.objects.order_by(*governing_first()).only(*_OUTCOME_FIELDS, "checkout_session")[:1]
    return Prefetch("decisions", queryset=latest, to_attr=_PREFETCHED_LATEST)


# The governing decision of one session: its ordering is several subqueries, more Python to compile
# than the query costs to run, so it is compiled once per process (``bnpl.core.compiled``).
_governing_decision: CompiledSelect[CreditDecision] = CompiledSelect(
    lambda checkout_session_id: (
        CreditDecision.objects.filter(checkout_session_id=checkout_session_id)
        .order_by(*governing_first())
        .only(*_OUTCOME_FIELDS)[:1]
    )
)


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
        decision = _governing_decision.first(checkout_session.pk)
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
