"""Reminders before a due date and notices after a failed charge, by email and SMS through the
same pluggable sender as the one-time codes (the sandbox inbox in the sandbox), as the consumer's
preferences allow. Each is sent once per installment and kind (a ``Reminder`` row guards it)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

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
    channels = _channels(installment)
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
        next_step = (
            f"We will try again on {notice.retry_on:%-d %B}."
            if notice.retry_on
            else "We will not try again automatically: please pay from your account or change your card."
        )
        body = (
            f"Your payment of {amount} for your {plan.merchant.name} purchase did not go through "
            f"({notice.reason}). {next_step}"
        )
        messages.append(
            _Message(
                installment=notice.installment,
                kind=f"payment_failed:{notice.attempt}",
                subject=f"We could not take your {amount} payment",
                body=body,
            )
        )
    _remind_many(messages)


@dataclass(frozen=True)
class _Message:
    installment: Installment
    kind: str
    subject: str
    body: str


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
    sends: list[tuple[str, str, _Message]] = []
    for message in fresh:
        channels = _channels(message.installment)
        rows.append(
            Reminder(
                installment=message.installment,
                kind=message.kind,
                channels=",".join(channel for channel, _ in channels),
            )
        )
        sends.extend((channel, destination, message) for channel, destination in channels)
    Reminder.objects.bulk_create(rows, ignore_conflicts=True)
    if sends:
        transaction.on_commit(lambda: _send_all(sends))


def _send_all(sends: Sequence[tuple[str, str, _Message]]) -> None:
    sender = get_sender()
    for channel, destination, message in sends:
        sender.send(channel=channel, destination=destination, subject=message.subject, body=message.body)


def _channels(installment: Installment) -> list[tuple[str, str]]:
    """Where the consumer lets us reach them: (channel, destination) for email and SMS."""
    consumer = installment.plan.consumer
    return [
        (channel, destination)
        for channel, destination, allowed in (
            ("email", consumer.email, consumer.notify_by_email),
            ("sms", consumer.phone, consumer.notify_by_sms),
        )
        if destination and allowed
    ]
