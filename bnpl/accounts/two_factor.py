"""The second factor of staff and merchant users: an authenticator app (TOTP, RFC 6238, through
django-otp) with single-use backup codes beside it.

Each user has at most one confirmed authenticator device and one set of backup codes. Enrolling
takes two steps so that nobody is locked out by a key they never scanned: a pending (unconfirmed)
device whose key the person adds to their app, then a code from the app confirms it. Only then is
it enforced, and only then are the backup codes made — shown once, to that person.

A session has passed the second factor when django-otp's session entry names one of the user's
confirmed devices (``request.user.is_verified()``, set up by ``django_otp.middleware.OTPMiddleware``);
``second_factor_login`` records it after a right code. Wrong codes slow down per device (django-otp's
throttling: a growing wait after each failure), on top of the password lockout (django-axes).

Every enrollment and removal writes an audit row and an event (``two_factor.enrolled`` /
``two_factor.removed``) in the transaction of the change.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

import segno
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from bnpl.accounts.models import User
from bnpl.core.errors import InvalidRequestError
from bnpl.core.services import audit_log_record, event_emit

AUTHENTICATOR_NAME = "Authenticator app"
BACKUP_CODES_NAME = "Backup codes"
BACKUP_CODE_COUNT = 10
TOTP_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class AuthenticatorSetup:
    """What a person needs to add a pending device to their app: the QR code (an SVG data URI) of
    the otpauth:// URI, and the same key to type by hand (base32, in groups of four)."""

    otpauth_uri: str
    manual_key: str
    qr_data_uri: str


# --- Reads -----------------------------------------------------------------------------------------


def authenticator_for(user: Any) -> TOTPDevice | None:
    """The user's confirmed authenticator device, if they enrolled one."""
    if not getattr(user, "pk", None):
        return None
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).order_by("pk").first()


def pending_authenticator_for(user: Any) -> TOTPDevice | None:
    """The authenticator waiting for its first code, if enrollment started."""
    return TOTPDevice.objects.filter(user_id=user.pk, confirmed=False).order_by("pk").first()


def has_second_factor(user: Any) -> bool:
    """Whether the user has enrolled: then every sign-in asks for a code, required or not."""
    return bool(getattr(user, "pk", None)) and TOTPDevice.objects.filter(user_id=user.pk, confirmed=True).exists()


def is_verified(request: HttpRequest) -> bool:
    """Whether this session passed the second factor (OTPMiddleware's answer; False without it)."""
    user = getattr(request, "user", None)
    check = getattr(user, "is_verified", None)
    return bool(check and check())


def operator_two_factor_required() -> bool:
    return bool(settings.OPERATOR_TWO_FACTOR_REQUIRED)


def operator_verified(request: HttpRequest) -> bool:
    """The operators' gate beside ``is_staff``, for the admin and the operators' API: the session
    passed the second factor. With OPERATOR_TWO_FACTOR_REQUIRED off (never in production), an
    operator who has not enrolled passes on the password alone; one who has enrolled never does."""
    if is_verified(request):
        return True
    return not operator_two_factor_required() and not has_second_factor(request.user)


def backup_codes_for(user: User) -> list[str]:
    """The backup codes not used yet (for the demo's printout; people see theirs once, on enrolling)."""
    return list(
        StaticToken.objects.filter(device__user=user, device__confirmed=True)
        .order_by("pk")
        .values_list("token", flat=True)
    )


def authenticator_setup(device: TOTPDevice) -> AuthenticatorSetup:
    uri = device.config_url
    key = base64.b32encode(device.bin_key).decode()
    return AuthenticatorSetup(
        otpauth_uri=uri,
        manual_key=" ".join(key[index : index + 4] for index in range(0, len(key), 4)),
        qr_data_uri=segno.make(uri, error="m").svg_data_uri(scale=4, border=2),
    )


# --- Writes ----------------------------------------------------------------------------------------


def authenticator_enrollment_start(*, user: User) -> TOTPDevice:
    """The pending device the person scans: the same one until it is confirmed (reloading the page
    shows the same key), a fresh key once it was. Not audited: it protects nothing until confirmed."""
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)  # one pending device per user, however many tabs
        pending = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
        if pending is None:
            pending = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
    return pending


