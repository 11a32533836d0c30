"""Reminders before a due date and notices after a failed charge, by email and SMS through the
same pluggable sender as the one-time codes (the sandbox inbox in the sandbox), as the consumer's
preferences allow. Each is sent once per installment and kind (a ``Reminder`` row guards it)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import IntegrityError, transaction

from bnpl.collections.models import Reminder
from bnpl.core import clock
from bnpl.core.money import format_amount
from bnpl.notifications import get_sender
from bnpl.plans.models import Installment


def remind(*, installment: Installment, kind: str, subject: str, body: str) -> bool:
    """Send ``body`` to the consumer on every channel they allow, once for (installment, kind).
    Returns whether this call sent it. The send happens after the row is committed."""
    consumer = installment.plan.consumer
    channels = [
        (channel, destination)
        for channel, destination, allowed in (
            ("email", consumer.email, consumer.notify_by_email),
            ("sms", consumer.phone, consumer.notify_by_sms),
        )
        if destination and allowed
    ]
    try:
        with transaction.atomic():
            Reminder.objects.create(
                installment=installment, kind=kind, channels=",".join(channel for channel, _ in channels)
            )
    except IntegrityError:
        return False
    sender = get_sender()
    for channel, destination in channels:
        transaction.on_commit(
            lambda channel=channel, destination=destination: sender.send(  # type: ignore[misc]
                channel=channel, destination=destination or "", subject=subject, body=body
            )
        )
    return True


def reminders_send_upcoming() -> int:
    """Remind consumers of installments due within ``REMINDER_DAYS_BEFORE`` days (once each)."""
    today = clock.today()
    upcoming = (
        Installment.objects.collectable()
        .filter(due_date__gt=today, due_date__lte=today + dt.timedelta(days=settings.REMINDER_DAYS_BEFORE))
        .exclude(reminders__kind="upcoming")
        .select_related("plan__consumer", "plan__merchant")
    )
    sent = 0
    for installment in upcoming:
        plan = installment.plan
        amount = format_amount(installment.remaining_amount, plan.currency)
        sent += remind(
            installment=installment,
            kind="upcoming",
            subject=f"{amount} due {installment.due_date:%-d %b}",
            body=(
                f"Your payment of {amount} for your {plan.merchant.name} purchase is due on "
                f"{installment.due_date:%-d %B %Y}. We will charge your card on file; to pay now or change "
                "the card, visit your account."
            ),
        )
    return sent


def notice_payment_failed(*, installment: Installment, attempt: int, retry_on: dt.date | None, reason: str) -> None:
    """Tell the consumer a charge failed, and what happens next. Call inside the settling transaction."""
    plan = installment.plan
    amount = format_amount(installment.remaining_amount, plan.currency)
    next_step = (
        f"We will try again on {retry_on:%-d %B}."
        if retry_on
        else "We will not try again automatically: please pay from your account or change your card."
    )
    remind(
        installment=installment,
        kind=f"payment_failed:{attempt}",
        subject=f"We could not take your {amount} payment",
        body=(
            f"Your payment of {amount} for your {plan.merchant.name} purchase did not go through ({reason}). "
            f"{next_step}"
        ),
    )
