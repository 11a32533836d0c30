"""Signing the consumer's app in and out, on the web's one-time codes (``consumers.services``: the
same rules and limits) and the app's own tokens (``consumers.token_families``).

1. ``app_sign_in_code_request``: a code to the email or phone, bound to a sign-in token the app
   keeps until it enters the code (the app's counterpart of the browser session a web code is
   bound to: only the holder can enter the code, and only its next request supersedes it).
2. ``app_sign_in``: the code checked, then in the same transaction the device registered (or
   resumed with its secret) and a token family started.
3. ``app_principal``: who an access token speaks for, checked against the database on every
   request (the family not revoked, the device not denied or revoked, the consumer active).
4. ``app_sign_out`` (this device's tokens) and ``app_sign_out_everywhere`` (every device's).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from bnpl.core.errors import AuthenticationError
from bnpl.core.transactions import service_atomic
from consumers.app_tokens import TokenKind, token_decode
from consumers.devices import device_register, device_resume
from consumers.models import Consumer, Device, RefreshTokenFamily
from consumers.services import (
    Destination,
    Requester,
    one_time_code_request,
    one_time_code_verify_then,
)
from consumers.token_families import TokenPair, families_revoke, family_start, usable_check

SIGN_IN_TOKEN_BYTES = 32


@dataclass(frozen=True)
class DeviceInput:
    name: str
    platform: str
    push_token: str = ""
    device_id: str = ""  # a device registered before, signing in again
    device_secret: str = ""


@dataclass(frozen=True)
class SignIn:
    consumer: Consumer
    device: Device
    device_secret: str | None  # only when the device was registered by this sign-in
    tokens: TokenPair


@dataclass(frozen=True)
class AppPrincipal:
    """``request.user`` on the consumer app API."""

    consumer: Consumer
    device: Device
    family: RefreshTokenFamily

    is_authenticated = True


def sign_in_owner(destination: Destination) -> str:
    """Whose idempotency keys a sign-in request's are, before anyone is signed in: the address's
    (hashed: the key table does not need the address itself)."""
    return "sign_in:" + hashlib.sha256(destination.address.encode()).hexdigest()[:40]


def new_sign_in_token() -> str:
    return secrets.token_urlsafe(SIGN_IN_TOKEN_BYTES)


def app_sign_in_code_request(*, identifier: str, sign_in_token: str, address: str) -> Destination:
    """Send a sign-in code to ``identifier``, bound to ``sign_in_token`` (limits as on the web,
    counted for the client ``address``)."""
    return one_time_code_request(
        identifier=identifier, requester=Requester(session_token=sign_in_token, address=address)
    )


def app_sign_in(*, identifier: str, code: str, sign_in_token: str, address: str, device: DeviceInput) -> SignIn:
    """Check the code (wrong attempts count and commit, as on the web), then bind the device and
    start its tokens in the transaction that consumes the code. Call outside a transaction."""

    def bind(consumer: Consumer) -> SignIn:
        if device.device_id:
            bound, secret = (
                device_resume(consumer=consumer, public_id=device.device_id, secret=device.device_secret),
                None,
            )
        else:
            bound, secret = device_register(
                consumer=consumer, name=device.name, platform=device.platform, push_token=device.push_token
            )
        return SignIn(
            consumer=consumer, device=bound, device_secret=secret, tokens=family_start(consumer=consumer, device=bound)
        )

    return one_time_code_verify_then(
        identifier=identifier,
        code=code,
        requester=Requester(session_token=sign_in_token, address=address),
        then=bind,
    )


def app_principal(*, access_token: str) -> AppPrincipal:
    """The consumer, device and family an access token speaks for, if they still may."""
    claims = token_decode(access_token, kind=TokenKind.ACCESS)
    family = (
        RefreshTokenFamily.objects.select_related("consumer", "device")
        .filter(public_id=claims.family, consumer__public_id=claims.consumer, device__public_id=claims.device)
        .first()
    )
    if family is None:
        raise AuthenticationError("The token is not valid.", code="token_invalid")
    usable_check(family)
    return AppPrincipal(consumer=family.consumer, device=family.device, family=family)


def app_sign_out(*, principal: AppPrincipal) -> int:
    """End this device's tokens (every sign-in of the app on it); the device stays trusted and
    signs in again with a code and its device secret. Returns how many families ended."""
    with service_atomic():
        return families_revoke(
            families=RefreshTokenFamily.objects.filter(device=principal.device),
            reason=RefreshTokenFamily.RevokedReason.SIGNED_OUT,
        )


def app_sign_out_everywhere(*, consumer: Consumer) -> int:
    """End the app's tokens on every device of the consumer (this one too)."""
    with service_atomic():
        return families_revoke(
            families=RefreshTokenFamily.objects.filter(consumer=consumer),
            reason=RefreshTokenFamily.RevokedReason.SIGNED_OUT_EVERYWHERE,
        )
