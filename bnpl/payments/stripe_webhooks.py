"""``POST /webhooks/stripe``, the incoming Stripe webhook (outgoing deliveries to merchants are
``merchants.webhooks``). One address serves both modes' Stripe endpoints: the ``Stripe-Signature``
header is verified (5-minute tolerance) with each mode's signing secret before anything is read,
the event's mode is the one whose secret verified it (and the event must say the same
``livemode``), and ``bnpl.payments.stripe_events`` applies it to charges of that mode only. This
view changes nothing itself: it verifies, parses and dispatches."""

from __future__ import annotations

import json

import stripe
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from bnpl.payments.checks import stripe_setting
from bnpl.payments.stripe_events import stripe_event_apply

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
    applied = stripe_event_apply(
        event_id=event.id,
        event_type=event.type,
        data_object=payload.get("data", {}).get("object", {}) or {},
        livemode=livemode,
    )
    if not applied:
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
