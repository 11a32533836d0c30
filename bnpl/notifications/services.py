"""What the consumer and the merchant are told, and when: each message follows a committed state
change, so a rolled-back transaction sends nothing, and goes out once per (kind, object).

* From the outbox (after commit, on a worker: ``on_events_committed`` queues
  ``notifications_send_for_events``; ``notifications_sweep`` catches what the broker missed):
  the purchase confirmed with its schedule (``plan.created``), a receipt for each card payment
  collected after the purchase (``plan.payment_succeeded``), a refund (``order.refunded``), the
  adverse-action notice of a declined application (``checkout_session.declined``), and the
  merchant's application submitted and decided (``business_profile.*``).
* From collections, in their own transactions: the reminder before a due date and the notice of
  a failed payment (``bnpl.collections.reminders``, through ``channels_for`` and ``send_after_commit``).

A ``Notification`` row per (kind, object) is written before anything is sent: a retried task, a
second worker or a re-run sweep finds it and sends nothing. Delivery is at most once: a send that
fails after the row committed is logged, not retried.

Channels: receipts, confirmations, refunds and adverse-action notices go by email whenever the
consumer has one, and by SMS to a phone on file if they accept texts (or have no email); reminders
and failed-payment notices follow ``Consumer.notify_by_email`` / ``notify_by_sms`` only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar

from celery import current_app
from django.db import IntegrityError, transaction
from kombu.exceptions import OperationalError as BrokerUnreachableError

from bnpl.checkout.models import CheckoutSession, Order, Refund
from bnpl.core import clock
from bnpl.core.compiled import CompiledSelectByIds
from bnpl.core.links import public_url
from bnpl.core.models import Event
from bnpl.notifications import get_sender
from bnpl.notifications.messages import Message, long_date, medium_date, money, render
from bnpl.notifications.models import Notification, NotificationWatermark
from bnpl.payments.models import Charge
from bnpl.plans.models import Installment, Plan, ProductKind
from consumers.models import Consumer
from decisioning.models import CreditDecision
from merchants.models import BusinessProfile, Membership

logger = logging.getLogger(__name__)

SEND_TASK = "bnpl.notifications.tasks.notifications_send_for_events"
SWEEP_BATCH_SIZE = 1000  # events one sweep run reads
# The sweep passes an event only once it is this old: a transaction that took an event id earlier
# may commit later, and must not fall behind the watermark unseen.
SWEEP_SETTLE_PERIOD = dt.timedelta(minutes=5)
FIRST_PAYMENT_KEY = ":first_payment:"  # in the idempotency key of the payment taken at checkout

Recipient = tuple[str, str]  # (channel, destination)
_muted: ContextVar[bool] = ContextVar("bnpl_notifications_muted", default=False)


@contextlib.contextmanager
def muted() -> Iterator[None]:
    """Write history without telling anyone (a demo seed of past activity): the listener queues
    nothing for what commits inside, and a message sent from inside (a reminder of the day's daily
    work) is recorded as sent but delivered to no one. The sweep's watermark starts after such
    history anyway."""
    token = _muted.set(True)
    try:
        yield
    finally:
        _muted.reset(token)


# --- Sending once -------------------------------------------------------------------------------


def send_after_commit(*, kind: str, object_id: str, recipients: Sequence[Recipient], message: Message) -> bool:
    """Record that ``message`` is sent about ``object_id`` as ``kind`` and send it to ``recipients``
    once the current transaction commits (at once outside one). Returns whether this call sent it:
    ``False`` when it had been sent (or recorded by a concurrent call) before."""
    channels = ",".join(channel for channel, _ in recipients)
    return deliver_once(
        lambda: Notification.objects.create(kind=kind, object_id=object_id, channels=channels),
        recipients=recipients,
        message=message,
    )


def deliver_once(record: Callable[[], object], *, recipients: Sequence[Recipient], message: Message) -> bool:
    """Write the row that says ``message`` was sent (``record``: its unique constraint is the "once")
    and deliver it after the current transaction commits. Returns ``False``, delivering nothing, when
    that row exists already (sent before, or by a concurrent call)."""
    try:
        with transaction.atomic():
            record()
    except IntegrityError:
        return False
    if recipients:
        transaction.on_commit(lambda: deliver(recipients=recipients, message=message))
    return True


def deliver(*, recipients: Sequence[Recipient], message: Message) -> None:
    """Hand ``message`` to the sender on each channel; one channel failing does not stop the others.
    Inside ``muted`` (history being written) it is delivered to no one."""
    if _muted.get():
        return
    sender = get_sender()
    for channel, destination in recipients:
        try:
            sender.send(
                channel=channel,
                destination=destination,
                subject=message.subject,
                body=message.text if channel == "email" else message.sms,
                html=message.html if channel == "email" else "",
            )
        except Exception:  # a provider's failure is logged; the others still go
            logger.exception("notification %r by %s not delivered", message.subject, channel)


def channels_for(consumer: Consumer, *, reminder: bool) -> list[Recipient]:
    """Where to reach the consumer. Reminders and notices follow their preferences on both
    channels; records of what happened (confirmation, receipt, refund, adverse action) always go to
    their email, and by text when they accept texts or have no email."""
    recipients: list[Recipient] = []
    if consumer.email and (consumer.notify_by_email or not reminder):
        recipients.append(("email", consumer.email))
    if consumer.phone and (consumer.notify_by_sms or (not reminder and not consumer.email)):
        recipients.append(("sms", consumer.phone))
    return recipients


# --- From the outbox ---------------------------------------------------------------------------


def on_events_committed(event_ids: list[int]) -> None:
    """Outbox listener, after the transaction that wrote ``event_ids`` committed: a worker sends
    what they call for (a transaction with none of the notified types costs no message). If the
    broker cannot be reached the request still succeeds; the sweep will."""
    if _muted.get():
        return
    notified = _NOTIFIED_OF.pks(event_ids)
    if not notified:
        return
    try:
        current_app.tasks[SEND_TASK].apply_async(args=(notified,), retry=False)
    except BrokerUnreachableError:
        logger.warning("notifications for events %s not queued (broker unreachable); the sweep will", event_ids)


def notifications_send_for_events(*, event_ids: Iterable[int]) -> int:
    """Send what the committed events call for, in the order they were written. Idempotent.
    Returns how many messages were sent."""
    events = Event.objects.filter(pk__in=list(event_ids), type__in=NOTIFIED_EVENT_TYPES).order_by("pk")
    return sum(_HANDLERS[event.type](event) for event in events)


def notifications_sweep(*, batch_size: int = SWEEP_BATCH_SIZE) -> int:
    """Periodic: the listener's safety net. Handles the events of notified types after the
    watermark and moves it past them. Returns how many events it read."""
    with transaction.atomic():
        watermark = _watermark_locked()
        settled_before = clock.now() - SWEEP_SETTLE_PERIOD
        events = []
        for pk, type, created_at in (
            Event.objects.filter(pk__gt=watermark.last_event_id)
            .order_by("pk")
            .values_list("pk", "type", "created_at")[:batch_size]
        ):
            if created_at > settled_before:
                break  # the watermark never passes an event that has not settled
            events.append((pk, type))
        if not events:
            return 0
        watermark.last_event_id = events[-1][0]
        watermark.save(update_fields=["last_event_id", "updated_at"])
    notifications_send_for_events(event_ids=[pk for pk, type in events if type in NOTIFIED_EVENT_TYPES])
    return len(events)


def _watermark_locked() -> NotificationWatermark:
    """The sweep's watermark, locked. Made at the newest event the first time: the events written
    before notifications existed (or before the demo's seeded history) are never sent."""
    watermark = NotificationWatermark.objects.select_for_update().filter(pk=NotificationWatermark.SINGLETON_ID).first()
    if watermark is None:
        newest = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        NotificationWatermark.objects.get_or_create(
            pk=NotificationWatermark.SINGLETON_ID, defaults={"last_event_id": newest}
        )
        watermark = NotificationWatermark.objects.select_for_update().get(pk=NotificationWatermark.SINGLETON_ID)
    return watermark


# --- The consumer's messages -------------------------------------------------------------------


def _plan_context(plan: Plan) -> dict[str, object]:
    rows = plan.installments.exclude(status=Installment.Status.CANCELED).order_by("due_date", "sequence")
    schedule = [
        {
            "date": medium_date(row.due_date),
            "amount": money(row.amount, plan.currency),
            "paid": row.status == Installment.Status.PAID,
            "what": "Late fee" if row.fee_for_id else f"Payment {row.sequence}",
        }
        for row in rows
    ]
    owed = sum(row.amount - row.paid_amount for row in rows)
    return {
        "merchant_name": plan.merchant.name,
        "plan": plan,
        "schedule": schedule,
        "remaining": money(owed, plan.currency),
        "is_financing": plan.product.kind == ProductKind.FINANCING,
        "apr": f"{plan.disclosed_apr}%" if plan.disclosed_apr is not None else "",
        "test_mode": not plan.livemode,
    }


def _purchase_confirmed(event: Event) -> int:
    plan = (
        Plan.objects.select_related("merchant", "consumer", "order", "product")
        .filter(public_id=event.object_id)
        .first()
    )
    if plan is None:
        return 0
    order = plan.order
    paid_today = sum(
        plan.charges.filter(
            kind=Charge.Kind.PAYMENT, status=Charge.Status.SUCCEEDED, idempotency_key__contains=FIRST_PAYMENT_KEY
        ).values_list("amount", flat=True)
    )
    total = money(order.authorized_amount, plan.currency)
    context = {
        **_plan_context(plan),
        "total": total,
        "paid_today": money(paid_today, plan.currency) if paid_today else "",
        "reference": order.merchant_reference,
    }
    subject = f"Your {plan.merchant.name} purchase of {total} is confirmed"
    sms = f"{plan.merchant.name}: your {total} purchase is confirmed. Your payment schedule is in your account."
    message = render("purchase_confirmed", subject=subject, sms=sms, context=context)
    return send_after_commit(
        kind="purchase_confirmed",
        object_id=plan.public_id,
        recipients=channels_for(plan.consumer, reminder=False),
        message=message,
    )


def _payment_receipts(event: Event) -> int:
    """A receipt for each card payment applied to the plan since the purchase (the payment taken
    at checkout is in the purchase confirmation) that has none yet."""
    plan = Plan.objects.select_related("merchant", "consumer", "product").filter(public_id=event.object_id).first()
    if plan is None:
        return 0
    receipted = Notification.objects.filter(kind="payment_receipt").values("object_id")
    charges = (
        plan.charges.filter(kind=Charge.Kind.PAYMENT, status=Charge.Status.SUCCEEDED, applied_at__isnull=False)
        .exclude(idempotency_key__contains=FIRST_PAYMENT_KEY)
        .exclude(public_id__in=receipted)
        .select_related("payment_method")
        .order_by("pk")
    )
    sent = 0
    for charge in charges:
        amount = money(charge.amount, charge.currency)
        context = {
            **_plan_context(plan),
            "amount": amount,
            "paid_on": long_date((charge.applied_at or charge.created_at).date()),
            "card": f"{charge.payment_method.brand.title()} ending {charge.payment_method.last4}",
            "receipt_id": charge.public_id,
        }
        subject = f"Receipt: {amount} paid to your {plan.merchant.name} plan"
        sms = f"{plan.merchant.name}: we received your payment of {amount}. Thank you."
        sent += send_after_commit(
            kind="payment_receipt",
            object_id=charge.public_id,
            recipients=channels_for(plan.consumer, reminder=False),
            message=render("payment_receipt", subject=subject, sms=sms, context=context),
        )
    return sent


def _refund(event: Event) -> int:
    refund_id = str((event.data.get("refund") or {}).get("id") or "")
    refund = Refund.objects.select_related("order__consumer", "order__merchant").filter(public_id=refund_id).first()
    if refund is None:
        return 0
    order: Order = refund.order
    plan = Plan.objects.select_related("merchant", "product").filter(order=order).first()
    amount = money(refund.amount, order.currency)
    context = {
        **(_plan_context(plan) if plan else {"merchant_name": order.merchant.name, "test_mode": not order.livemode}),
        "amount": amount,
        "taken_off_plan": money(refund.applied_to_plan_amount, order.currency) if refund.applied_to_plan_amount else "",
        "back_to_card": money(refund.returned_to_card_amount, order.currency) if refund.returned_to_card_amount else "",
        "refunded_on": long_date(refund.created_at.date()),
        "reference": order.merchant_reference,
    }
    subject = f"{order.merchant.name} refunded {amount}"
    sms = f"{order.merchant.name} refunded {amount} on your purchase. Details are in your account."
    return send_after_commit(
        kind="refund",
        object_id=refund.public_id,
        recipients=channels_for(order.consumer, reminder=False),
        message=render("refund", subject=subject, sms=sms, context=context),
    )


def _adverse_action(event: Event) -> int:
    """The notice of a declined application: the principal reasons, and the consumer's rights."""
    session = CheckoutSession.objects.select_related("merchant", "consumer").filter(public_id=event.object_id).first()
    if session is None or session.consumer is None:
        return 0
    decision = CreditDecision.objects.filter(checkout_session=session).order_by("-created_at", "-pk").first()
    reasons = [str(reason.get("text", "")) for reason in (decision.reasons if decision else [])][:4]
    decided_on = (decision.created_at if decision else event.created_at).date()
    context = {
        "merchant_name": session.merchant.name,
        "amount": money(session.amount, session.currency),
        "reasons": [reason for reason in reasons if reason],
        "decided_on": long_date(decided_on),
        "test_mode": not session.livemode,
    }
    subject = f"About your pay-later application at {session.merchant.name}"
    sms = (
        f"We could not approve pay later for your {session.merchant.name} order. "
        "The reasons are in your email and your account."
    )
    return send_after_commit(
        kind="adverse_action",
        object_id=session.public_id,
        recipients=channels_for(session.consumer, reminder=False),
        message=render("adverse_action", subject=subject, sms=sms, context=context),
    )


# --- The merchant's messages -------------------------------------------------------------------


def _merchant_recipients(profile: BusinessProfile) -> list[Recipient]:
    emails = (
        Membership.objects.filter(merchant=profile.merchant, role__in=[Membership.Role.OWNER, Membership.Role.ADMIN])
        .exclude(user__email="")
        .order_by("pk")
        .values_list("user__email", flat=True)
    )
    return [("email", email) for email in dict.fromkeys(emails)]


_DECISIONS = {
    "business_profile.approved": (
        "approved",
        "Your application is approved: you can take live payments",
    ),
    "business_profile.rejected": ("rejected", "We could not approve your application"),
    "business_profile.information_requested": ("information_requested", "We need a little more about your business"),
}


def _merchant_application(event: Event) -> int:
    """Submitted, then decided: one email each time the application changes hands (a merchant asked
    for more submits again, so each submission and decision is keyed by the event)."""
    profile = BusinessProfile.objects.select_related("merchant").filter(public_id=event.object_id).first()
    if profile is None:
        return 0
    if event.type == "business_profile.submitted":
        outcome, subject = "submitted", f"We received {profile.merchant.name}'s application"
    else:
        outcome, subject = _DECISIONS[event.type]
    context = {
        "merchant_name": profile.merchant.name,
        "outcome": outcome,
        "note": str(event.data.get("operator_note") or profile.operator_note or ""),
        "dashboard_url": public_url("/merchant/onboarding"),
        "when": long_date(event.created_at.date()),
    }
    return send_after_commit(
        kind=f"merchant_application_{outcome}",
        object_id=event.public_id,
        recipients=_merchant_recipients(profile),
        message=render("merchant_application", subject=subject, sms="", context=context),
    )


_HANDLERS: dict[str, Callable[[Event], int]] = {
    "plan.created": _purchase_confirmed,
    "plan.payment_succeeded": _payment_receipts,
    "order.refunded": _refund,
    "checkout_session.declined": _adverse_action,
    "business_profile.submitted": _merchant_application,
    "business_profile.approved": _merchant_application,
    "business_profile.rejected": _merchant_application,
    "business_profile.information_requested": _merchant_application,
}
NOTIFIED_EVENT_TYPES = frozenset(_HANDLERS)

# After every commit that wrote a notified type: which of its events are (the writer may not have
# said their types). Compiled once per process (``bnpl.core.compiled``): its list of types is long.
_NOTIFIED_OF: CompiledSelectByIds[Event] = CompiledSelectByIds(
    lambda match: Event.objects.filter(match, type__in=sorted(NOTIFIED_EVENT_TYPES)).only("pk").order_by("pk")
)
