"""``POST /webhooks/stripe``: Stripe tells us how a PaymentIntent ended (for a charge whose worker
died before recording the answer, or that finished later). One address serves both modes' Stripe
endpoints: the ``Stripe-Signature`` header is verified (5-minute tolerance) with each mode's signing
secret before anything is read, the event's mode is the one whose secret verified it (and the event
must say the same ``livemode``), and it is applied only to charges of that mode: a test-mode event
(whose secret more people hold) can never settle a live charge. Each event id is applied once; a
charge only ever moves from pending to its outcome, so events applied twice or out of order end the
same."""

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
            _apply(event.id, event.type, payload.get("data", {}).get("object", {}), livemode=livemode)
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


def _apply(event_id: str, event_type: str, intent: dict[str, Any], *, livemode: bool) -> None:
    if event_type not in ("payment_intent.succeeded", "payment_intent.payment_failed"):
        return
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