def authenticator_enrollment_confirm(*, user: User, token: str) -> tuple[TOTPDevice, list[str]]:
    """Confirm the pending device with a code from the app: it replaces any earlier authenticator,
    and a new set of backup codes replaces the old. Returns the device and the backup codes (to be
    shown once)."""
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        pending = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("pk").first()
        if pending is None:
            raise InvalidRequestError(
                "Start again: there is no authenticator waiting to be confirmed.", code="no_pending_device"
            )
        if not TOTP_CODE.match(_normalized(token)) or not pending.verify_token(_normalized(token)):
            raise InvalidRequestError(
                "That code is not right. Enter the 6 digits your app shows now.", code="invalid_code", param="token"
            )
        return _enroll(user=user, device=pending, method="authenticator_app")


def authenticator_issue(*, user: User) -> tuple[TOTPDevice, list[str]]:
    """A confirmed authenticator made at once, for a person who cannot enroll through a page: an
    operator (``manage.py two_factor_enroll``, whose output goes only to whoever runs it) or the
    demo's accounts. Replaces any earlier authenticator and backup codes."""
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR_NAME, confirmed=False)
        return _enroll(user=user, device=device, method="issued")


def two_factor_remove(*, user: User) -> bool:
    """Remove the user's authenticator and backup codes (a lost phone, or the person's own wish).
    Their sessions stop counting as verified at once. False when there was nothing to remove."""
    with transaction.atomic():
        User.objects.select_for_update().get(pk=user.pk)
        authenticators = TOTPDevice.objects.filter(user=user)
        had_second_factor = authenticators.filter(confirmed=True).exists()
        authenticators.delete()
        StaticDevice.objects.filter(user=user).delete()
        if had_second_factor:
            _record(action="two_factor.removed", user=user, before={"enrolled": True}, data={"enrolled": False})
    return had_second_factor


def second_factor_verify(*, user: User, token: str) -> Device | None:
    """The device that accepts ``token`` — six digits go to the authenticator, anything else to the
    backup codes (each works once) — or None. Each device counts its own failures and makes the
    next try wait longer (django-otp's throttling)."""
    token = _normalized(token)
    if not token:
        return None
    model: type[TOTPDevice] | type[StaticDevice] = TOTPDevice if TOTP_CODE.match(token) else StaticDevice
    with transaction.atomic():
        device = model.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk").first()
        if device is None or not device.verify_token(token):
            return None
    return device


def second_factor_wait_seconds(*, user: User) -> int:
    """How long until the authenticator accepts another try after wrong codes (0: now)."""
    device = authenticator_for(user)
    if device is None:
        return 0
    allowed, details = device.verify_is_allowed()
    if allowed or not details:
        return 0
    locked_until = details.get("locked_until")
    return max(1, int((locked_until - timezone.now()).total_seconds())) if locked_until else 1


def second_factor_login(request: HttpRequest, device: Device) -> None:
    """Mark this session as past the second factor (and give it a new key: the half-signed-in
    session's key is not the one that goes on)."""
    request.session.cycle_key()
    otp_login(request, device)


# --- Helpers ---------------------------------------------------------------------------------------


def _normalized(token: str) -> str:
    return re.sub(r"[\s-]", "", str(token or "")).lower()


def _enroll(*, user: User, device: TOTPDevice, method: str) -> tuple[TOTPDevice, list[str]]:
    """Inside the caller's transaction: make ``device`` the user's one authenticator, with fresh
    backup codes, and record it."""
    replaced = TOTPDevice.objects.filter(user=user, confirmed=True).exclude(pk=device.pk).exists()
    TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    StaticDevice.objects.filter(user=user).delete()
    backup = StaticDevice.objects.create(user=user, name=BACKUP_CODES_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create([StaticToken(device=backup, token=code) for code in codes])
    _record(
        action="two_factor.enrolled",
        user=user,
        before={"enrolled": replaced},
        data={"enrolled": True, "method": method, "replaced": replaced, "backup_codes": len(codes)},
    )
    return device, codes


def _record(*, action: str, user: User, before: dict[str, Any], data: dict[str, Any]) -> None:
    """Audit row and event for a change to a person's second factor. Named by the user (the
    devices come and go); not merchant-visible, and no secret ever goes in."""
    payload = {"user": str(user.pk), "operator": bool(user.is_staff), **data}
    audit_log_record(action=action, instance=user, before=before, after=payload)
    event_emit(type=action, instance=user, data=payload)
