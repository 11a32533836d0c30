"""What a verified Stripe event does here (``bnpl.payments.stripe_webhooks`` verifies and hands it
over): how a PaymentIntent ended settles its pending charge (for a charge whose worker died before
recording the answer, or that finished later), a refund the card's bank refused after Stripe
accepted it becomes a failed refund (and the consumer's balance), and a chargeback becomes the
order's dispute. The state changes are the payments and checkout services'; this module finds which
of our rows an event is about, in the event's mode only: a test-mode event can never touch a live
charge. Each event id is applied once; a charge only ever moves from pending to its outcome (and a
refund from succeeded to failed), so events applied twice or out of order end the same."""

from __future__ import annotations

import logging
from typing import Any

from django.db import IntegrityError, transaction

from bnpl.checkout.disputes import dispute_card_network_closed, dispute_from_card_network
from bnpl.core import clock
from bnpl.payments.gateways import GatewayResult
from bnpl.payments.models import Charge, StripeWebhookEvent
from bnpl.payments.services import charge_refund_failed, charge_settle
from bnpl.servicing.balances import refund_failed_record

logger = logging.getLogger(__name__)

INTENT_EVENT_TYPES = ("payment_intent.succeeded", "payment_intent.payment_failed")
REFUND_EVENT_TYPES = ("charge.refund.updated", "refund.updated", "refund.failed")
DISPUTE_EVENT_TYPES = ("charge.dispute.created", "charge.dispute.closed")


def stripe_event_apply(*, event_id: str, event_type: str, data_object: dict[str, Any], livemode: bool) -> bool:
    """Record the event (once per id) and apply it to the charges of ``livemode``, the mode whose
    signing secret verified it, in one transaction. Returns False for an event received before
    (nothing changes); types we do not act on are recorded and otherwise ignored."""
    try:
        with transaction.atomic():
            StripeWebhookEvent.objects.create(
                event_id=event_id, type=event_type, livemode=livemode, received_at=clock.now()
            )
            if event_type in INTENT_EVENT_TYPES:
                _intent_ended(event_id, event_type, data_object, livemode=livemode)
            elif event_type in REFUND_EVENT_TYPES:
                _refund_updated(event_id, data_object, livemode=livemode)
            elif event_type in DISPUTE_EVENT_TYPES:
                _dispute_changed(event_id, event_type, data_object, livemode=livemode)
    except IntegrityError:
        return False
    return True


def _intent_ended(event_id: str, event_type: str, intent: dict[str, Any], *, livemode: bool) -> None:
    key = (intent.get("metadata") or {}).get("idempotency_key")
    charges = Charge.objects.select_for_update().filter(status=Charge.Status.PENDING, livemode=livemode)
    charge = charges.filter(idempotency_key=key).first() if key else None
    if charge is None:
        charge = charges.filter(gateway_reference=str(intent.get("id", ""))).first()
    if charge is None:
        return  # settled already (the synchronous answer came first), another mode's, or not ours
    reference = str(intent.get("id", ""))[:200]
    if event_type == "payment_intent.succeeded":
        result = GatewayResult(succeeded=True, reference=reference)
    else:
        error = intent.get("last_payment_error") or {}
        result = GatewayResult(
            succeeded=False,
            reference=reference,
            failure_code=str(error.get("decline_code") or error.get("code") or "card_declined")[:50],
            failure_message=str(error.get("message") or "The card was declined.")[:300],
        )
    charge = charge_settle(charge=charge, result=result)
    logger.info("stripe event %s settled charge %s as %s", event_id, charge.public_id, charge.status)


def _refund_updated(event_id: str, refund: dict[str, Any], *, livemode: bool) -> None:
    """Only ``status: failed`` matters: the card's bank refused a refund Stripe had accepted. It is
    booked as the consumer's balance (bnpl.servicing.balances) after this transaction commits."""
    if refund.get("status") != "failed":
        return
    key = (refund.get("metadata") or {}).get("idempotency_key")
    refunds = Charge.objects.select_for_update().filter(kind=Charge.Kind.REFUND, livemode=livemode)
    charge = refunds.filter(idempotency_key=key).first() if key else None
    if charge is None:
        charge = refunds.filter(gateway_reference=str(refund.get("id", ""))).first()
    if charge is None:
        return  # not ours, or another mode's
    failed = charge_refund_failed(
        refund=charge,
        failure_code=str(refund.get("failure_reason") or "refund_failed")[:50],
        reference=str(refund.get("id", ""))[:200],
    )
    if failed:
        logger.info("stripe event %s: refund %s failed", event_id, charge.public_id)
        transaction.on_commit(lambda: refund_failed_record(charge=charge))


def _dispute_changed(event_id: str, event_type: str, dispute: dict[str, Any], *, livemode: bool) -> None:
    """A chargeback on one of our payments becomes the order's dispute (holding the plan's share as
    one opened in the portal does); its close is the bank's decision."""
    reference = str(dispute.get("id", ""))[:200]
    if not reference:
        return
    if event_type == "charge.dispute.closed":
        status = dispute.get("status")
        if status in ("won", "lost", "warning_closed"):  # warning_closed: an inquiry that went no further
            dispute_card_network_closed(reference=reference, won=status != "lost", livemode=livemode)
        return
    intent = str(dispute.get("payment_intent") or "")
    payment = (
        Charge.objects.filter(kind=Charge.Kind.PAYMENT, livemode=livemode, gateway_reference=intent)
        .select_related("plan__order")
        .first()
        if intent
        else None
    )
    if payment is None or payment.plan is None:
        logger.warning("stripe event %s: dispute %s on a payment we do not know", event_id, reference)
        return
    amount = dispute.get("amount")
    dispute_from_card_network(
        order=payment.plan.order,
        amount=amount if isinstance(amount, int) and amount > 0 else payment.amount,
        network_reason=str(dispute.get("reason") or ""),
        reference=reference,
    )
