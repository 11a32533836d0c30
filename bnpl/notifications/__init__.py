"""Delivery of messages (one-time codes, reminders, receipts and notices): a pluggable sender
chosen by the ``ONE_TIME_CODE_SENDER`` setting. What is sent when is ``bnpl.notifications.services``.

* ``SandboxSender`` (default): prints to the console and files the message in the sandbox inbox
  page (``/sandbox/inbox``), so the demo and the tests can read codes without a mail server.
* ``EmailAndSmsSender``: email through Django's mail backend (SMTP in production), as a text part
  with an HTML alternative when there is one; SMS through a provider adapter named by
  ``SMS_PROVIDER`` — none ships yet, so SMS is refused rather than dropped.

Push notifications to the consumer's app (a new device asks to be trusted) go through a sender of
their own, chosen by ``PUSH_SENDER``:

* ``SandboxPushSender`` (demo, tests): files the notification in the sandbox inbox, addressed to
  the device (``/sandbox/inbox?to=dev_…``).
* ``NoPushSender`` (the default until a provider adapter ships): delivers nothing and says so in
  the log. Push is a convenience: a device that is never approved is verified by a one-time code.
"""

from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.module_loading import import_string

from bnpl.core.errors import InvalidRequestError

logger = logging.getLogger(__name__)


class Sender(Protocol):
    def send(self, *, channel: str, destination: str, subject: str, body: str, html: str = "") -> None: ...


class SandboxSender:
    def send(self, *, channel: str, destination: str, subject: str, body: str, html: str = "") -> None:
        from consumers.models import SandboxMessage  # this package is an app: no models at import time

        SandboxMessage.objects.create(
            channel=channel,
            destination=destination,
            subject=subject,
            body=body,
            html=html if channel == "email" else "",
        )
        print(f"[sandbox {channel} to {destination}] {subject}: {body}", flush=True)  # noqa: T201


class EmailAndSmsSender:
    def send(self, *, channel: str, destination: str, subject: str, body: str, html: str = "") -> None:
        if channel == "email":
            message = EmailMultiAlternatives(subject, body, settings.DEFAULT_FROM_EMAIL, [destination])
            if html:
                message.attach_alternative(html, "text/html")
            message.send()
            return
        raise InvalidRequestError(
            "Text messages are not available here; sign in with your email address.",
            code="sms_unavailable",
            param="phone",
        )


class PushSender(Protocol):
    def send_push(self, *, device: str, push_token: str, title: str, body: str) -> None: ...


class SandboxPushSender:
    """Files the notification in the sandbox inbox under the device's public id (``dev_…``)."""

    def send_push(self, *, device: str, push_token: str, title: str, body: str) -> None:
        from consumers.models import Channel, SandboxMessage  # this package is an app: no models at import time

        SandboxMessage.objects.create(channel=Channel.PUSH, destination=device, subject=title, body=body)
        print(f"[sandbox push to {device}] {title}: {body}", flush=True)  # noqa: T201


class NoPushSender:
    """No push provider configured: nothing is delivered (the app falls back to a one-time code)."""

    def send_push(self, *, device: str, push_token: str, title: str, body: str) -> None:
        logger.info("push notification %r to %s not delivered: no PUSH_SENDER configured", title, device)


def get_push_sender() -> PushSender:
    sender: PushSender = import_string(settings.PUSH_SENDER)()
    return sender


def get_sender() -> Sender:
    sender: Sender = import_string(settings.ONE_TIME_CODE_SENDER)()
    return sender
