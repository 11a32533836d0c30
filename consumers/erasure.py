"""Erasing a consumer's personal data while the books stay intact (the right to erasure).

**What goes.** The email address and phone number (the account row keeps its public id, status
``erased``); the identity (legal name, date of birth, address, the encrypted national id digits);
one-time codes and their per-address throttle rows; sandbox messages; the consumer's web sessions
(the browsers signed in) and the app's devices (revoked: their tokens end; the names and push
addresses the app gave them forgotten); bank transactions shared under their consents (each consent revoked); the
contact details merchants sent with their checkout sessions. Wherever the email, the phone number,
the legal name or the address line also stand inside free text -- merchant references, line item
names, refund reasons (and the settlement report's copies of both), dispute and hardship texts, the
audit log, the outbox, the webhook delivery log, stored idempotent responses, the admin's change
history -- they become ``[erased]``.

**What stays** (the books, which a lender must keep): plans, installments, orders, captures,
refunds, charges and the cards' brand and last four digits (refunds still reach the card), ledger
entries, credit decisions with their reasons (adverse-action records), disputes, audit rows and
events -- all under the public id (``con_…``), which no longer leads to a person. The data lake
holds consumers only under a keyed pseudonym and never identifiers, and its next snapshot reads
the erased row.

**Refused** (``param: "consumer"``) while the consumer still owes on a plan (charged-off plans
included), an order may still be captured, a payment or refund is in flight, or a return or
dispute is open: those records are still being used.

The audit log and the webhook delivery log are append-only; a redaction is their one exception,
allowed by the database only inside this transaction and only for the columns holding recorded
values (``bnpl.core.services.redaction_allowed``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session
from django.db import transaction
from django.db.models import Q

from bnpl.checkout.models import Capture, CheckoutSession, Dispute, Order, Refund
from bnpl.collections.models import HardshipRequest
from bnpl.core import clock
from bnpl.core.context import Actor
from bnpl.core.errors import StateError
from bnpl.core.models import IdempotencyKey
from bnpl.core.services import (
    ERASED,
    audit_log_redact,
    change_record,
    redact_json,
    redact_text,
    redaction_allowed,
)
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.plans.models import Plan
from consumers.app_auth import sign_in_owner
from consumers.devices import device_revoke
from consumers.models import Consumer, Device, Identity, MerchantConsumer, OneTimeCode, SandboxMessage
from consumers.selectors import PENDING_IDENTIFIER_KEY, SESSION_KEY
from consumers.services import Destination, consumer_data
from decisioning.bank_data import consent_revoke
from decisioning.models import BankDataConsent, CreditDecision
from merchants.models import SettlementLine, WebhookDeliveryAttempt

# Words shorter than this are not searched for inside free text (a 4-letter city would hit other words).
MIN_WORD_LENGTH = 5


@dataclass(frozen=True)
class Erasure:
    consumer: Consumer
    sessions: int  # web sessions (devices) signed out
    messages: int  # sandbox messages and one-time codes deleted
    audit_rows: int  # audit log entries redacted
    events: int  # outbox events redacted


def consumer_erase(*, consumer: Consumer, actor: Actor) -> Erasure:
    """Erase ``consumer``'s personal data, keep the books, and record ``consumer.erased`` (no
    personal data in it) as ``actor`` did it."""
    with transaction.atomic(durable=True):
        consumer = Consumer.objects.select_for_update().get(pk=consumer.pk)
        _refuse_unless_settled(consumer)
        contacts = _contacts(consumer)
        identity = Identity.objects.filter(consumer=consumer).first()
        words = _identity_words(identity)
        needles = [*contacts, *words]
        object_ids = _object_ids(consumer, contacts)
        for consent in BankDataConsent.objects.filter(consumer=consumer, revoked_at__isnull=True):
            consent_revoke(consent=consent, revoked_by=BankDataConsent.RevokedBy.CONSUMER)
        sessions = _sign_out_everywhere(consumer, contacts)
        messages = _delete_messages([*contacts, *_end_app_devices(consumer, contacts)])
        Identity.objects.filter(consumer=consumer).delete()
        _redact_purchases(consumer, contacts, needles)
        _redact_stored_responses(consumer, needles)
        _redact_admin_history(needles)
        redaction = audit_log_redact(everywhere=contacts, within_objects=words, object_ids=object_ids)
        _redact_delivery_log(contacts, words, object_ids)
        before = consumer_data(consumer)
        consumer.email = consumer.phone = None
        consumer.status, consumer.erased_at = Consumer.Status.ERASED, clock.now()
        consumer.notify_by_email = consumer.notify_by_sms = False
        consumer.save()
        change_record(
            action="consumer.erased",
            instance=consumer,
            before=before,
            data={**consumer_data(consumer), "erased_at": consumer.erased_at.isoformat()},
            merchant=None,
            livemode=False,
            actor=actor,
        )
    return Erasure(
        consumer=consumer,
        sessions=sessions,
        messages=messages,
        audit_rows=redaction.audit_rows,
        events=redaction.events,
    )


def _refuse_unless_settled(consumer: Consumer) -> None:
    if consumer.status == Consumer.Status.ERASED:
        raise StateError("This consumer's personal data was already erased.", code="consumer_erased", param="consumer")
    refusals = [
        (
            Plan.objects.filter(consumer=consumer, status=Plan.Status.ACTIVE),
            "consumer_owes_money",
            "The consumer still owes on a plan: erase once it is paid, cancelled or sold on.",
        ),
        (
            Order.objects.filter(consumer=consumer, status__in=[Order.Status.AUTHORIZED, Order.Status.PART_CAPTURED]),
            "consumer_order_open",
            "A shop may still capture one of the consumer's orders: erase once it is captured, voided or expired.",
        ),
        (
            Charge.objects.filter(consumer=consumer, status=Charge.Status.PENDING),
            "consumer_money_in_flight",
            "A payment or refund of the consumer is still in flight: try again once it has settled.",
        ),
        (
            Dispute.objects.filter(order__consumer=consumer, status__in=Dispute.OPEN_STATUSES),
            "consumer_dispute_open",
            "A return or dispute of the consumer is open: erase once it is resolved.",
        ),
    ]
    for rows, code, message in refusals:
        if rows.exists():
            raise StateError(message, code=code, param="consumer")


def _contacts(consumer: Consumer) -> list[str]:
    """Identifiers no one else has: searched for everywhere."""
    phone = consumer.phone or ""
    return [value for value in (consumer.email, phone, phone.lstrip("+")) if value]


def _identity_words(identity: Identity | None) -> list[str]:
    """Words others may share (a name, a street): searched for only in the consumer's own records."""
    if identity is None:
        return []
    words = [identity.legal_name, identity.address_line1, identity.address_line2]
    return [word.strip() for word in words if len(word.strip()) >= MIN_WORD_LENGTH]


