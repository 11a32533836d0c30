"""Partner API endpoints for consumers as a merchant knows them (``cus_…``: a shopper who confirmed a
purchase at its checkout), and the alternative data the merchant sends for them: the bank-data
consent it collected (its own assertion: the data then feeds its own decisions only; the consumer
widens, revokes or grants again in their account) and the bank-transaction stream (JSON batches or
JSON lines)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Model
from drf_spectacular.utils import OpenApiExample, OpenApiRequest, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from bnpl.api.pagination import NewestFirstCursorPagination
from bnpl.api.parsers import JSONLinesParser, JSONLParser, SafeJSONParser
from bnpl.api.serializers import (
    InputSerializer,
    NoInput,
    StrictCharField,
    StrictChoiceField,
    StrictDateField,
    StrictDateTimeField,
    StrictIntegerField,
)
from bnpl.api.views import MerchantScopedApi
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.money import normalize_currency
from bnpl.tenancy.representations import BankDataConsentRepresentation, MerchantConsumerRepresentation
from bnpl.tenancy.selectors import merchant_consumer_list
from consumers.models import MerchantConsumer
from decisioning import bank_data
from decisioning.models import BankDataConsent, BankTransaction

# A billion in major units per transaction: far above any bank transaction, and low enough that a
# month's running totals can never overflow their columns.
BANK_MAX_AMOUNT = 10**11


class BankDataConsentInput(InputSerializer):
    reference = StrictCharField(max_length=200, help_text="Your own record of the consent (e.g. its id)")
    granted_at = StrictDateTimeField(help_text="When the consumer consented")
    expires_at = StrictDateTimeField(required=False, allow_null=True, default=None)


class BankTransactionInput(InputSerializer):
    id = StrictCharField(max_length=100, help_text="Your transaction id: sent again, it is skipped")
    account_id = StrictCharField(max_length=100)
    booked_on = StrictDateField()
    amount = StrictIntegerField(
        min_value=-BANK_MAX_AMOUNT,
        max_value=BANK_MAX_AMOUNT,
        help_text="Minor units: positive money in, negative money out",
    )
    currency = StrictCharField(max_length=3)
    balance_after = StrictIntegerField(
        required=False, allow_null=True, default=None, min_value=-BANK_MAX_AMOUNT, max_value=BANK_MAX_AMOUNT
    )
    category = StrictChoiceField(choices=BankTransaction.Category.choices, default=BankTransaction.Category.OTHER)
    description = StrictCharField(
        max_length=500, required=False, allow_blank=True, help_text="Accepted for convenience; never stored"
    )

    def validate_currency(self, value: str) -> str:
        try:
            return normalize_currency(value)
        except InvalidRequestError as error:
            raise serializers.ValidationError(error.message) from error


class BankTransactionBatchInput(InputSerializer):
    transactions = BankTransactionInput(many=True, allow_empty=False, max_length=bank_data.MAX_BATCH)  # type: ignore[call-arg]


class BankTransactionBatchRepresentation(serializers.Serializer[Any]):
    object = serializers.CharField(default="bank_transaction_batch")
    consumer = serializers.CharField()
    received = serializers.IntegerField()
    created = serializers.IntegerField(help_text="New transactions kept")
    duplicates = serializers.IntegerField(help_text="Transaction ids already received (skipped)")


TRANSACTION_EXAMPLE = {
    "id": "txn_0001",
    "account_id": "acc_checking",
    "booked_on": "2025-11-03",
    "amount": 310000,
    "currency": "USD",
    "balance_after": 452012,
    "category": "income",
}


class MerchantConsumerListApi(MerchantScopedApi):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="consumer_list", responses=MerchantConsumerRepresentation(many=True), tags=["consumers"]
    )
    def get(self, request: Request) -> Response:
        consumers = merchant_consumer_list(merchant=self.merchant, livemode=self.livemode)
        return self.paginated(consumers, MerchantConsumerRepresentation)


class MerchantConsumerDetailApi(MerchantScopedApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": MerchantConsumer}

    @extend_schema(operation_id="consumer_retrieve", responses=MerchantConsumerRepresentation, tags=["consumers"])
    def get(self, request: Request, id: str) -> Response:
        return Response(MerchantConsumerRepresentation(self.path_objects["id"]).data)


class BankDataConsentApi(MerchantScopedApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("consent_revoked_by_consumer",)}}
    path_models: ClassVar[dict[str, type[Model]]] = {"id": MerchantConsumer}

    @extend_schema(
        operation_id="consumer_bank_data_consent_record",
        description="Record (or renew) the consent the consumer gave on your site to share their bank data. "
        "Your record covers your own credit decisions only (`scope: source`); the consumer may widen it to all "
        "their decisions, revoke it or grant it again in their account. A consent the consumer revoked cannot be "
        "recorded again here (409 `consent_revoked_by_consumer`).",
        request=BankDataConsentInput,
        examples=[
            OpenApiExample(
                "Consent collected by your open-banking flow",
                value={"reference": "consent_8812", "granted_at": "2025-11-01T09:00:00Z"},
                request_only=True,
            )
        ],
        responses={201: BankDataConsentRepresentation},
        tags=["consumers"],
    )
    def post(self, request: Request, id: str) -> Response:
        data = BankDataConsentInput(data=request.data)
        data.is_valid(raise_exception=True)
        consent = bank_data.consent_record(link=self.path_objects["id"], **data.validated_data)
        return Response(BankDataConsentRepresentation(consent).data, status=status.HTTP_201_CREATED)


class BankDataConsentRevokeApi(MerchantScopedApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("no_consent",)}}
    path_models: ClassVar[dict[str, type[Model]]] = {"id": MerchantConsumer}

    @extend_schema(
        operation_id="consumer_bank_data_consent_revoke",
        request=None,
        responses=BankDataConsentRepresentation,
        tags=["consumers"],
    )
    def post(self, request: Request, id: str) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        consent = bank_data.consent_for_link(link=self.path_objects["id"])
        if consent is None:
            raise StateError("There is no consent to revoke.", code="no_consent")
        consent = bank_data.consent_revoke(consent=consent, revoked_by=BankDataConsent.RevokedBy.SOURCE)
        return Response(BankDataConsentRepresentation(consent).data)


class BankTransactionsApi(MerchantScopedApi):
    """The stream: a JSON batch ``{"transactions": [...]}`` or JSON lines (one transaction per line,
    ``Content-Type: application/x-ndjson`` or ``application/jsonl``), at most 1,000 a request."""

    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("consent_required",)}}

    path_models: ClassVar[dict[str, type[Model]]] = {"id": MerchantConsumer}
    parser_classes = [SafeJSONParser, JSONLinesParser, JSONLParser]

    @extend_schema(
        operation_id="consumer_bank_transactions_send",
        request={
            "application/json": BankTransactionBatchInput,
            "application/x-ndjson": OpenApiRequest(request=BankTransactionInput),  # one per line
        },
        responses={201: BankTransactionBatchRepresentation},
        examples=[OpenApiExample("A batch", value={"transactions": [TRANSACTION_EXAMPLE]}, request_only=True)],
        tags=["consumers"],
    )
    def post(self, request: Request, id: str) -> Response:
        data = BankTransactionBatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        link = self.path_objects["id"]
        result = bank_data.transactions_ingest(
            link=link,
            transactions=[
                bank_data.IncomingTransaction(**{key: value for key, value in item.items() if key != "description"})
                for item in data.validated_data["transactions"]
            ],
        )
        return Response(BankTransactionBatchRepresentation(result.as_dict()).data, status=status.HTTP_201_CREATED)
