"""Reads of the merchant product's data (keys, webhook endpoints, events, the team). Every selector
takes ``merchant=`` (and ``livemode=`` where the data has modes) and scopes through
``bnpl.tenancy``; another merchant's object is simply not found."""

from __future__ import annotations

from django.conf import settings
from django.db.models import QuerySet

from bnpl.core.ids import is_well_formed
from bnpl.core.models import Event
from bnpl.tenancy.selectors import scoped_queryset
from merchants.models import (
    ApiKey,
    BankAccount,
    Branding,
    Invitation,
    Membership,
    Merchant,
    MerchantDocument,
    WebhookEndpoint,
)


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


def membership_list(*, merchant: Merchant) -> QuerySet[Membership]:
    """The merchant's team, oldest member first."""
    return Membership.objects.filter(merchant=merchant).select_related("user").order_by("created_at")


def membership_get(*, merchant: Merchant, public_id: str) -> Membership | None:
    return membership_list(merchant=merchant).filter(public_id=public_id).first()


def invitation_get(*, merchant: Merchant, public_id: str) -> Invitation | None:
    return Invitation.objects.filter(merchant=merchant, public_id=public_id).first()


def invitation_open_list(*, merchant: Merchant) -> list[Invitation]:
    """Invitations still waiting for their invitee (not accepted, revoked or expired)."""
    waiting = Invitation.objects.filter(merchant=merchant, accepted_at__isnull=True, revoked_at__isnull=True)
    return [invitation for invitation in waiting if invitation.is_open]


def bank_account_list(*, merchant: Merchant) -> QuerySet[BankAccount]:
    """The payout bank accounts on file (removed ones are kept for the record, not listed)."""
    return BankAccount.objects.filter(merchant=merchant, removed_at__isnull=True)


def bank_account_get(*, merchant: Merchant, public_id: str) -> BankAccount | None:
    return bank_account_list(merchant=merchant).filter(public_id=public_id).first()


def merchant_document_list(*, merchant: Merchant) -> QuerySet[MerchantDocument]:
    """The documents in the application (removed ones are kept for the record, not listed)."""
    return MerchantDocument.objects.filter(merchant=merchant, removed_at__isnull=True)


def merchant_document_get(*, merchant: Merchant, public_id: str) -> MerchantDocument | None:
    return merchant_document_list(merchant=merchant).filter(public_id=public_id).first()


def dangerously_merchant_logo_get(*, merchant_public_id: str) -> Branding | None:
    """Any merchant's branding by its public id, across tenants: the hosted checkout shows the logo
    to shoppers, so it is public. None when the merchant or its branding does not exist."""
    merchant = Merchant.objects.filter(public_id=merchant_public_id).select_related("branding").first()
    return getattr(merchant, "branding", None) if merchant else None


def branding_get(*, merchant: Merchant) -> Branding | None:
    """The merchant's branding, if it set any."""
    return Branding.objects.filter(merchant=merchant).first()


def branding_for(*, merchant: Merchant) -> Branding:
    """The merchant's branding for reading (unsaved defaults when none was set: reading never writes)."""
    return branding_get(merchant=merchant) or Branding(merchant=merchant)
