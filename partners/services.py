"""Operators' writes on data partners and their keys: onboard, suspend, reinstate, issue a key,
revoke it. Each is audited and evented (``data_partner.*``, ``data_partner_key.*``: operators'
events, no merchant's).

Keys are made and hashed as merchant keys are (``bnpl.tenancy.keys.api_key_hash``, the same secrets
and their rotation) but with their own prefix (``dpk_test_`` / ``dpk_live_``), in their own table:
a partner key is never found by the merchant API's lookup, nor a merchant key by the partner API's.
The partner API reads the key's row on every request (``selectors.dangerously_partner_api_key_get``)
-- partners send batches, not checkout traffic -- so a revoked key or a suspended partner is refused
from the next request, well within the second a merchant key's caches allow."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.ids import ALPHABET
from bnpl.core.keys import api_key_hash_secrets, secret_fingerprint
from bnpl.core.services import change_record
from bnpl.tenancy.keys import api_key_hash, stored_key_rehash, stored_key_touch
from partners.models import DataPartner, PartnerApiKey

TOKEN_RANDOM_LENGTH = 32
TOKEN_PREFIX = "dpk_"


@dataclass(frozen=True)
class CreatedPartnerApiKey:
    api_key: PartnerApiKey
    token: str  # shown once


def data_partner_data(partner: DataPartner) -> dict[str, Any]:
    return {
        "id": partner.public_id,
        "object": "data_partner",
        "name": partner.name,
        "description": partner.description,
        "website": partner.website,
        "status": partner.status,
    }


def partner_api_key_data(api_key: PartnerApiKey) -> dict[str, Any]:
    return {
        "id": api_key.public_id,
        "object": "data_partner_key",
        "partner": api_key.partner.public_id,
        "livemode": api_key.livemode,
        "name": api_key.name,
        "token_hint": api_key.token_hint,
        "revoked_at": api_key.revoked_at.isoformat() if api_key.revoked_at else None,
    }


def data_partner_create(*, name: str, description: str = "", website: str = "") -> DataPartner:
    """Onboard a partner (active at once: the operator creating it has done the due diligence)."""
    name = name.strip()
    if not name:
        raise InvalidRequestError("A data partner needs a name.", param="name")
    with transaction.atomic():
        if DataPartner.objects.filter(name__iexact=name).exists():
            raise InvalidRequestError(f"A data partner named {name!r} exists.", code="name_taken", param="name")
        partner = DataPartner.objects.create(name=name[:200], description=description[:500], website=website)
        change_record(action="data_partner.created", instance=partner, data=data_partner_data(partner))
    return partner


def data_partner_suspend(*, partner: DataPartner) -> DataPartner:
    """Refuse every key of the partner from the next request; consumers can no longer grant it
    consent (what they granted stays theirs to revoke)."""
    return _set_status(partner, DataPartner.Status.SUSPENDED, "data_partner.suspended")


def data_partner_reinstate(*, partner: DataPartner) -> DataPartner:
    return _set_status(partner, DataPartner.Status.ACTIVE, "data_partner.reinstated")


def _set_status(partner: DataPartner, status: str, action: str) -> DataPartner:
    with transaction.atomic():
        partner = DataPartner.objects.select_for_update().get(pk=partner.pk)
        if partner.status == status:
            return partner
        before = data_partner_data(partner)
        partner.status = status
        partner.suspended_at = clock.now() if status == DataPartner.Status.SUSPENDED else None
        partner.save(update_fields=["status", "suspended_at", "updated_at"])
        change_record(action=action, instance=partner, before=before, data=data_partner_data(partner))
    return partner


def partner_api_key_create(
    *, partner: DataPartner, livemode: bool, name: str = "", created_by: Any = None
) -> CreatedPartnerApiKey:
    """Issue a key; the token is returned once and only its HMAC is kept."""
    if not partner.is_active:
        raise StateError("A suspended data partner cannot be issued keys.", code="partner_suspended")
    prefix = TOKEN_PREFIX + ("live_" if livemode else "test_")
    token = prefix + "".join(secrets.choice(ALPHABET) for _ in range(TOKEN_RANDOM_LENGTH))
    with transaction.atomic():
        api_key = PartnerApiKey.objects.create(
            partner=partner,
            livemode=livemode,
            name=name[:100],
            token_hash=api_key_hash(token),
            token_hash_secret=secret_fingerprint(api_key_hash_secrets()[0]),
            token_hint=f"{prefix}…{token[-4:]}",
            created_by=created_by,
        )
        change_record(
            action="data_partner_key.created", instance=api_key, livemode=livemode, data=partner_api_key_data(api_key)
        )
    return CreatedPartnerApiKey(api_key=api_key, token=token)


def partner_api_key_revoke(*, api_key: PartnerApiKey) -> PartnerApiKey:
    """Revoke a key: refused from the next request (no cache holds it). Revoking twice is a no-op."""
    with transaction.atomic():
        api_key = PartnerApiKey.objects.select_for_update().select_related("partner").get(pk=api_key.pk)
        if api_key.is_revoked:
            return api_key
        before = partner_api_key_data(api_key)
        api_key.revoked_at = clock.now()
        api_key.save(update_fields=["revoked_at", "updated_at"])
        change_record(
            action="data_partner_key.revoked",
            instance=api_key,
            before=before,
            livemode=api_key.livemode,
            data=partner_api_key_data(api_key),
        )
    return api_key


def partner_api_key_rehash(*, api_key: PartnerApiKey, token: str) -> None:
    """A key found under a fallback hash secret is stored under the current one (as merchant keys)."""
    stored_key_rehash(api_key, token=token)


def partner_api_key_touch(*, api_key: PartnerApiKey) -> None:
    """Record use, at most once a minute per key."""
    stored_key_touch(api_key)
