"""Reminders before a due date and notices after a failed charge, by email (text and HTML, from
``templates/emails/``) and SMS through the same pluggable sender as the one-time codes (the sandbox
inbox in the sandbox), as the consumer's preferences allow (``bnpl.notifications.services.channels_for``).
Each is sent once per installment and kind (a ``Reminder`` row guards it), after its transaction commits."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from bnpl.collections.models import Reminder
from bnpl.core import clock
from bnpl.core.money import format_amount
from bnpl.notifications.messages import Message, long_date, render
from bnpl.notifications.services import Recipient, channels_for, deliver, deliver_once
from bnpl.plans.models import Installment


def remind(*, installment: Installment, kind: str, message: Message) -> bool:
    """Send ``message`` to the consumer on every channel they allow, once for (installment, kind).
    Returns whether this call sent it. The send happens after the row is committed."""
    channels = _channels(installment)
    names = ",".join(channel for channel, _ in channels)
    return deliver_once(
        lambda: Reminder.objects.create(installment=installment, kind=kind, channels=names),
        recipients=channels,
        message=message,
    )


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
            message=render(
                "payment_reminder",
                subject=f"{amount} due {installment.due_date:%-d %b} for your {plan.merchant.name} purchase",
                sms=(
                    f"{plan.merchant.name}: your payment of {amount} is due on {installment.due_date:%-d %B}. "
                    "We will charge your card on file."
                ),
                context={
                    "merchant_name": plan.merchant.name,
                    "amount": amount,
                    "due_on": long_date(installment.due_date),
                    "test_mode": not plan.livemode,
                },
            ),
        )
    return sent


@dataclass(frozen=True)
class PaymentFailedNotice:
    installment: Installment  # with its plan, the plan's consumer and merchant read alongside
    attempt: int
    retry_on: dt.date | None
    reason: str


def notice_payment_failed(*, installment: Installment, attempt: int, retry_on: dt.date | None, reason: str) -> None:
    """Tell the consumer a charge failed, and what happens next. Call inside the settling transaction."""
    notices_payment_failed(
        notices=[PaymentFailedNotice(installment=installment, attempt=attempt, retry_on=retry_on, reason=reason)]
    )


def notices_payment_failed(*, notices: Sequence[PaymentFailedNotice]) -> None:
    """``notice_payment_failed`` for a batch settled in one transaction (collections): the same
    notices, once per installment and attempt, recorded with two queries. Call inside that
    transaction, with the attempts locked (their settler is the only writer of these kinds)."""
    messages = []
    for notice in notices:
        plan = notice.installment.plan
        amount = format_amount(notice.installment.remaining_amount, plan.currency)
        retry_on = long_date(notice.retry_on) if notice.retry_on else ""
        messages.append(
            _Message(
                installment=notice.installment,
                kind=f"payment_failed:{notice.attempt}",
                message=render(
                    "payment_failed",
                    subject=f"We could not take your {amount} payment to {plan.merchant.name}",
                    sms=(
                        f"{plan.merchant.name}: your payment of {amount} did not go through. "
                        + (
                            f"We will try again on {notice.retry_on:%-d %B}."
                            if notice.retry_on
                            else "Please pay in your account."
                        )
                    ),
                    context={
                        "merchant_name": plan.merchant.name,
                        "amount": amount,
                        "reason": notice.reason,
                        "retry_on": retry_on,
                        "test_mode": not plan.livemode,
                    },
                ),
            )
        )
    _remind_many(messages)


@dataclass(frozen=True)
class _Message:
    installment: Installment
    kind: str
    message: Message


def _remind_many(messages: Sequence[_Message]) -> None:
    """``remind`` for messages of kinds only their caller writes (it holds the lock that makes it
    so): those not sent before are recorded with one insert and sent after commit."""
    sent = set(
        Reminder.objects.filter(
            installment__in=[message.installment for message in messages],
            kind__in={message.kind for message in messages},
        ).values_list("installment_id", "kind")
    )
    fresh = [message for message in messages if (message.installment.pk, message.kind) not in sent]
    rows: list[Reminder] = []
    sends: list[tuple[list[Recipient], Message]] = []
    for message in fresh:
        channels = _channels(message.installment)
        rows.append(
            Reminder(
                installment=message.installment,
                kind=message.kind,
                channels=",".join(channel for channel, _ in channels),
            )
        )
        if channels:
            sends.append((channels, message.message))
    Reminder.objects.bulk_create(rows, ignore_conflicts=True)
    if sends:
        transaction.on_commit(lambda: _send_all(sends))


def _send_all(sends: Sequence[tuple[list[Recipient], Message]]) -> None:
    for recipients, message in sends:
        deliver(recipients=recipients, message=message)


def _channels(installment: Installment) -> list[Recipient]:
    """Where the consumer lets us reach them with reminders and notices: (channel, destination)."""
    return channels_for(installment.plan.consumer, reminder=True)
