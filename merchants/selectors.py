"""Reads of merchant-owned data. Every selector takes ``merchant=`` (and ``livemode=`` where the
data has modes); another merchant's object is simply not found. Cross-tenant reads are named
``dangerously_…``."""

from __future__ import annotations

import hashlib
import hmac
from typing import TypeVar

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, QuerySet

from bnpl.core.errors import NotFoundError
from bnpl.core.event_types import merchant_visible_types
from bnpl.core.ids import is_well_formed
from bnpl.core.keys import api_key_hash_secrets
from bnpl.core.models import Event
from merchants.models import ApiKey, Membership, Merchant, WebhookEndpoint

OwnedModel = TypeVar("OwnedModel", bound=Model)


def api_key_hash(token: str, *, secret: str | None = None) -> str:
    """HMAC-SHA256 of a token (API key or invitation) under the current API-key hash secret."""
    key = secret if secret is not None else api_key_hash_secrets()[0]
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()


def api_key_hashes(token: str) -> list[str]:
    """The token's hash under the current secret and under each fallback (during a rotation)."""
    return [api_key_hash(token, secret=secret) for secret in api_key_hash_secrets()]


def dangerously_api_key_get_by_token(*, token: str) -> ApiKey | None:
    """Find the key for a presented token, across merchants: this is how a request finds its tenant.
    During a rotation of the hash secret a key stored under a fallback is found too (and re-hashed
    by ``merchants.services.api_key_rehash``)."""
    return ApiKey.objects.select_related("merchant").filter(token_hash__in=api_key_hashes(token)).first()


def scoped_queryset(model: type[OwnedModel], *, merchant: Merchant, livemode: bool) -> QuerySet[OwnedModel]:
    """The one place merchant-owned rows are filtered by tenant and mode: the rows the merchant may
    see, by list or by id alike. ``model`` has ``merchant`` and ``livemode`` fields
    (``MerchantOwnedModel`` or the outbox ``Event``). Deleted rows are hidden, and so are events of
    types not registered as merchant-visible (credit decisions, collections, consumers' and
    operators' actions carry the merchant for routing, not for the merchant to read)."""
    queryset = model._default_manager.filter(merchant=merchant, livemode=livemode)
    if any(field.name == "deleted_at" for field in model._meta.get_fields()):
        queryset = queryset.filter(deleted_at__isnull=True)
    if model is Event:
        queryset = queryset.filter(type__in=merchant_visible_types())
    return queryset


def scoped_get(model: type[OwnedModel], *, merchant: Merchant, livemode: bool, public_id: str) -> OwnedModel:
    if not is_well_formed(public_id):
        raise NotFoundError(f"No such {model._meta.verbose_name}.", param="id")
    try:
        return scoped_queryset(model, merchant=merchant, livemode=livemode).get(public_id=public_id)
    except ObjectDoesNotExist:
        raise NotFoundError(f"No such {model._meta.verbose_name}: {public_id!r}.", param="id") from None


def webhook_endpoint_list(*, merchant: Merchant, livemode: bool) -> QuerySet[WebhookEndpoint]:
    return scoped_queryset(WebhookEndpoint, merchant=merchant, livemode=livemode)


def api_key_list(*, merchant: Merchant) -> QuerySet[ApiKey]:
    """All of the merchant's keys, both modes (the dashboard shows test and live together)."""
    return ApiKey.objects.filter(merchant=merchant).order_by("livemode", "kind", "-created_at")


def api_key_get(*, merchant: Merchant, public_id: str) -> ApiKey | None:
    if not is_well_formed(public_id):
        return None
    return api_key_list(merchant=merchant).filter(public_id=public_id).first()


def event_list(*, merchant: Merchant, livemode: bool, type: str | None = None) -> QuerySet[Event]:
    queryset = scoped_queryset(Event, merchant=merchant, livemode=livemode)
    if type:
        queryset = queryset.filter(type=type)
    return queryset


def memberships_for_user(*, user_id: int) -> QuerySet[Membership]:
    return Membership.objects.select_related("merchant").filter(user_id=user_id).order_by("merchant__name")


def membership_for_user(*, user_id: int, merchant_public_id: str | None = None) -> Membership | None:
    """The membership a signed-in user acts through (their first merchant unless one is named)."""
    queryset = Membership.objects.select_related("merchant", "user").filter(user_id=user_id).order_by("created_at")
    if merchant_public_id is not None:
        if not is_well_formed(merchant_public_id):
            return None
        queryset = queryset.filter(merchant__public_id=merchant_public_id)
    return queryset.first()


def two_factor_required_for(*, user_id: int) -> bool:
    """Whether this user must enroll a second factor before using the dashboard: an owner of any
    merchant while MERCHANT_OWNER_TWO_FACTOR_REQUIRED is on (owners manage the team, keys and payout
    bank accounts). Others may enroll; once they have, every sign-in asks them for a code too."""
    return bool(settings.MERCHANT_OWNER_TWO_FACTOR_REQUIRED) and (
        Membership.objects.filter(user_id=user_id, role=Membership.Role.OWNER).exists()
    )
