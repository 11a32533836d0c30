"""What the consumer's portal (and app) says happened to a purchase, in plain words: each audited change to
the plan, its order or its returns and disputes (``AuditLogEntry.action``, the event types of
``bnpl.core.event_types``) as a sentence about the shopper's own purchase, naming the shop.

Never the raw event name, an id or an amount in minor units: a change with no sentence here is left
out of the history (``history_sentence`` returns None), and a test keeps every plan, order and
dispute event type either worded or deliberately left out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bnpl.core.models import AuditLogEntry
from decisioning.models import CreditDecision

if TYPE_CHECKING:
    from bnpl.plans.models import Plan

# ``{shop}`` is the shop's name as the shopper knows it.
SENTENCES = {
    "order.authorized": "Your purchase at {shop} was approved",
    "plan.created": "Your payment plan started",
    "plan.payment_succeeded": "We received your payment. Thank you!",
    "plan.payment_failed": "A payment did not go through: we will try again, or pay it from this page",
    "plan.reduced": "You owe less: {shop} refunded or cancelled part of your order",
    "plan.late_fee_charged": "A late fee was added because a payment is past due",
    "plan.late": "A payment is past due",
    "plan.delinquent": "A payment is 30 days past due",
    "plan.current": "You are back on track: nothing is past due",
    "plan.charged_off": "We closed this plan as unpaid",
    "plan.due_date_moved": "You moved a due date",
    "plan.hardship_requested": "You asked us for help: payments are paused while we look",
    "plan.hardship_granted": "We agreed to help: your payments changed",
    "plan.hardship_declined": "We could not offer help this time: payments started again",
    "plan.held": "Payments covered by your return or dispute are on hold",
    "plan.released": "Payments that were on hold are due again",
    "order.captured": "{shop} shipped your order (or part of it)",
    "order.refunded": "{shop} gave you a refund",
    "order.refund_failed": "Your bank refused a refund to your card: we keep it for you as a balance",
    "order.voided": "{shop} cancelled what it had not shipped",
    "order.expired": "{shop} did not ship the rest in time, so it was cancelled",
    "dispute.created": "You told us about a return or a problem with your order",
    "dispute.contested": "{shop} disagreed: our team will decide",
    "dispute.escalated": "{shop} did not answer in time: our team will decide",
    "dispute.closed": "Your return or dispute was closed",
}

# Changes that are the shop's business, not the shopper's: not shown.
LEFT_OUT = frozenset({"order.authorization_expiring"})


def history_sentence(action: str, *, shop: str) -> str | None:
    """The sentence for one audited change, or None when the shopper's history leaves it out."""
    sentence = SENTENCES.get(action)
    if sentence is None:
        return None
    return sentence.format(shop=shop)


def history_rows(entries: Any, *, shop: str) -> list[dict[str, Any]]:
    """The portal's history rows (when, what) for audit entries, oldest first as given, each change
    that has a sentence once."""
    rows = []
    for entry in entries:
        text = history_sentence(entry.action, shop=shop)
        if text is not None:
            rows.append({"at": entry.created_at, "text": text})
    return rows


def plan_history(*, plan: Plan, shop: str) -> list[dict[str, Any]]:
    """A plan's history as its page (and the app) shows it: the audited changes to the plan, its
    order and the order's returns and disputes, oldest first, in the shopper's words."""
    objects = [plan.public_id, plan.order.public_id, *plan.order.disputes.values_list("public_id", flat=True)]
    entries = (
        AuditLogEntry.objects.filter(object_id__in=objects).only("action", "created_at").order_by("created_at", "id")
    )
    return history_rows(entries, shop=shop)


def decision_verdict(decision: CreditDecision) -> str:
    """What we decided, in the shopper's words."""
    if decision.outcome == CreditDecision.Outcome.REFERRED:
        reviewed = {
            str(CreditDecision.Review.APPROVED): "Approved after a review by our team",
            str(CreditDecision.Review.DECLINED): "Declined after a review by our team",
        }
        return reviewed.get(decision.review_status, "Our team is reviewing it")
    decided = {
        str(CreditDecision.Outcome.APPROVED): "Approved",
        str(CreditDecision.Outcome.APPROVED_WITH_DOWN_PAYMENT): "Approved for part of it",
        str(CreditDecision.Outcome.DECLINED): "Declined",
    }
    return decided.get(decision.outcome, "Decided")
