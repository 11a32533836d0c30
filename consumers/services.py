"""Consumer sign-up and sign-in with one-time codes.

A code is 6 digits, lives 10 minutes, allows 5 attempts, and is kept only as an HMAC. Asking again
within the resend interval while the last code is unused, or more than the hourly limit, is
refused. A signed-in consumer's step-up (``one_time_code_confirm``) uses the same codes. Verifying a code for an
address that has no account yet creates the account (sign-up and sign-in are one flow).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet

from bnpl.core import clock
from bnpl.core.context import Actor
from bnpl.core.errors import InvalidRequestError, PermissionDeniedError, RateLimitError, StateError
from bnpl.core.services import change_record
from consumers import representations
from consumers.models import Channel, Consumer, Identity, MerchantConsumer, OneTimeCode, OneTimeCodeDestination
from consumers.senders import get_sender

CODE_DIGITS = 6
ONE_HOUR = dt.timedelta(hours=1)
CODE_PATTERN = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")  # ASCII digits only: str.isdigit() accepts "١٢٣" and "²"


@dataclass(frozen=True)
class Destination:
    channel: str
    address: str  # lower-cased email or E.164 phone


def destination_parse(identifier: str, *, default_region: str = "US") -> Destination:
    """An email address or a phone number, normalized; anything else is refused naming the field."""
    value = (identifier or "").strip()
    if not value or len(value) > 254:
        raise InvalidRequestError(
            "Enter an email address or a mobile number.", code="identifier_invalid", param="identifier"
        )
    if "@" in value:
        try:
            validate_email(value)
        except ValidationError:
            raise InvalidRequestError(
                f"{value!r} is not a valid email address.", code="email_invalid", param="identifier"
            ) from None
        return Destination(channel=Channel.EMAIL, address=value.lower())
    try:
        number = phonenumbers.parse(value, default_region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidRequestError(f"{value!r} is not a valid phone number.", code="phone_invalid", param="identifier")
    return Destination(
        channel=Channel.SMS, address=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    )


def _code_hash(destination: str, code: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"{destination}:{code}".encode(), hashlib.sha256).hexdigest()


def _active_codes(address: str) -> QuerySet[OneTimeCode]:
    return OneTimeCode.objects.filter(destination=address, consumed_at__isnull=True, invalidated_at__isnull=True)


def _lock_destination(address: str) -> None:
    """Take the per-address lock for the rest of the transaction (the row is made on first use)."""
    OneTimeCodeDestination.objects.get_or_create(destination=address)
    OneTimeCodeDestination.objects.select_for_update().get(destination=address)


def one_time_code_request(*, identifier: str, note: str = "") -> Destination:
    """Send a fresh code, superseding any earlier one. Throttled per destination: one code per
    resend interval unless the last one was used (signing in, then a step-up at once), and at most
    the hourly limit. ``note`` is a sentence added to the message saying what the code is for (a
    step-up names the shop and card)."""
    destination = destination_parse(identifier)
    with transaction.atomic():
        _lock_destination(destination.address)
        now = clock.now()
        recent = list(
            OneTimeCode.objects.filter(destination=destination.address, created_at__gte=now - ONE_HOUR).order_by(
                "-created_at"
            )
        )
        if recent and recent[0].consumed_at is None:  # a code just used (to sign in) proves the owner is here
            wait = settings.ONE_TIME_CODE_RESEND_INTERVAL - (now - recent[0].created_at)
            if wait.total_seconds() > 0:
                raise RateLimitError(
                    f"A code was just sent. You can ask for another in {math.ceil(wait.total_seconds())} seconds.",
                    code="code_resend_too_soon",
                    param="identifier",
                )
        if len(recent) >= settings.ONE_TIME_CODE_MAX_PER_HOUR:
            raise RateLimitError(
                "Too many codes were sent to this address in the last hour. Try again later.",
                code="code_hourly_limit",
                param="identifier",
            )
        _active_codes(destination.address).update(invalidated_at=now)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        OneTimeCode.objects.create(
            channel=destination.channel,
            destination=destination.address,
            code_hash=_code_hash(destination.address, code),
            expires_at=now + settings.ONE_TIME_CODE_TTL,
        )
        minutes = int(settings.ONE_TIME_CODE_TTL.total_seconds() // 60)
        body = f"Your verification code is {code}. It expires in {minutes} minutes. Never share it."
        if note:
            body = f"{body} {note}"
        transaction.on_commit(
            lambda: get_sender().send(
                channel=destination.channel,
                destination=destination.address,
                subject="Your verification code",
                body=body,
            )
        )
    return destination


class VerifyOutcome(StrEnum):
    ACCEPTED = "accepted"
    NO_CODE = "no_code"
    EXPIRED = "expired"
    LOCKED = "locked"
    WRONG = "wrong"


_OUTCOME_ERRORS = {
    VerifyOutcome.NO_CODE: ("No code is waiting for this address. Ask for a new code.", "code_not_requested"),
    VerifyOutcome.EXPIRED: ("This code has expired. Ask for a new code.", "code_expired"),
    VerifyOutcome.LOCKED: ("Too many wrong attempts. Ask for a new code.", "code_attempts_exceeded"),
}


def one_time_code_verify(*, identifier: str, code: str) -> Consumer:
    """Check a code; on success sign the consumer up (first time) or in. Wrong attempts are counted
    (and committed) before the error is raised; the last allowed wrong attempt burns the code."""
    destination = destination_parse(identifier)
    return _with_code(destination, code, "code", lambda now: _consumer_sign_in(destination, now))


def consumer_code_destination(consumer: Consumer) -> Destination:
    """Where a step-up code for a signed-in consumer goes: the account's own email, else its phone
    (the addresses it signs in with; never one typed at the step-up)."""
    if consumer.email:
        return Destination(channel=Channel.EMAIL, address=consumer.email)
    if consumer.phone:
        return Destination(channel=Channel.SMS, address=consumer.phone)
    raise StateError("Your account has no email address or phone.", code="no_code_destination")


def one_time_code_confirm(*, consumer: Consumer, code: str, param: str = "code") -> None:
    """A step-up: check a fresh code sent to the signed-in consumer's own address (the newest one
    sent there, unused), without signing anyone in. Wrong attempts count as at sign-in; errors name
    ``param``."""
    _with_code(consumer_code_destination(consumer), code, param, lambda now: consumer)


def _with_code(
    destination: Destination, code: str, param: str, accepted: Callable[[dt.datetime], Consumer]
) -> Consumer:
    """Judge ``code`` against the newest code sent to ``destination`` and, when right, run
    ``accepted`` in the same transaction that consumes it."""
    submitted = (code or "").strip()
    if not CODE_PATTERN.fullmatch(submitted):
        raise InvalidRequestError(
            f"Enter the {CODE_DIGITS}-digit code we sent you.", code="code_malformed", param=param
        )
    now = clock.now()
    with transaction.atomic():
        one_time_code = (
            OneTimeCode.objects.select_for_update()
            .filter(destination=destination.address)
            .order_by("-created_at", "-id")
            .first()
        )
        outcome, remaining = _check(one_time_code, submitted, destination.address, now)
        consumer = accepted(now) if outcome is VerifyOutcome.ACCEPTED else None
    if consumer is not None:
        return consumer
    if outcome is VerifyOutcome.WRONG:
        raise InvalidRequestError(
            f"That code is not right. {remaining} attempt{'s' if remaining != 1 else ''} left.",
            code="code_incorrect",
            param=param,
        )
    message, error_code = _OUTCOME_ERRORS[outcome]
    raise InvalidRequestError(message, code=error_code, param=param)


def _check(
    one_time_code: OneTimeCode | None, submitted: str, address: str, now: dt.datetime
) -> tuple[VerifyOutcome, int]:
    """Judge ``submitted`` against the newest code sent to the address, whatever its state, so that
    a burnt or expired code keeps saying why rather than "no code"."""
    if one_time_code is None or one_time_code.consumed_at is not None:
        return VerifyOutcome.NO_CODE, 0
    if one_time_code.attempts >= settings.ONE_TIME_CODE_MAX_ATTEMPTS:
        return VerifyOutcome.LOCKED, 0
    if now >= one_time_code.expires_at:
        if one_time_code.invalidated_at is None:
            one_time_code.invalidated_at = now
            one_time_code.save(update_fields=["invalidated_at"])
        return VerifyOutcome.EXPIRED, 0
    if one_time_code.invalidated_at is not None:
        return VerifyOutcome.NO_CODE, 0
    if hmac.compare_digest(one_time_code.code_hash, _code_hash(address, submitted)):
        one_time_code.consumed_at = now
        one_time_code.save(update_fields=["consumed_at"])
        return VerifyOutcome.ACCEPTED, 0
    OneTimeCode.objects.filter(pk=one_time_code.pk).update(attempts=F("attempts") + 1)
    one_time_code.refresh_from_db(fields=["attempts"])
    remaining = settings.ONE_TIME_CODE_MAX_ATTEMPTS - one_time_code.attempts
    if remaining <= 0:
        one_time_code.invalidated_at = now
        one_time_code.save(update_fields=["invalidated_at"])
        return VerifyOutcome.LOCKED, 0
    return VerifyOutcome.WRONG, remaining


def consumer_register(
    *, email: str | None = None, phone: str | None = None, verified_at: dt.datetime | None = None
) -> Consumer:
    """Create a consumer account (the seed and sign-up both come here). Call inside a transaction."""
    consumer = Consumer.objects.create(
        email=email,
        phone=phone,
        email_verified_at=verified_at if email else None,
        phone_verified_at=verified_at if phone else None,
    )
    actor = Actor(kind="consumer", identifier=consumer.public_id, label=str(consumer))
    change_record(action="consumer.created", instance=consumer, data=consumer_data(consumer), actor=actor)
    return consumer


def _consumer_sign_in(destination: Destination, now: dt.datetime) -> Consumer:
    lookup = {"email": destination.address} if destination.channel == Channel.EMAIL else {"phone": destination.address}
    verified_field = "email_verified_at" if destination.channel == Channel.EMAIL else "phone_verified_at"
    consumer = Consumer.objects.select_for_update().filter(**lookup).first()
    if consumer is None:
        consumer = consumer_register(**lookup, verified_at=now)
    if consumer.status == Consumer.Status.BLOCKED:
        raise PermissionDeniedError("This account is closed. Contact support.", code="consumer_blocked")
    if getattr(consumer, verified_field) is None:
        setattr(consumer, verified_field, now)
    consumer.last_sign_in_at = now
    consumer.save()
    actor = Actor(kind="consumer", identifier=consumer.public_id, label=str(consumer))
    change_record(action="consumer.signed_in", instance=consumer, data=consumer_data(consumer), actor=actor)
    return consumer


def identity_submit(
    *,
    consumer: Consumer,
    legal_name: str,
    date_of_birth: dt.date,
    address_line1: str,
    city: str,
    postal_code: str,
    country: str,
    national_id_last4: str,
    address_line2: str = "",
    region: str = "",
) -> Identity:
    """Record KYC basics once (later calls correct them). The sandbox verifies what it can check
    here: a full name, a real date of birth in the past, four digits of the national id."""
    if len(legal_name.split()) < 2:
        raise InvalidRequestError("Enter your full legal name (first and last).", param="legal_name")
    today = clock.today()
    if not dt.date(1900, 1, 1) <= date_of_birth < today:
        raise InvalidRequestError("Enter your real date of birth.", param="date_of_birth")
    if not re.fullmatch(r"[0-9]{4}", national_id_last4 or ""):
        raise InvalidRequestError("Enter the last 4 digits of your national id.", param="national_id_last4")
    fields = {
        "legal_name": legal_name.strip(),
        "date_of_birth": date_of_birth,
        "address_line1": address_line1.strip(),
        "address_line2": address_line2.strip(),
        "city": city.strip(),
        "region": region.strip(),
        "postal_code": postal_code.strip(),
        "country": country.upper(),
        "national_id_last4": national_id_last4,
        "verified_at": clock.now(),
    }
    with transaction.atomic():
        identity, created = Identity.objects.update_or_create(consumer=consumer, defaults=fields)
        change_record(
            action="consumer.identity_verified",
            instance=consumer,
            data={**consumer_data(consumer), "identity_verified": True, "first_time": created},
            actor=Actor(kind="consumer", identifier=consumer.public_id, label=str(consumer)),
        )
    return identity


def consumer_data(consumer: Consumer) -> dict[str, object]:
    """The consumer as events record it: no contact details (they stay in the database)."""
    return {
        "id": consumer.public_id,
        "object": "consumer",
        "status": consumer.status,
        "email_verified": consumer.email_verified_at is not None,
        "phone_verified": consumer.phone_verified_at is not None,
        "notify_by_email": consumer.notify_by_email,
        "notify_by_sms": consumer.notify_by_sms,
        "created_at": consumer.created_at.isoformat(),
    }


def consumer_preferences_update(*, consumer: Consumer, notify_by_email: bool, notify_by_sms: bool) -> Consumer:
    """Which channels reminders and notices use (one-time codes always go where the consumer asks)."""
    with transaction.atomic():
        consumer = Consumer.objects.select_for_update().get(pk=consumer.pk)
        before = consumer_data(consumer)
        consumer.notify_by_email, consumer.notify_by_sms = notify_by_email, notify_by_sms
        consumer.save(update_fields=["notify_by_email", "notify_by_sms", "updated_at"])
        change_record(
            action="consumer.preferences_updated",
            instance=consumer,
            before=before,
            data=consumer_data(consumer),
            merchant=None,
            livemode=False,
        )
    return consumer


def merchant_consumer_ensure(*, merchant: Any, livemode: bool, consumer: Consumer) -> MerchantConsumer:
    """The merchant's id for this consumer, made when they first confirm a purchase there (the
    checkout's authorization calls this; opening a checkout does not). Safe to race."""
    link = MerchantConsumer.objects.filter(merchant=merchant, livemode=livemode, consumer=consumer).first()
    if link is not None:
        return link
    try:
        with transaction.atomic():
            link = MerchantConsumer.objects.create(merchant=merchant, livemode=livemode, consumer=consumer)
            change_record(
                action="merchant_consumer.created", instance=link, data=representations.merchant_consumer_data(link)
            )
    except IntegrityError:
        return MerchantConsumer.objects.get(merchant=merchant, livemode=livemode, consumer=consumer)
    return link


def one_time_codes_purge() -> int:
    """Delete codes a day past expiry: nothing can use them and the throttle no longer counts them."""
    deleted, _ = OneTimeCode.objects.filter(expires_at__lt=clock.now() - dt.timedelta(days=1)).delete()
    return deleted
