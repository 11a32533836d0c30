"""Returns and disputes: a consumer says goods went back, or disputes what they were charged for.

**What an open one holds.** Only its share of the plan: the installments a refund of the amount in
question would take away -- the last ones, working backwards, until their unpaid amounts cover it --
are held (``Installment.held_since``): not collected, no late fee, and their lateness frozen as it
was when it opened. Everything else is collected as usual, so the consumer keeps paying what is
not in question (as a card holder does during a billing dispute), and a 1-cent dispute holds one
installment, not the plan. A dispute about everything still owed holds every installment.

The merchant answers within ``RESPONSE_WINDOW``: by refunding (any refunds on the order since it
opened that reach its amount close it as ``refunded``), or by contesting it with evidence, which
sends it to an operator. Unanswered ones go to the operator too.

**When it closes.** Resolved (refunded, won, lost): the held installments due on or after the day it
opened move on by the days it lasted, so nobody is late for waiting on the merchant. Withdrawn by
the consumer: nothing moves and nothing is gained -- the held installments keep their dates,
whatever fell due meanwhile is collected at once, and lateness and the late-fee grace count from
the original due dates, as if it had never been opened.

**Limits** (settings): at most ``DISPUTE_MAX_PER_ORDER`` ever opened on one order (withdrawn ones
count) and ``DISPUTE_MAX_PER_CONSUMER`` opened by one consumer within
``DISPUTE_CONSUMER_WINDOW_DAYS``; one open per order at a time (a database constraint).

Every change locks the order first (then the plan, as everywhere), so a refund racing an answer or a
decision sees one or the other; opening one locks the consumer before the order, so the
per-consumer limit holds under concurrent requests.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import transaction

from bnpl.checkout.dispute_holds import dispute_close, dispute_share_hold, refunded_since_open
from bnpl.checkout.models import Dispute, Order
from bnpl.checkout.orders import order_refund
from bnpl.checkout.representations import dispute_data
from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.services import change_record
from bnpl.plans.models import Plan
from bnpl.servicing.locks import order_and_plan_lock, order_lock
from consumers.models import Consumer

RESPONSE_WINDOW = dt.timedelta(days=14)
MAX_TEXT = 5000


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
    still refundable when omitted). Holds the plan's share in question at once and tells the
    merchant."""
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
        Consumer.objects.select_for_update().get(pk=consumer.pk)  # the per-consumer limit, under concurrency
        order, plan = order_and_plan_lock(order_id=order.pk)
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
        _check_limits(order, consumer)
        return _create(order, plan, kind=kind, reason=reason, amount=amount, description=description.strip())


def _create(order: Order, plan: Plan, *, kind: str, reason: str, amount: int, description: str, **more: str) -> Dispute:
    dispute = Dispute.objects.create(
        merchant=order.merchant,
        livemode=order.livemode,
        order=order,
        kind=kind,
        reason=reason,
        amount=amount,
        description=description,
        respond_by=clock.now() + RESPONSE_WINDOW,
        refunded_at_open=order.refunded_amount,
        **more,
    )
    change_record(action="dispute.created", instance=dispute, data=dispute_data(dispute))
    dispute_share_hold(plan, dispute, order)
    return dispute


# Stripe's dispute reasons, as the platform's.
CARD_NETWORK_REASONS = {
    "product_not_received": Dispute.Reason.NOT_RECEIVED,
    "product_unacceptable": Dispute.Reason.NOT_AS_DESCRIBED,
    "duplicate": Dispute.Reason.INCORRECT_AMOUNT,
    "incorrect_account_details": Dispute.Reason.INCORRECT_AMOUNT,
    "subscription_canceled": Dispute.Reason.CANCELED_ORDER,
    "credit_not_processed": Dispute.Reason.RETURNED,
}


def dispute_from_card_network(*, order: Order, amount: int, network_reason: str, reference: str) -> Dispute | None:
    """The shopper disputed a payment with their card's bank (a chargeback, ``reference`` the
    gateway's dispute): it holds the plan as a dispute opened in the portal does, and the merchant
    answers it the same way. The per-order and per-consumer caps do not apply (the bank, not the
    shopper, opened it); one already open on the order takes the reference instead. The same
    reference twice is one dispute. None when nothing on the order is left to dispute."""
    with transaction.atomic():
        order, plan = order_and_plan_lock(order_id=order.pk)
        existing = Dispute.objects.filter(gateway_reference=reference, livemode=order.livemode).first()
        if existing is not None:
            return existing
        open_one = order.disputes.filter(status__in=Dispute.OPEN_STATUSES).first()
        if open_one is not None:
            if not open_one.gateway_reference:
                open_one.gateway_reference = reference
                open_one.save(update_fields=["gateway_reference", "updated_at"])
            return open_one
        amount = min(amount, order.refundable_amount)
        if amount <= 0:
            return None
        return _create(
            order,
            plan,
            kind=Dispute.Kind.DISPUTE,
            reason=CARD_NETWORK_REASONS.get(network_reason, Dispute.Reason.OTHER),
            amount=amount,
            description=f"Disputed with the card's bank ({network_reason or 'no reason given'}).",
            source=Dispute.Source.CARD_NETWORK,
            gateway_reference=reference,
        )


