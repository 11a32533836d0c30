"""Consumer sign-up and sign-in with one-time codes.

A code is 6 digits, lives 10 minutes, allows 5 wrong attempts, and is kept only as an HMAC.
Verifying a code for an address that has no account yet creates the account (sign-up and sign-in
are one flow). A signed-in consumer's step-up (``one_time_code_confirm``, e.g. a saved card at a
new shop) uses the same codes and limits, bound to the browser session that asked as at sign-in.

Abuse design (security review, issue 13 item 5). Two goals pull against each other: guessing a
shopper's code must stay bounded, and a stranger who knows the shopper's email or number must not
be able to stop the shopper from signing in. Anyone can type anyone's address, so a limit that
counts *every* request or wrong guess for an address lets a stranger spend it: the old design,
where any request superseded the shopper's code and five wrong guesses from anywhere burned it,
was such a lockout. So:

1. A code belongs to the browser session that asked for it (``Requester.session_token``, hashed
   on the row). Only that session can enter it, and only that session's next request supersedes
   it: requests and guesses from other sessions neither replace nor use up the shopper's code.
2. Each limit is keyed by whom it should slow down, in ``bnpl.core.ratelimit`` counters, checked
   all-or-nothing (a request refused by one limit uses up none of the others, so a stranger refused
   for their address does not spend the shopper's quota):
   - per session and destination: one code per ``ONE_TIME_CODE_RESEND_SECONDS`` (60 s);
   - per destination and client: ``ONE_TIME_CODE_MAX_PER_HOUR`` codes (5) and
     ``ONE_TIME_CODE_FAILED_VERIFY_PER_CLIENT_PER_DAY`` wrong codes a day (10). The client is the
     client address (``bnpl.core.net.client_ip``), or "a recognized device" (point 3);
   - per destination, for unrecognized browsers: ``ONE_TIME_CODE_MAX_PER_DESTINATION_PER_HOUR``
     codes (15) and ``ONE_TIME_CODE_FAILED_VERIFY_PER_DAY`` wrong codes a day (30), high enough
     that a stranger from one or two addresses meets their own per-client caps first;
   - per client address, for unrecognized browsers, across destinations:
     ``ONE_TIME_CODE_MAX_PER_ADDRESS_PER_HOUR`` codes (30) and
     ``ONE_TIME_CODE_VERIFY_PER_ADDRESS_PER_HOUR`` codes entered (60);
   - platform-wide: ``ONE_TIME_CODE_GLOBAL_PER_MINUTE`` codes sent (600), a cost guard against
     SMS pumping.
   A wrong-code budget is reserved before the code is compared (so parallel guesses cannot
   overshoot it) and given back when the attempt was not a wrong guess.
3. A browser that signed in to a destination before carries a signed device cookie for it
   (``device_token``; OWASP's "device cookies" against lockout). For it, the per-destination and
   per-address caps do not apply, only its own (destination, device) caps: however many addresses
   a stranger hammers the destination from, a returning shopper signs in from their own browser.

Bounds, at the defaults. Brute force: every wrong guess from an unrecognized browser counts
against the destination's 30 a day, whatever the number of addresses, so a stranger gets at most
30 guesses in 24 hours at a code of 10^6 values: a success chance of 3 x 10^-5 a day (about 1.1% a
year of sustained, distributed guessing); from one address 10 a day (10^-5). A stolen device
cookie adds that device's 10. Lockout: a stranger from one or two addresses cannot lock anyone
out (their per-client caps bite at 5 codes an hour and 10 wrong codes a day, below the
destination's 15 and 30); one who spends the destination's caps from three or more addresses can
hold a shopper without a device cookie of it (a first sign-in on a new browser) out for up to 24
hours, never a recognized browser. Spam: at most 15 unsolicited codes an hour reach one address.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import re
import secrets
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F

from bnpl.core import clock, ratelimit
from bnpl.core.context import consumer_actor
from bnpl.core.errors import InvalidRequestError, PermissionDeniedError, RateLimitError, StateError
from bnpl.core.keys import one_time_code_hash_secrets
from bnpl.core.services import change_record
from bnpl.notifications import get_sender
from consumers.models import Channel, Consumer, Identity, OneTimeCode

CODE_DIGITS = 6
CODE_PATTERN = re.compile(rf"[0-9]{{{CODE_DIGITS}}}")  # ASCII digits only: str.isdigit() accepts "١٢٣" and "²"
HOUR, DAY = 3600, 86400
Accepted = TypeVar("Accepted")  # what a caller's work after an accepted code returns
RECOGNIZED_DEVICE = "device"


@dataclass(frozen=True)
class Destination:
    channel: str
    address: str  # lower-cased email or E.164 phone


@dataclass(frozen=True)
class Requester:
    """Who asks for or enters a code: the browser session's sign-in token (the code is bound to
    it), the client address (``bnpl.core.net.client_ip``), and the device cookie's value when the
    browser carries a valid one (the view checks its signature)."""

    session_token: str
    address: str
    device_token: str | None = None

    def __post_init__(self) -> None:
        if len(self.session_token) < 16:
            raise ValueError("a requester needs its session's sign-in token")

    def is_recognized_for(self, destination: Destination) -> bool:
        return self.device_token is not None and any(
            hmac.compare_digest(self.device_token, device_token(address=destination.address, secret=secret))
            for secret in one_time_code_hash_secrets()
        )

    def client_for(self, destination: Destination) -> str:
        """The client a per-(destination, client) cap counts: the address, or every browser that
        signed in to the destination before, together."""
        return RECOGNIZED_DEVICE if self.is_recognized_for(destination) else f"address:{self.address}"


def device_token(*, address: str, secret: str | None = None) -> str:
    """The device cookie's value for a destination, set (signed) by the view after a sign-in; keyed
    by ONE_TIME_CODE_HASH_SECRET (a fallback still recognizes devices during a rotation)."""
    key = secret if secret is not None else one_time_code_hash_secrets()[0]
    return hmac.new(key.encode(), f"device:{address}".encode(), hashlib.sha256).hexdigest()[:32]


def _requester_hashes(requester: Requester) -> list[str]:
    """The session's token under the current one-time-code secret first, then each fallback: the
    code is stored under the first and found under any (a code asked for just before a rotation)."""
    token = f"requester:{requester.session_token}".encode()
    return [hmac.new(secret.encode(), token, hashlib.sha256).hexdigest() for secret in one_time_code_hash_secrets()]


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


def _code_hash(destination: str, code: str, *, secret: str | None = None) -> str:
    """HMAC-SHA256 of a code under ONE_TIME_CODE_HASH_SECRET (its own secret, not SECRET_KEY)."""
    key = secret if secret is not None else one_time_code_hash_secrets()[0]
    return hmac.new(key.encode(), f"{destination}:{code}".encode(), hashlib.sha256).hexdigest()


def _code_matches(code_hash: str, destination: str, code: str) -> bool:
    """Whether ``code`` is the one hashed, under the current secret or a fallback (a code sent just
    before a rotation stays usable for its few minutes)."""
    return any(
        hmac.compare_digest(code_hash, _code_hash(destination, code, secret=secret))
        for secret in one_time_code_hash_secrets()
    )


def _wait_text(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 90 * 60:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 3600)} hours"


# --- The limits (see the module docstring) ------------------------------------------------------

# Policy name -> (error code, message; {wait} is filled in). Per-client policies are advertised in
# the RateLimit headers; per-destination and platform-wide ones would tell a stranger about the
# shopper's activity (or everyone's), so they are enforced silently.
_REFUSALS = {
    "code_resend": ("code_resend_too_soon", "A code was just sent. You can ask for another in {wait}."),
    "code_requests_client": (
        "code_hourly_limit",
        "Too many codes were sent to this address in the last hour. Try again in {wait}.",
    ),
    "code_requests_destination": (
        "code_destination_limit",
        "Too many codes were sent to this address in the last hour. Try again in {wait}.",
    ),
    "code_requests_address": (
        "code_address_limit",
        "Too many codes were asked for from your network. Try again in {wait}.",
    ),
    "code_requests_global": (
        "code_service_busy",
        "We are sending a great many codes just now. Try again in {wait}.",
    ),
    "code_verifies_address": (
        "code_verify_address_limit",
        "Too many codes were entered from your network. Try again in {wait}.",
    ),
    "code_failures_client": (
        "code_failed_verify_limit",
        "Too many wrong codes were entered for this address. Try again in {wait}.",
    ),
    "code_failures_destination": (
        "code_failed_verify_limit",
        "Too many wrong codes were entered for this address. Try again in {wait}.",
    ),
}


def _rate(name: str, limit: int, window: int, *, advertised: bool) -> ratelimit.Rate:
    return ratelimit.Rate(name=name, limit=limit, window=window, advertised=advertised)


def _request_checks(destination: Destination, requester: Requester) -> list[ratelimit.Check]:
    """The limits on sending a code, most specific first (the first that refuses names the error)."""
    resend = int(settings.ONE_TIME_CODE_RESEND_INTERVAL.total_seconds())
    address, client = destination.address, requester.client_for(destination)
    checks = [
        ratelimit.check(
            _rate("code_requests_client", settings.ONE_TIME_CODE_MAX_PER_HOUR, HOUR, advertised=True), address, client
        ),
    ]
    if not _last_code_used(destination, requester):
        checks.insert(
            0, ratelimit.check(_rate("code_resend", 1, resend, advertised=True), address, requester.session_token)
        )
    if not requester.is_recognized_for(destination):
        checks += [
            ratelimit.check(
                _rate(
                    "code_requests_destination",
                    settings.ONE_TIME_CODE_MAX_PER_DESTINATION_PER_HOUR,
                    HOUR,
                    advertised=False,
                ),
                address,
            ),
            ratelimit.check(
                _rate("code_requests_address", settings.ONE_TIME_CODE_MAX_PER_ADDRESS_PER_HOUR, HOUR, advertised=True),
                requester.address,
            ),
        ]
    checks.append(
        ratelimit.check(_rate("code_requests_global", settings.ONE_TIME_CODE_GLOBAL_PER_MINUTE, 60, advertised=False))
    )
    return checks


def _verify_checks(
    destination: Destination, requester: Requester
) -> tuple[list[ratelimit.Check], list[ratelimit.Check]]:
    """The limits on entering a code: (every check, the wrong-code budgets among them, which are
    given back when the attempt turns out not to be a wrong guess)."""
    address, client = destination.address, requester.client_for(destination)
    budgets = [
        ratelimit.check(
            _rate(
                "code_failures_client", settings.ONE_TIME_CODE_FAILED_VERIFY_PER_CLIENT_PER_DAY, DAY, advertised=True
            ),
            address,
            client,
        )
    ]
    if requester.is_recognized_for(destination):
        return budgets, budgets
    budgets.append(
        ratelimit.check(
            _rate("code_failures_destination", settings.ONE_TIME_CODE_FAILED_VERIFY_PER_DAY, DAY, advertised=False),
            address,
        )
    )
    per_address = ratelimit.check(
        _rate("code_verifies_address", settings.ONE_TIME_CODE_VERIFY_PER_ADDRESS_PER_HOUR, HOUR, advertised=True),
        requester.address,
    )
    return [per_address, *budgets], budgets


def _take(checks: Sequence[ratelimit.Check], *, param: str) -> None:
    verdict = ratelimit.take(checks)
    refusal = verdict.refusal
    if refusal is None:
        return
    code, message = _REFUSALS[refusal.rate.name]
    wait = verdict.retry_after
    raise RateLimitError(message.format(wait=_wait_text(wait)), retry_after=wait, code=code, param=param)


def _last_code_used(destination: Destination, requester: Requester) -> bool:
    """Whether this session's newest code for the address was used: its owner is here."""
    newest = (
        OneTimeCode.objects.filter(destination=destination.address, requester__in=_requester_hashes(requester))
        .order_by("-created_at", "-id")
        .first()
    )
    return newest is not None and newest.consumed_at is not None


