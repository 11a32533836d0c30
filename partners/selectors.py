"""Reads for data partners. Everything a partner may see goes through ``partner_consent_list``: the
consents in force that consumers granted *that* partner, in the key's mode. A consumer without one
is, to the partner, a consumer that does not exist (a 404, whether they exist or not)."""

from __future__ import annotations

from django.db.models import QuerySet

from bnpl.core import clock
from bnpl.core.ids import is_well_formed
from bnpl.tenancy.keys import api_key_hashes
from decisioning.models import BankDataConsent
from partners.models import DataPartner, PartnerApiKey


def dangerously_partner_api_key_get(*, token: str) -> PartnerApiKey | None:
    """The partner key for a presented token, across partners (how a request finds its partner),
    under the current hash secret or a fallback. Always reads the database: a revoked key or a
    suspended partner is refused from the next request."""
    return PartnerApiKey.objects.select_related("partner").filter(token_hash__in=api_key_hashes(token)).first()


def data_partner_list_grantable() -> QuerySet[DataPartner]:
    """The partners a consumer may grant consent to (active ones), by name."""
    return DataPartner.objects.filter(status=DataPartner.Status.ACTIVE).order_by("name")


def data_partner_get_grantable(*, public_id: str) -> DataPartner | None:
    if not is_well_formed(public_id):
        return None
    return data_partner_list_grantable().filter(public_id=public_id).first()


def partner_consent_list(*, partner: DataPartner, livemode: bool) -> QuerySet[BankDataConsent]:
    """The consents in force that consumers granted ``partner`` in this mode, newest first."""
    return (
        BankDataConsent.objects.filter(
            BankDataConsent.current_at(clock.now()), source__partner=partner, livemode=livemode
        )
        .select_related("source__partner", "consumer")
        .order_by("-created_at", "-pk")
    )


def partner_consent_for_consumer(*, partner: DataPartner, livemode: bool, consumer_id: str) -> BankDataConsent | None:
    """The consent in force from the consumer ``consumer_id`` (``con_…``) to ``partner``, or None --
    for a consumer who never granted it one, revoked it, let it expire, or does not exist."""
    if not is_well_formed(consumer_id):
        return None
    return partner_consent_list(partner=partner, livemode=livemode).filter(consumer__public_id=consumer_id).first()