def dispute_card_network_closed(*, reference: str, won: bool, livemode: bool) -> Dispute | None:
    """The bank decided a chargeback (or closed an inquiry: ``won``). Won (the payment stands): an
    open dispute closes ``won`` and its installments are due again. Lost (the bank returned the
    payment to the card): an open dispute goes to our team with that noted, to decide and reconcile
    the reversed payment. Only a dispute of the event's mode is looked at."""
    with transaction.atomic():
        dispute = (  # the mode whose signing secret verified the event: a test event never closes a live one
            Dispute.objects.select_related("order").filter(gateway_reference=reference, livemode=livemode).first()
        )
        if dispute is None:
            return None
        _, plan = order_and_plan_lock(order_id=dispute.order_id)
        dispute = Dispute.objects.select_related("order").get(pk=dispute.pk)
        if not dispute.is_open:
            return dispute
        outcome = "for the merchant" if won else "for the cardholder: the payment went back to their card"
        dispute.decision_note = f"The card's bank decided {outcome} ({clock.now():%Y-%m-%d})."
        if won:
            return dispute_close(dispute, plan, Dispute.Status.WON)
        before = dispute_data(dispute)
        dispute.status = Dispute.Status.UNDER_REVIEW
        dispute.save(update_fields=["status", "decision_note", "updated_at"])
        change_record(action="dispute.escalated", instance=dispute, before=before, data=dispute_data(dispute))
    return dispute


def _check_limits(order: Order, consumer: Consumer) -> None:
    """Refuse a dispute past the per-order cap (withdrawn ones count: otherwise open, wait and
    withdraw would repeat forever) or the consumer's rate."""
    per_order = settings.DISPUTE_MAX_PER_ORDER
    if order.disputes.count() >= per_order:
        raise StateError(
            f"This order has had {per_order} returns or disputes, the most one order may have. "
            "Contact us if something is still wrong with it.",
            code="dispute_limit_reached",
            param="order",
        )
    window = dt.timedelta(days=settings.DISPUTE_CONSUMER_WINDOW_DAYS)
    recent = Dispute.objects.filter(order__consumer=consumer, created_at__gte=clock.now() - window).count()
    if recent >= settings.DISPUTE_MAX_PER_CONSUMER:
        raise StateError(
            f"You have opened {recent} returns or disputes in the last {window.days} days, the most we accept. "
            "Contact us and we will look at this one with you.",
            code="dispute_rate_limited",
            param="order",
        )


def dispute_withdraw(*, dispute: Dispute, consumer: Consumer) -> Dispute:
    """The consumer takes it back (the goods arrived after all): the held installments keep their
    original due dates, and what fell due meanwhile is collected at once."""
    if dispute.order.consumer_id != consumer.pk:
        raise InvalidRequestError("Choose one of your own returns or disputes.", param="dispute")
    with transaction.atomic():
        _, plan = order_and_plan_lock(order_id=dispute.order_id)
        return dispute_close(_open_dispute(dispute), plan, Dispute.Status.WITHDRAWN)


def dispute_contest(*, dispute: Dispute, evidence: str) -> Dispute:
    """The merchant disagrees and says why (tracking number, what was delivered): an operator decides."""
    evidence = evidence.strip()
    if not evidence:
        raise InvalidRequestError("Say why you contest it: tracking, delivery or policy details.", param="evidence")
    if len(evidence) > MAX_TEXT:
        raise InvalidRequestError(f"Keep the evidence under {MAX_TEXT} characters.", param="evidence")
    with transaction.atomic():
        order_lock(order_id=dispute.order_id)
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
    with transaction.atomic():
        order, plan = order_and_plan_lock(order_id=dispute.order_id)
        dispute = _open_dispute(dispute)
        remaining = min(dispute.amount - refunded_since_open(dispute, order), order.refundable_amount)
        if remaining > 0:
            order_refund(order=order, amount=remaining, reason=f"{dispute.kind} {dispute.public_id} accepted")
        dispute.refresh_from_db()
        if dispute.is_open:  # nothing was left to refund: close it here
            dispute_close(dispute, plan, Dispute.Status.REFUNDED)
    return dispute


def dispute_decide(*, dispute: Dispute, for_consumer: bool, note: str) -> Dispute:
    """An operator decides. For the consumer: the rest of the amount is refunded (``lost`` for the
    merchant). For the merchant: the held installments are due again (``won``). Either way they
    move on by the days the dispute lasted."""
    if not note.strip():
        raise InvalidRequestError("Write a note saying why.", param="decision_note")
    with transaction.atomic():
        order, plan = order_and_plan_lock(order_id=dispute.order_id)
        dispute = _open_dispute(dispute)
        dispute.decision_note = note.strip()[:MAX_TEXT]
        if not for_consumer:
            return dispute_close(dispute, plan, Dispute.Status.WON)
        remaining = min(dispute.amount - refunded_since_open(dispute, order), order.refundable_amount)
        dispute_close(dispute, plan, Dispute.Status.LOST)
        if remaining > 0:
            order_refund(order=order, amount=remaining, reason=f"{dispute.kind} {dispute.public_id} decided")
    return dispute


def disputes_escalate_unanswered() -> int:
    """Disputes the merchant let pass their ``respond_by`` go to an operator. A periodic task."""
    escalated = 0
    overdue = Dispute.objects.filter(status=Dispute.Status.NEEDS_RESPONSE, respond_by__lt=clock.now())
    for dispute in overdue.select_related("order").order_by("pk"):
        with transaction.atomic():
            order_lock(order_id=dispute.order_id)
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