def _sessions_of(consumer: Consumer, contacts: Sequence[str]) -> Q:
    return Q(consumer=consumer) | Q(customer_email__in=contacts) | Q(customer_phone__in=contacts)


def _object_ids(consumer: Consumer, contacts: Sequence[str]) -> set[str]:
    """The public ids of everything that is the consumer's: the audit rows and events about them
    are searched for the consumer's name and address too."""
    orders = Order.objects.filter(consumer=consumer)
    querysets: list[Any] = [
        MerchantConsumer.objects.filter(consumer=consumer),
        CheckoutSession.objects.filter(_sessions_of(consumer, contacts)),
        orders,
        Plan.objects.filter(consumer=consumer),
        Dispute.objects.filter(order__in=orders),
        PaymentMethod.objects.filter(consumer=consumer),
        Charge.objects.filter(consumer=consumer),
        CreditDecision.objects.filter(consumer=consumer),
    ]
    ids = {consumer.public_id}
    for queryset in querysets:
        ids.update(queryset.values_list("public_id", flat=True))
    return ids


def _sign_out_everywhere(consumer: Consumer, contacts: Sequence[str]) -> int:
    """Delete the web sessions signed in as the consumer, or waiting for a code sent to them."""
    doomed = []
    for session in Session.objects.iterator():
        data = session.get_decoded()
        if data.get(SESSION_KEY) == consumer.public_id or data.get(PENDING_IDENTIFIER_KEY) in contacts:
            doomed.append(session.pk)
    Session.objects.filter(pk__in=doomed).delete()
    return len(doomed)


def _end_app_devices(consumer: Consumer, contacts: Sequence[str]) -> list[str]:
    """Revoke the app's devices (their tokens end), forget the names and push addresses the app
    gave them, and the app's stored idempotent responses; returns the devices' ids (their push
    notifications in the sandbox inbox go with the consumer's messages)."""
    devices = list(Device.objects.filter(consumer=consumer))
    for device in devices:
        if device.is_usable:
            device_revoke(device=device)
    Device.objects.filter(consumer=consumer).update(name=ERASED, push_token="")
    owners = [consumer.public_id, *(sign_in_owner(Destination(channel="", address=contact)) for contact in contacts)]
    IdempotencyKey.objects.filter(merchant__isnull=True, owner__in=owners).delete()
    return [device.public_id for device in devices]


