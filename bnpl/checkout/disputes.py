"""Returns and disputes: a consumer says goods went back, or disputes what they were charged for.

While one is open the plan's collections and late fees pause and its standing cannot worsen. The
merchant answers within ``RESPONSE_WINDOW``: by refunding (any refunds on the order since it opened
that reach its amount close it as ``refunded``), or by contesting it with evidence, which sends it to
an operator. Unanswered ones go to the operator too. Closing it resumes collections with every
payment that fell due meanwhile moved on by the days the pause lasted.

Every change locks the order first (then the plan, as everywhere), so a refund racing an answer or a
decision sees one or the other.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction

from bnpl.checkout.models import Dispute, Order
from bnpl.checkout.representations import dispute_data
from bnpl.collections.actions import plan_pause, plan_resume_if_clear
from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.services import change_record
from bnpl.plans.models import Plan
from consumers.models import Consumer

RESPONSE_WINDOW = dt.timedelta(days=14)
MAX_TEXT = 5000


def _lock(order: Order) -> tuple[Order, Plan]:
    order = Order.objects.select_for_update().get(pk=order.pk)
    return order, Plan.objects.select_for_update().get(order=order)


def _refunded_since_open(dispute: Dispute, order: Order) -> int:
    return order.refunded_amount - dispute.refunded_at_open


def dispute_open(
    *,
    order: Order,
    consumer: Consumer,
    kind: str,
    reason: str = "",
    amount: int | None = None,
    description: str = "",
) -> Dispute:
    """The consumer reports a return or opens a dispute about ``amount`` of ``order`` (all that is
    still refundable when omitted). Pauses the plan at once and tells the merchant."""
    if order.consumer_id != consumer.pk:
        raise InvalidRequestError("Choose one of your own orders.", param="order")
    if kind not in Dispute.Kind.values:
        raise InvalidRequestError(f"kind must be one of: {', '.join(Dispute.Kind.values)}.", param="kind")
    reason = reason or (Dispute.Reason.RETURNED if kind == Dispute.Kind.RETURN else "")
    if reason not in Dispute.Reason.values:
        raise InvalidRequestError(f"reason must be one of: {', '.join(Dispute.Reason.values)}.", param="reason")
    if len(description) > MAX_TEXT:
        raise InvalidRequestError(f"Keep the description under {MAX_TEXT} characters.", param="description")
    with transaction.atomic():
        order, plan = _lock(order)
        if order.refundable_amount <= 0:
            raise StateError("Nothing on this order is left to return or dispute.", code="nothing_to_dispute")
        if amount is None:
            amount = order.refundable_amount
        if not 0 < amount <= order.refundable_amount:
            raise InvalidRequestError(
                f"amount must be between 1 and {order.refundable_amount} (what can still be refunded).",
                param="amount",
            )
        if order.disputes.filter(status__in=Dispute.OPEN_STATUSES).exists():
            raise StateError("A return or dispute is already open on this order.", code="dispute_already_open")
        dispute = Dispute.objects.create(
            merchant=order.merchant,
            livemode=order.livemode,
            order=order,
            kind=kind,
            reason=reason,
            amount=amount,
            description=description.strip(),
            respond_by=clock.now() + RESPONSE_WINDOW,
            refunded_at_open=order.refunded_amount,
        )
        plan_pause(plan)
        change_record(action="dispute.created", instance=dispute, data=dispute_data(dispute))
    return dispute


def dispute_withdraw(*, dispute: Dispute, consumer: Consumer) -> Dispute:
    """The consumer takes it back (the goods arrived after all): collections resume."""
    if dispute.order.consumer_id != consumer.pk:
        raise InvalidRequestError("Choose one of your own returns or disputes.", param="dispute")
    with transaction.atomic():
        _, plan = _lock(dispute.order)
        return _close(_open_dispute(dispute), plan, Dispute.Status.WITHDRAWN)


def dispute_contest(*, dispute: Dispute, evidence: str) -> Dispute:
    """The merchant disagrees and says why (tracking number, what was delivered): an operator decides."""
    evidence = evidence.strip()
    if not evidence:
        raise InvalidRequestError("Say why you contest it: tracking, delivery or policy details.", param="evidence")
    if len(evidence) > MAX_TEXT:
        raise InvalidRequestError(f"Keep the evidence under {MAX_TEXT} characters.", param="evidence")
    with transaction.atomic():
        _lock(dispute.order)
        dispute = _open_dispute(dispute)
        if dispute.status != Dispute.Status.NEEDS_RESPONSE:
            raise StateError("This dispute is already with our team.", code="dispute_under_review")
        before = dispute_data(dispute)
        dispute.status, dispute.evidence = Dispute.Status.UNDER_REVIEW, evidence
        dispute.save(update_fields=["status", "evidence", "updated_at"])
        change_record(action="dispute.contested", instance=dispute, before=before, data=dispute_data(dispute))
    return dispute


def dispute_accept(*, dispute: Dispute) -> Dispute:
    """The merchant agrees: what the dispute is about and was not refunded yet is refunded now
    (by the order's refund rules), which closes it as ``refunded``."""
    from bnpl.checkout.services import order_refund

    with transaction.atomic():
        order, plan = _lock(dispute.order)
        dispute = _open_dispute(dispute)
        remaining = min(dispute.amount - _refunded_since_open(dispute, order), order.refundable_amount)
        if remaining > 0:
            order_refund(order=order, amount=remaining, reason=f"{dispute.kind} {dispute.public_id} accepted")
        dispute.refresh_from_db()
        if dispute.is_open:  # nothing was left to refund: close it here
            _close(dispute, plan, Dispute.Status.REFUNDED)
    return dispute


def dispute_decide(*, dispute: Dispute, for_consumer: bool, note: str) -> Dispute:
    """An operator decides. For the consumer: the rest of the amount is refunded (``lost`` for the
    merchant). For the merchant: collections resume (``won``)."""
    from bnpl.checkout.services import order_refund

    if not note.strip():
        raise InvalidRequestError("Write a note saying why.", param="decision_note")
    with transaction.atomic():
        order, plan = _lock(dispute.order)
        dispute = _open_dispute(dispute)
        dispute.decision_note = note.strip()[:MAX_TEXT]
        if not for_consumer:
            return _close(dispute, plan, Dispute.Status.WON)
        remaining = min(dispute.amount - _refunded_since_open(dispute, order), order.refundable_amount)
        _close(dispute, plan, Dispute.Status.LOST, resume=False)
        if remaining > 0:
            order_refund(order=order, amount=remaining, reason=f"{dispute.kind} {dispute.public_id} decided")
        plan.refresh_from_db()
        plan_resume_if_clear(plan, extend_due_dates=True)
    return dispute


def disputes_refund_applied(order: Order) -> None:
    """Called by ``order_refund`` inside its transaction (the order locked): open disputes whose
    amount has now been refunded close as ``refunded``."""
    for dispute in order.disputes.filter(status__in=Dispute.OPEN_STATUSES):
        if _refunded_since_open(dispute, order) >= dispute.amount:
            _close(dispute, Plan.objects.select_for_update().get(order=order), Dispute.Status.REFUNDED)


def disputes_escalate_unanswered() -> int:
    """Disputes the merchant let pass their ``respond_by`` go to an operator. A periodic task."""
    escalated = 0
    overdue = Dispute.objects.filter(status=Dispute.Status.NEEDS_RESPONSE, respond_by__lt=clock.now())
    for dispute in overdue.select_related("order").order_by("pk"):
        with transaction.atomic():
            _lock(dispute.order)
            dispute = Dispute.objects.get(pk=dispute.pk)
            if dispute.status != Dispute.Status.NEEDS_RESPONSE:
                continue
            before = dispute_data(dispute)
            dispute.status = Dispute.Status.UNDER_REVIEW
            dispute.save(update_fields=["status", "updated_at"])
            change_record(action="dispute.escalated", instance=dispute, before=before, data=dispute_data(dispute))
            escalated += 1
    return escalated


def _open_dispute(dispute: Dispute) -> Dispute:
    """The dispute as it is now (its order locked by the caller), if it is still open."""
    dispute = Dispute.objects.select_related("order").get(pk=dispute.pk)
    if not dispute.is_open:
        raise StateError(f"This {dispute.kind} is already closed ({dispute.status}).", code="dispute_closed")
    return dispute


def _close(dispute: Dispute, plan: Plan, status: str, *, resume: bool = True) -> Dispute:
    before = dispute_data(dispute)
    dispute.status, dispute.closed_at = status, clock.now()
    dispute.save(update_fields=["status", "closed_at", "decision_note", "updated_at"])
    if resume:
        plan_resume_if_clear(plan, extend_due_dates=True)
    change_record(action="dispute.closed", instance=dispute, before=before, data=dispute_data(dispute))
    return dispute
