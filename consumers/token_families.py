"""Refresh-token families of the consumer app: one per sign-in on a device (``RefreshTokenFamily``).

A family hands out an access token and a refresh token; each refresh rotates both, and only the
newest refresh token of a family is accepted. A refresh token presented again after it was rotated
means two parties hold it (the app and a thief, or two copies of the app): the whole family is
revoked, so neither keeps access, and the consumer signs in again (OWASP / RFC 6819 §5.2.2.3,
"refresh token rotation with reuse detection"). Every change is audited and emitted as an event.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass

from django.db.models import QuerySet

from bnpl.core import clock
from bnpl.core.context import consumer_actor
from bnpl.core.errors import AuthenticationError, PermissionDeniedError
from bnpl.core.services import change_record
from bnpl.core.transactions import service_atomic
from consumers.app_tokens import TokenKind, token_decode, token_encode
from consumers.models import Consumer, Device, RefreshTokenFamily


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    access_token_expires_at: dt.datetime
    refresh_token: str
    refresh_token_expires_at: dt.datetime
    family: RefreshTokenFamily


@dataclass(frozen=True)
class RefreshOutcome:
    """A refresh either rotates the family (``pair``) or finds a reused token and revokes the family
    (``pair`` is None): the revocation must commit, so it is a result, not an error."""

    pair: TokenPair | None


def family_data(family: RefreshTokenFamily) -> dict[str, object]:
    """The family as events record it: never a token."""
    return {
        "id": family.public_id,
        "object": "refresh_token_family",
        "consumer": family.consumer.public_id,
        "device": family.device.public_id,
        "generation": family.generation,
        "revoked_at": family.revoked_at.isoformat() if family.revoked_at else None,
        "revoked_reason": family.revoked_reason or None,
        "created_at": family.created_at.isoformat(),
    }


def _new_token_id() -> str:
    return secrets.token_urlsafe(24)


def _pair(family: RefreshTokenFamily, now: dt.datetime) -> TokenPair:
    common = {"consumer": family.consumer.public_id, "device": family.device.public_id, "family": family.public_id}
    access, access_expires = token_encode(kind=TokenKind.ACCESS, token_id=_new_token_id(), now=now, **common)
    refresh, refresh_expires = token_encode(kind=TokenKind.REFRESH, token_id=family.current_jti, now=now, **common)
    return TokenPair(
        access_token=access,
        access_token_expires_at=access_expires,
        refresh_token=refresh,
        refresh_token_expires_at=refresh_expires,
        family=family,
    )


def family_start(*, consumer: Consumer, device: Device) -> TokenPair:
    """A new family for a sign-in on ``device``, and its first pair. Call inside a transaction."""
    now = clock.now()
    family = RefreshTokenFamily(consumer=consumer, device=device, current_jti=_new_token_id())
    family.save()
    Device.objects.filter(pk=device.pk).update(last_used_at=now)
    change_record(
        action="refresh_token_family.created",
        instance=family,
        data=family_data(family),
        merchant=None,
        actor=consumer_actor(consumer.public_id),
    )
    return _pair(family, now)


def family_refresh(*, refresh_token: str) -> RefreshOutcome:
    """Exchange a refresh token for a new pair, or revoke its family if it was used before. Expired,
    forged or revoked tokens are refused (AuthenticationError, naming ``refresh_token``)."""
    claims = token_decode(refresh_token, kind=TokenKind.REFRESH, param="refresh_token")
    now = clock.now()
    with service_atomic():
        family = (
            RefreshTokenFamily.objects.select_for_update(of=("self",))
            .select_related("consumer", "device")
            .filter(public_id=claims.family, consumer__public_id=claims.consumer, device__public_id=claims.device)
            .first()
        )
        if family is None:
            raise AuthenticationError("The token is not valid.", code="token_invalid", param="refresh_token")
        usable_check(family, param="refresh_token")
        if not hmac.compare_digest(family.current_jti, claims.token_id):
            families_revoke(
                families=RefreshTokenFamily.objects.filter(pk=family.pk),
                reason=RefreshTokenFamily.RevokedReason.REUSE_DETECTED,
            )
            return RefreshOutcome(pair=None)
        before = family_data(family)
        family.current_jti = _new_token_id()
        family.generation += 1
        family.refreshed_at = family.updated_at = now
        family.save(update_fields=["current_jti", "generation", "refreshed_at"])
        Device.objects.filter(pk=family.device_id).update(last_used_at=now)
        change_record(
            action="refresh_token_family.rotated",
            instance=family,
            before=before,
            data=family_data(family),
            merchant=None,
        )
        return RefreshOutcome(pair=_pair(family, now))


def usable_check(family: RefreshTokenFamily, *, param: str | None = None) -> None:
    """Refuse a family that was revoked, whose device ended, or whose consumer may not sign in."""
    if family.revoked_at is not None:
        raise AuthenticationError(
            "You were signed out on this device. Sign in again.", code="token_revoked", param=param
        )
    if not family.device.is_usable:
        raise AuthenticationError(
            "This device was removed from your account. Sign in again.", code="token_revoked", param=param
        )
    if family.consumer.status != Consumer.Status.ACTIVE:
        raise PermissionDeniedError("This account is closed. Contact support.", code="consumer_blocked")


def families_revoke(*, families: QuerySet[RefreshTokenFamily], reason: str) -> int:
    """Revoke every live family in ``families`` (their access and refresh tokens stop working at
    once); returns how many. Call inside a transaction."""
    now = clock.now()
    revoked = 0
    for family in (
        families.filter(revoked_at__isnull=True).select_related("consumer", "device").select_for_update(of=("self",))
    ):
        before = family_data(family)
        family.revoked_at, family.revoked_reason = now, reason
        family.save(update_fields=["revoked_at", "revoked_reason"])
        change_record(
            action="refresh_token_family.revoked",
            instance=family,
            before=before,
            data=family_data(family),
            merchant=None,
        )
        revoked += 1
    return revoked
