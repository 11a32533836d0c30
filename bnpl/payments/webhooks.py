"""``POST /webhooks/stripe``: Stripe tells us how a PaymentIntent ended (for a charge whose worker
died before recording the answer, or that finished later), that a refund it accepted was refused
by the card's bank (``charge.refund.updated``: the consumer's balance), and about chargebacks
(``charge.dispute.created`` / ``.closed``: the order's dispute). One address serves both modes' Stripe
endpoints: the ``Stripe-Signature`` header is verified (5-minute tolerance) with each mode's signing
secret before anything is read, the event's mode is the one whose secret verified it (and the event
must say the same ``livemode``), and it is applied only to charges of that mode: a test-mode event
(whose secret more people hold) can never settle a live charge. Each event id is applied once; a
charge only ever moves from pending to its outcome (and a refund from succeeded to failed), so
events applied twice or out of order end the same."""

from __future__ import annotations

import json
import logging
from typing import Any

import stripe
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bnpl.core import clock
from bnpl.payments.checks import stripe_setting
from bnpl.payments.models import Charge, StripeWebhookEvent

logger = logging.getLogger(__name__)
TOLERANCE_SECONDS = 300


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    secrets = {livemode: stripe_setting("WEBHOOK_SECRET", livemode=livemode) for livemode in (True, False)}
    if not any(secrets.values()):
        return JsonResponse({"error": "Stripe webhooks are not configured."}, status=404)
    verified = _verified(request, secrets)
    if verified is None:
        return JsonResponse({"error": "Invalid signature or payload."}, status=400)
    event, livemode = verified
    payload = json.loads(request.body)  # verified above; read as plain data
    try:
        with transaction.atomic():
            StripeWebhookEvent.objects.create(
                event_id=event.id, type=event.type, livemode=livemode, received_at=clock.now()
            )
            _apply(event.id, event.type, payload.get("data", {}).get("object", {}) or {}, livemode=livemode)
    except IntegrityError:
        return JsonResponse({"received": True, "duplicate": True})
    return JsonResponse({"received": True})


def _verified(request: HttpRequest, secrets: dict[bool, str]) -> tuple[stripe.Event, bool] | None:
    """The event and its mode: the mode whose signing secret verifies it, which the event must
    also state. None when no configured secret verifies it (or it claims the other mode)."""
    for livemode, secret in secrets.items():
        if not secret:
            continue
        try:
            event = stripe.Webhook.construct_event(
                request.body, request.headers.get("Stripe-Signature", ""), secret, tolerance=TOLERANCE_SECONDS
            )
        except (ValueError, stripe.SignatureVerificationError):
            continue
        if bool(getattr(event, "livemode", False)) is livemode:
            return event, livemode
    return None


def _apply(event_id: str, event_type: str, obj: dict[str, Any], *, livemode: bool) -> None:
    if event_type in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        _apply_intent(event_id, event_type, obj, livemode=livemode)
    elif event_type in ("charge.refund.updated", "refund.updated", "refund.failed"):
        _apply_refund(event_id, obj, livemode=livemode)
    elif event_type in ("charge.dispute.created", "charge.dispute.closed"):
        _apply_dispute(event_id, event_type, obj, livemode=livemode)


def _apply_intent(event_id: str, event_type: str, intent: dict[str, Any], *, livemode: bool) -> None:
    key = (intent.get("metadata") or {}).get("idempotency_key")
    charges = Charge.objects.select_for_update().filter(status=Charge.Status.PENDING, livemode=livemode)
    charge = charges.filter(idempotency_key=key).first() if key else None
    if charge is None:
        charge = charges.filter(gateway_reference=str(intent.get("id", ""))).first()
    if charge is None:
        return  # settled already (the synchronous answer came first), another mode's, or not ours
    if event_type == "payment_intent.succeeded":
        charge.status, charge.failure_code, charge.failure_message = Charge.Status.SUCCEEDED, "", ""
    else:
        error = intent.get("last_payment_error") or {}
        charge.status = Charge.Status.FAILED
        charge.failure_code = str(error.get("decline_code") or error.get("code") or "card_declined")[:50]
        charge.failure_message = str(error.get("message") or "The card was declined.")[:300]
    charge.gateway_reference = str(intent.get("id", ""))[:200]
    charge.save(update_fields=["status", "failure_code", "failure_message", "gateway_reference"])
    logger.info("stripe event %s settled charge %s as %s", event_id, charge.public_id, charge.status)


def _apply_refund(event_id: str, refund: dict[str, Any], *, livemode: bool) -> None:
    """A refund Stripe first accepted and the card's bank then refused (``status: failed``): the
    one move from succeeded back to failed a charge can make, because the money never left. It is
    booked as the consumer's balance (bnpl.servicing.balances) after this transaction commits."""
    from bnpl.servicing.balances import refund_failed_record

    if refund.get("status") != "failed":
        return
    key = (refund.get("metadata") or {}).get("idempotency_key")
    refunds = Charge.objects.select_for_update().filter(kind=Charge.Kind.REFUND, livemode=livemode)
    charge = refunds.filter(idempotency_key=key).first() if key else None
    if charge is None:
        charge = refunds.filter(gateway_reference=str(refund.get("id", ""))).first()
    if charge is None or charge.status == Charge.Status.FAILED:
        return  # not ours, another mode's, or recorded already
    charge.status = Charge.Status.FAILED
    charge.failure_code = str(refund.get("failure_reason") or "refund_failed")[:50]
    charge.failure_message = "The card's bank refused the refund."
    charge.gateway_reference = str(refund.get("id", ""))[:200]
    charge.save(update_fields=["status", "failure_code", "failure_message", "gateway_reference"])
    logger.info("stripe event %s: refund %s failed", event_id, charge.public_id)
    transaction.on_commit(lambda: refund_failed_record(charge=charge))


def _apply_dispute(event_id: str, event_type: str, dispute: dict[str, Any], *, livemode: bool) -> None:
    """A chargeback on one of our payments becomes the order's dispute (holding the plan's share as
    one opened in the portal does); its close is the bank's decision."""
    from bnpl.checkout.disputes import dispute_card_network_closed, dispute_from_card_network

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