# --- Asking for a code ----------------------------------------------------------------------------


def one_time_code_request(*, identifier: str, requester: Requester, note: str = "") -> Destination:
    """Send a fresh code bound to the requester's session, superseding that session's earlier
    codes for the address (never another session's). Limited as the module docstring says; the
    one-a-minute resend limit does not apply when this session's last code was just used (signing
    in, then a step-up at once). ``note`` is a sentence added to the message saying what the code
    is for (a step-up names the shop and the card)."""
    destination = destination_parse(identifier)
    _take(_request_checks(destination, requester), param="identifier")
    now = clock.now()
    requester_hash = _requester_hashes(requester)[0]
    with transaction.atomic():
        OneTimeCode.objects.filter(
            destination=destination.address,
            requester=requester_hash,
            consumed_at__isnull=True,
            invalidated_at__isnull=True,
        ).update(invalidated_at=now)
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        OneTimeCode.objects.create(
            channel=destination.channel,
            destination=destination.address,
            code_hash=_code_hash(destination.address, code),
            requester=requester_hash,
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


# --- Entering it ----------------------------------------------------------------------------------


class VerifyOutcome(StrEnum):
    ACCEPTED = "accepted"
    NO_CODE = "no_code"
    EXPIRED = "expired"
    LOCKED = "locked"  # burnt by earlier wrong attempts
    BURNT = "burnt"  # this wrong attempt was the last one allowed
    WRONG = "wrong"


WRONG_GUESSES = frozenset({VerifyOutcome.WRONG, VerifyOutcome.BURNT})

_OUTCOME_ERRORS = {
    VerifyOutcome.NO_CODE: ("No code is waiting for this address. Ask for a new code.", "code_not_requested"),
    VerifyOutcome.EXPIRED: ("This code has expired. Ask for a new code.", "code_expired"),
    VerifyOutcome.LOCKED: ("Too many wrong attempts. Ask for a new code.", "code_attempts_exceeded"),
    VerifyOutcome.BURNT: ("Too many wrong attempts. Ask for a new code.", "code_attempts_exceeded"),
}


def one_time_code_verify(*, identifier: str, code: str, requester: Requester) -> Consumer:
    """Check a code against the newest one this requester's session asked for; on success sign
    the consumer up (first time) or in. Wrong attempts are counted (and committed) before the error
    is raised; the last allowed wrong attempt burns the code."""
    return one_time_code_verify_then(
        identifier=identifier, code=code, requester=requester, then=lambda consumer: consumer
    )


def one_time_code_verify_then(
    *, identifier: str, code: str, requester: Requester, then: Callable[[Consumer], Accepted]
) -> Accepted:
    """``one_time_code_verify``, then ``then(consumer)`` in the transaction that consumes the code
    (the app's sign-in binds its device and starts its tokens there: all of it, or none of it and
    the code still usable). Must be called outside a transaction, as wrong attempts must commit."""
    destination = destination_parse(identifier)
    return _with_code(destination, code, "code", requester, lambda now: then(_consumer_sign_in(destination, now)))


def consumer_code_destination(consumer: Consumer) -> Destination:
    """Where a step-up code for a signed-in consumer goes: the account's own email, else its phone
    (the addresses it signs in with; never one typed at the step-up)."""
    if consumer.email:
        return Destination(channel=Channel.EMAIL, address=consumer.email)
    if consumer.phone:
        return Destination(channel=Channel.SMS, address=consumer.phone)
    raise StateError("Your account has no email address or phone.", code="no_code_destination")


def one_time_code_confirm(*, consumer: Consumer, code: str, requester: Requester, param: str = "code") -> None:
    """A step-up: check a fresh code sent to the signed-in consumer's own address (the newest one
    this requester's session asked for), without signing anyone in. Wrong attempts and limits count
    as at sign-in; errors name ``param``."""
    one_time_code_confirm_then(consumer=consumer, code=code, requester=requester, param=param, then=lambda: consumer)


def one_time_code_confirm_then(
    *, consumer: Consumer, code: str, requester: Requester, then: Callable[[], Accepted], param: str = "code"
) -> Accepted:
    """``one_time_code_confirm``, then ``then()`` in the transaction that consumes the code (a new
    device of the app trusted by it)."""
    return _with_code(consumer_code_destination(consumer), code, param, requester, lambda now: then())


def _with_code(
    destination: Destination,
    code: str,
    param: str,
    requester: Requester,
    accepted: Callable[[dt.datetime], Accepted],
) -> Accepted:
    """Judge ``code`` against the newest code this requester's session asked for at
    ``destination`` and, when right, run ``accepted`` in the same transaction that consumes it."""
    submitted = (code or "").strip()
    if not CODE_PATTERN.fullmatch(submitted):
        raise InvalidRequestError(
            f"Enter the {CODE_DIGITS}-digit code we sent you.", code="code_malformed", param=param
        )
    checks, wrong_code_budgets = _verify_checks(destination, requester)
    _take(checks, param=param)
    outcome = VerifyOutcome.NO_CODE
    try:
        now = clock.now()
        with transaction.atomic():
            one_time_code = (
                OneTimeCode.objects.select_for_update()
                .filter(destination=destination.address, requester__in=_requester_hashes(requester))
                .order_by("-created_at", "-id")
                .first()
            )
            outcome, remaining = _check(one_time_code, submitted, destination.address, now)
            if outcome is VerifyOutcome.ACCEPTED:
                return accepted(now)
    finally:
        if outcome not in WRONG_GUESSES:
            ratelimit.give_back(wrong_code_budgets)
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
    """Judge ``submitted`` against the requester's newest code for the address, whatever its
    state, so that a burnt or expired code keeps saying why rather than "no code"."""
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
    if _code_matches(one_time_code.code_hash, address, submitted):
        one_time_code.consumed_at = now
        one_time_code.save(update_fields=["consumed_at"])
        return VerifyOutcome.ACCEPTED, 0
    OneTimeCode.objects.filter(pk=one_time_code.pk).update(attempts=F("attempts") + 1)
    one_time_code.refresh_from_db(fields=["attempts"])
    remaining = settings.ONE_TIME_CODE_MAX_ATTEMPTS - one_time_code.attempts
    if remaining <= 0:
        one_time_code.invalidated_at = now
        one_time_code.save(update_fields=["invalidated_at"])
        return VerifyOutcome.BURNT, 0
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
    actor = consumer_actor(consumer.public_id)
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
    actor = consumer_actor(consumer.public_id)
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
    if not _is_full_name(legal_name):
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
            actor=consumer_actor(consumer.public_id),
        )
    return identity


# Scripts whose names are written without a space between family and given name (王小明, 김민수).
UNSPACED_NAME_SCRIPTS = ("CJK UNIFIED IDEOGRAPH", "HIRAGANA", "KATAKANA", "HANGUL")


def _is_full_name(legal_name: str) -> bool:
    """Two words or more, or two characters or more of a script that writes names unspaced."""
    name = legal_name.strip()
    if len(name.split()) >= 2:
        return True
    return len(name) >= 2 and all(
        unicodedata.name(character, "").startswith(UNSPACED_NAME_SCRIPTS) for character in name
    )


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


def one_time_codes_purge() -> int:
    """Delete codes a day past expiry: nothing can use them any more."""
    deleted, _ = OneTimeCode.objects.filter(expires_at__lt=clock.now() - dt.timedelta(days=1)).delete()
    return deleted
