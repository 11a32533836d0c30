"""Public shapes of a consumer as one merchant knows them (``cus_…``, the merchant's own id) and of
the bank-data consent the merchant records for them: the partner API's responses and the event
payloads share them."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bnpl.tenancy.selectors import bank_data_consent_merchant_consumer_id, merchant_consumer_bank_data
from consumers.models import MerchantConsumer
from decisioning.models import BankDataConsent


class BankDataConsentRepresentation(serializers.Serializer[BankDataConsent]):
    """A consent as its source (the merchant that records it) sees it."""

    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    consumer = serializers.SerializerMethodField(help_text="Your id for the consumer (cus_…)")
    reference = serializers.CharField()
    granted_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_by = serializers.SerializerMethodField(
        help_text="source (you) or consumer (in their account: only they can grant it again); null unless revoked"
    )
    status = serializers.CharField(help_text="active, expired or revoked")
    scope = serializers.ChoiceField(
        choices=BankDataConsent.Scope.choices,
        help_text="source: your own decisions only; all_decisions: the consumer allowed every decision about "
        "them to use it (only they choose this, in their account)",
    )

    def get_object(self, instance: BankDataConsent) -> str:
        return "bank_data_consent"

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_consumer(self, instance: BankDataConsent) -> str | None:
        return bank_data_consent_merchant_consumer_id(instance)

    @extend_schema_field(serializers.ChoiceField(choices=BankDataConsent.RevokedBy.choices, allow_null=True))
    def get_revoked_by(self, instance: BankDataConsent) -> str | None:
        return instance.revoked_by or None


class BankDataSummary(serializers.Serializer[Any]):
    consent = BankDataConsentRepresentation(allow_null=True)
    transactions = serializers.IntegerField(help_text="Transactions you sent that we keep")
    latest_booked_on = serializers.DateField(allow_null=True)


class MerchantConsumerRepresentation(serializers.Serializer[MerchantConsumer]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    bank_data = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_object(self, instance: MerchantConsumer) -> str:
        return "consumer"

    @extend_schema_field(BankDataSummary)
    def get_bank_data(self, instance: MerchantConsumer) -> dict[str, Any]:
        sent = merchant_consumer_bank_data(instance)
        return dict(
            BankDataSummary(
                {"consent": sent.consent, "transactions": sent.transactions, "latest_booked_on": sent.latest_booked_on}
            ).data
        )


def merchant_consumer_data(link: MerchantConsumer) -> dict[str, Any]:
    return dict(MerchantConsumerRepresentation(link).data)


def bank_data_consent_data(consent: BankDataConsent) -> dict[str, Any]:
    return dict(BankDataConsentRepresentation(consent).data)
