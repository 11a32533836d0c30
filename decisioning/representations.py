"""What a data partner (``partners.DataPartner``) sees of a consent the consumer granted it: the
consumer's id, what it may share (bank transactions, for credit decisions) and until when. The same
shape is the partner API's answer and the consent events' data."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from decisioning.models import BankDataConsent

SHARES = "bank_transactions"
PURPOSE = "credit_decisions"


class PartnerConsentRepresentation(serializers.Serializer[BankDataConsent]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    partner = serializers.CharField(source="source.partner.public_id")
    consumer = serializers.CharField(source="consumer.public_id", help_text="The consumer's id (con_…)")
    livemode = serializers.BooleanField()
    shares = serializers.SerializerMethodField(help_text="What you may send: bank_transactions")
    purpose = serializers.SerializerMethodField(help_text="What it is used for: credit_decisions")
    granted_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    status = serializers.CharField(help_text="active, expired or revoked")

    def get_object(self, instance: BankDataConsent) -> str:
        return "data_partner_consent"

    def get_shares(self, instance: BankDataConsent) -> str:
        return SHARES

    def get_purpose(self, instance: BankDataConsent) -> str:
        return PURPOSE


def partner_consent_data(consent: BankDataConsent) -> dict[str, Any]:
    return dict(PartnerConsentRepresentation(consent).data)