def _delete_messages(contacts: Sequence[str]) -> int:
    deleted = 0
    for model in (SandboxMessage, OneTimeCode):
        count, _ = model.objects.filter(destination__in=contacts).delete()  # type: ignore[attr-defined]
        deleted += count
    return deleted


def _redact_purchases(consumer: Consumer, contacts: Sequence[str], needles: Sequence[str]) -> None:
    """The consumer's identifiers out of what merchants and the consumer wrote about purchases."""
    for session in CheckoutSession.objects.select_for_update().filter(_sessions_of(consumer, contacts)):
        session.customer_email = session.customer_phone = ""
        session.merchant_reference = redact_text(session.merchant_reference, needles)
        session.line_items = redact_json(session.line_items, needles)
        session.save(update_fields=["customer_email", "customer_phone", "merchant_reference", "line_items"])
    orders = Order.objects.filter(consumer=consumer)
    _redact_fields(orders, ["merchant_reference"], needles)
    _redact_fields(Capture.objects.filter(order__in=orders), ["merchant_reference"], needles)
    _redact_fields(Refund.objects.filter(order__in=orders), ["reason"], needles)
    _redact_fields(  # the settlement report's copies of a capture's reference and a refund's reason
        SettlementLine.objects.filter(order_id__in=orders.values("public_id")),
        ["merchant_reference", "reason"],
        needles,
    )
    _redact_fields(Dispute.objects.filter(order__in=orders), ["description", "evidence", "decision_note"], needles)
    _redact_fields(HardshipRequest.objects.filter(plan__consumer=consumer), ["reason", "decision_note"], needles)


def _redact_fields(queryset: Any, fields: list[str], needles: Sequence[str]) -> None:
    for row in queryset.select_for_update():
        changed = {field: redact_text(getattr(row, field), needles) for field in fields}
        if any(value != getattr(row, field) for field, value in changed.items()):
            type(row).objects.filter(pk=row.pk).update(**changed)


def _redact_stored_responses(consumer: Consumer, needles: Sequence[str]) -> None:
    """Idempotent responses stored for replay (kept a day or so) that carry the consumer's details."""
    merchants = CheckoutSession.objects.filter(consumer=consumer).values("merchant_id")  # where they shopped
    for key in IdempotencyKey.objects.select_for_update().filter(
        merchant_id__in=merchants, response_body__isnull=False
    ):
        body = bytes(key.response_body or b"")
        if not any(needle.lower().encode() in body.lower() for needle in needles):
            continue
        try:
            redacted = json.dumps(redact_json(json.loads(body), needles)).encode()
        except ValueError:  # not JSON: what is stored cannot be replayed faithfully anyway
            redacted = redact_text(body.decode(errors="replace"), needles).encode()
        IdempotencyKey.objects.filter(pk=key.pk).update(response_body=redacted)


def _redact_admin_history(needles: Sequence[str]) -> None:
    """Django admin's change history names objects by ``str()``: an identity by the legal name."""
    mentions = Q(pk__in=[])
    for needle in needles:
        mentions |= Q(object_repr__icontains=needle) | Q(change_message__icontains=needle)
    for entry in LogEntry.objects.filter(mentions):
        LogEntry.objects.filter(pk=entry.pk).update(
            object_repr=redact_text(entry.object_repr, needles),
            change_message=redact_text(entry.change_message, needles),
        )


def _redact_delivery_log(contacts: Sequence[str], words: Sequence[str], object_ids: set[str]) -> None:
    """What webhook requests carried (copies of events) and merchants answered."""
    fields = ["request_body", "response_body", "error"]
    mentions = Q(delivery__event__object_id__in=object_ids)
    for needle in contacts:
        mentions |= Q(request_body__icontains=needle) | Q(response_body__icontains=needle) | Q(error__icontains=needle)
    with redaction_allowed():
        for attempt in WebhookDeliveryAttempt.objects.filter(mentions).select_related("delivery__event"):
            needles = [*contacts, *(words if attempt.delivery.event.object_id in object_ids else [])]
            changed = {field: redact_text(getattr(attempt, field), needles) for field in fields}
            if any(value != getattr(attempt, field) for field, value in changed.items()):
                WebhookDeliveryAttempt.objects.filter(pk=attempt.pk).update(**changed)
