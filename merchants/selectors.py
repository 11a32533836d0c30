"""Reads of the merchant product's data (keys, webhook endpoints, events, the team). Every selector
takes ``merchant=`` (and ``livemode=`` where the data has modes) and scopes through
``bnpl.tenancy``; another merchant's object is simply not found."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from bnpl.core.ids import is_well_formed
from bnpl.core.models import Event
from bnpl.tenancy.selectors import scoped_queryset
from merchants.models import ApiKey, Membership, Merchant, WebhookEndpoint


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
