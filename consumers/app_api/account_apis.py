"""Consumer app API, issue 20 item 3: the account's own resources, on the services of the portal's
pages (``consumers.account_views``, ``consumers.data_sharing_views``): notification preferences,
cards (added through the gateway's own SDK, never a card number through us), credit decisions with
their reasons, receipts (payments and refunds, each with its PDF), and bank-data consents."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from django.db.models import Model
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from bnpl.api.pagination import NewestFirstCursorPagination
from bnpl.api.serializers import InputSerializer, NoInput, StrictBooleanField, StrictCharField, StrictChoiceField
from bnpl.core import clock
from bnpl.core.errors import ConflictError, InvalidRequestError
from bnpl.payments.gateways import get_gateway, takes_cards_in_browser
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.selectors import payment_method_list
from bnpl.payments.services import card_setup_start, payment_method_from_setup, payment_method_make_default
from consumers import documents, selectors, services
from consumers.app_api.base import ConsumerAppApi
from consumers.app_api.plan_apis import PDF, pdf_response
from consumers.app_api.representations import (
    BankDataConsentRepresentation,
    CardDefaultRepresentation,
    CardRepresentation,
    CardSetupRepresentation,
    DecisionRepresentation,
    PaymentRepresentation,
    PreferencesRepresentation,
)
from decisioning import bank_data
from decisioning.models import BankDataConsent, CreditDecision
from partners import selectors as partner_selectors

CARD_TAGS = ["cards"]
DECISION_TAGS = ["decisions"]
DOCUMENT_TAGS = ["documents"]
CONSENT_TAGS = ["bank-data consents"]
MODES = [("live", "Real cards, for live plans"), ("test", "Test-mode cards, for test plans only")]


# --- Notification preferences -----------------------------------------------------------------


class PreferencesInput(InputSerializer):
    notify_by_email = StrictBooleanField(help_text="Reminders and notices by email")
    notify_by_sms = StrictBooleanField(help_text="Reminders and notices by text message")


class PreferencesApi(ConsumerAppApi):
    @extend_schema(
        operation_id="app_preferences_retrieve",
        description="Which channels reminders and notices use (one-time codes always go where you ask).",
        responses=PreferencesRepresentation,
        tags=["profile"],
    )
    def get(self, request: Request) -> Response:
        return Response(PreferencesRepresentation(self.consumer).data)

    @extend_schema(
        operation_id="app_preferences_update",
        description="Choose the channels, as the portal's Preferences page does.",
        request=PreferencesInput,
        responses={200: PreferencesRepresentation},
        examples=[
            OpenApiExample("Email only", value={"notify_by_email": True, "notify_by_sms": False}, request_only=True)
        ],
        tags=["profile"],
    )
    def post(self, request: Request) -> Response:
        data = PreferencesInput(data=request.data)
        data.is_valid(raise_exception=True)
        consumer = services.consumer_preferences_update(consumer=self.consumer, **data.validated_data)
        return Response(PreferencesRepresentation(consumer).data)


# --- Cards ------------------------------------------------------------------------------------


def _livemode(mode: str | None, consumer: Any, *, param: str = "mode") -> bool:
    """The portal's choice of mode: as asked, else live unless the consumer has only test-mode things."""
    if mode is None:
        return selectors.has_live_mode(consumer=consumer) or not selectors.has_test_mode(consumer=consumer)
    if mode not in ("live", "test"):
        raise InvalidRequestError("mode: Must be live or test.", code="parameter_invalid", param=param)
    return mode == "live"


MODE_PARAMETER = OpenApiParameter(
    "mode",
    str,
    enum=["live", "test"],
    description="live: real cards; test: test-mode cards that pay test plans only. By default live, unless "
    "everything of yours is in test mode",
)


class CardAddInput(InputSerializer):
    setup_intent = StrictCharField(max_length=100, help_text="The setup the gateway's SDK confirmed (seti_…)")
    mode = StrictChoiceField(choices=MODES, default="live")


class CardListApi(ConsumerAppApi):
    pagination_class = NewestFirstCursorPagination
    listed_model = PaymentMethod
    handler_atomic = False  # the gateway is asked for the card, outside any transaction
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {400: ("invalid_request", "card_setup_incomplete"), 503: ("gateway_unavailable",)}
    }

    @extend_schema(
        operation_id="app_card_list",
        description="The consumer's saved cards of one mode, newest first; `is_default` marks the one payments use.",
        parameters=[MODE_PARAMETER],
        responses=CardRepresentation(many=True),
        tags=CARD_TAGS,
    )
    def get(self, request: Request) -> Response:
        livemode = _livemode(request.query_params.get("mode"), self.consumer)
        return self.paginated(payment_method_list(consumer=self.consumer, livemode=livemode), CardRepresentation)

    @extend_schema(
        operation_id="app_card_add",
        description="Save the card a setup confirmed (POST /cards/setup, then the gateway's SDK) as the default "
        "card of its mode: payments that stopped for want of a working card resume from it. Sending the same "
        "setup twice saves one card.",
        request=CardAddInput,
        responses={201: CardRepresentation},
        examples=[OpenApiExample("Confirmed", value={"setup_intent": "seti_1PqRsT2eZvKYlo2C"}, request_only=True)],
        tags=CARD_TAGS,
    )
    def post(self, request: Request) -> Response:
        data = CardAddInput(data=request.data)
        data.is_valid(raise_exception=True)
        card = payment_method_from_setup(
            consumer=self.consumer,
            livemode=data.validated_data["mode"] == "live",
            reference=data.validated_data["setup_intent"],
        )
        return Response(CardRepresentation(card).data, status=status.HTTP_201_CREATED)


class CardSetupInput(InputSerializer):
    mode = StrictChoiceField(choices=MODES, default="live", help_text="The mode of the card to add")


class CardSetupApi(ConsumerAppApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {409: ("card_setup_unavailable",), 503: ("gateway_unavailable",)}
    }

    @extend_schema(
        operation_id="app_card_setup_start",
        description="Start adding a card with the gateway's own SDK (Stripe: confirm the SetupIntent whose "
        "`client_secret` this returns, with `publishable_key`); then send its id to POST /cards. The card "
        "number goes from the phone to the gateway, never through us. The sandbox gateway has no SDK: there "
        "this answers 409 `card_setup_unavailable` (add test cards in the portal).",
        request=CardSetupInput,
        responses={201: CardSetupRepresentation},
        examples=[OpenApiExample("A real card", value={"mode": "live"}, request_only=True)],
        tags=CARD_TAGS,
    )
    def post(self, request: Request) -> Response:
        data = CardSetupInput(data=request.data)
        data.is_valid(raise_exception=True)
        livemode = data.validated_data["mode"] == "live"
        gateway = get_gateway(livemode=livemode)
        if not takes_cards_in_browser(gateway):
            raise ConflictError(
                "Cards of this mode are not added through the gateway's SDK: add one in the portal.",
                code="card_setup_unavailable",
            )
        setup = card_setup_start(consumer=self.consumer, livemode=livemode, purpose="app")  # 503 when down
        assert setup is not None  # a gateway that takes cards in the browser starts one
        body = {
            "livemode": livemode,
            "publishable_key": gateway.publishable_key,
            "client_secret": setup.client_secret,
            "setup_intent": setup.reference,
        }
        return Response(CardSetupRepresentation(body).data, status=status.HTTP_201_CREATED)


class CardDetailApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": PaymentMethod}

    @extend_schema(operation_id="app_card_retrieve", responses=CardRepresentation, tags=CARD_TAGS)
    def get(self, request: Request, id: str) -> Response:
        return Response(CardRepresentation(self.path_objects["id"]).data)


class CardMakeDefaultApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": PaymentMethod}

    @extend_schema(
        operation_id="app_card_make_default",
        description="Payments of the card's mode use this card from now on; any that had stopped for want of a "
        "working card are collected from it.",
        request=None,
        responses={200: CardDefaultRepresentation},
        tags=CARD_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        card = self.path_objects["id"]
        resumed = payment_method_make_default(consumer=self.consumer, payment_method=card)
        card.refresh_from_db()
        return Response(CardDefaultRepresentation(card, context={"payments_resumed": resumed}).data)


# --- Decisions --------------------------------------------------------------------------------


def _adverse(consumer: Any) -> set[int]:
    """The decisions that carry a notice of action taken (the portal's Decisions page's)."""
    return set(selectors.declined_decision_list(consumer=consumer, limit=200).values_list("pk", flat=True))


class DecisionListApi(ConsumerAppApi):
    pagination_class = NewestFirstCursorPagination
    listed_model = CreditDecision

    def page_context(self, page: list[Any]) -> dict[str, Any]:
        return {"adverse": _adverse(self.consumer)}

    @extend_schema(
        operation_id="app_decision_list",
        description="The credit decision on each purchase, newest first, with its reasons in plain words.",
        responses=DecisionRepresentation(many=True),
        tags=DECISION_TAGS,
    )
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.consumer_decisions(consumer=self.consumer), DecisionRepresentation)


class DecisionDetailApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": CreditDecision}

    @extend_schema(operation_id="app_decision_retrieve", responses=DecisionRepresentation, tags=DECISION_TAGS)
    def get(self, request: Request, id: str) -> Response:
        context = {"adverse": _adverse(self.consumer)}
        return Response(DecisionRepresentation(self.path_objects["id"], context=context).data)


# --- Receipts ---------------------------------------------------------------------------------


class ReceiptListApi(ConsumerAppApi):
    pagination_class = NewestFirstCursorPagination
    listed_model = Charge

    @extend_schema(
        operation_id="app_receipt_list",
        description="Money that moved for the consumer (payments taken, refunds sent back), newest first, as the "
        "portal's Documents page lists it; each has its receipt (PDF). A plan's credit agreement is at its "
        "`agreement_url`.",
        responses=PaymentRepresentation(many=True),
        tags=DOCUMENT_TAGS,
    )
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.receipt_list(consumer=self.consumer), PaymentRepresentation)


class ReceiptDetailApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Charge}

    @extend_schema(operation_id="app_receipt_retrieve", responses=PaymentRepresentation, tags=DOCUMENT_TAGS)
    def get(self, request: Request, id: str) -> Response:
        return Response(PaymentRepresentation(self.path_objects["id"]).data)


class ReceiptPdfApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Charge}

    @extend_schema(operation_id="app_receipt_pdf", description="The receipt (PDF).", responses=PDF, tags=DOCUMENT_TAGS)
    def get(self, request: Request, id: str) -> HttpResponse:
        charge = self.path_objects["id"]
        return pdf_response(documents.receipt_pdf(charge), f"receipt-{charge.public_id}.pdf")


# --- Bank-data consents -----------------------------------------------------------------------


class ConsentApi(ConsumerAppApi):
    @property
    def representation_context(self) -> dict[str, Any]:
        return {**super().representation_context, "now": clock.now()}

    def shown(self, consent: BankDataConsent) -> Response:
        context = {**self.representation_context, **self.page_context([consent])}
        return Response(BankDataConsentRepresentation(consent, context=context).data)

    def page_context(self, page: list[Any]) -> dict[str, Any]:
        return {"shared": bank_data.consent_sharing_summaries(consents=page)}


class ConsentListApi(ConsentApi):
    pagination_class = NewestFirstCursorPagination
    listed_model = BankDataConsent

    @extend_schema(
        operation_id="app_bank_data_consent_list",
        description="Every consent to share the consumer's bank data with us: who shares it, what was shared, "
        "since when and until when, and for which decisions.",
        responses=BankDataConsentRepresentation(many=True),
        tags=CONSENT_TAGS,
    )
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.bank_data_consent_list(consumer=self.consumer), BankDataConsentRepresentation)


class ConsentDetailApi(ConsentApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": BankDataConsent}

    @extend_schema(
        operation_id="app_bank_data_consent_retrieve", responses=BankDataConsentRepresentation, tags=CONSENT_TAGS
    )
    def get(self, request: Request, id: str) -> Response:
        return self.shown(self.path_objects["id"])


class ConsentScopeInput(InputSerializer):
    scope = StrictChoiceField(
        choices=BankDataConsent.Scope.choices,
        help_text="source: only decisions at the shop that shares it; all_decisions: any decision about you",
    )


class ConsentScopeApi(ConsentApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": BankDataConsent}
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("consent_not_current",)}}

    @extend_schema(
        operation_id="app_bank_data_consent_scope",
        description="Choose which decisions the data shared under a consent in force may help.",
        request=ConsentScopeInput,
        responses={200: BankDataConsentRepresentation},
        examples=[OpenApiExample("Every decision", value={"scope": "all_decisions"}, request_only=True)],
        tags=CONSENT_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        data = ConsentScopeInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self.shown(
            bank_data.consent_scope_set(consent=self.path_objects["id"], scope=data.validated_data["scope"])
        )


class ConsentRevokeApi(ConsentApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": BankDataConsent}
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("no_consent",)}}

    @extend_schema(
        operation_id="app_bank_data_consent_revoke",
        description="Revoke a consent: its source can no longer share your bank data, and what it shared is deleted.",
        request=None,
        responses={200: BankDataConsentRepresentation},
        tags=CONSENT_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        consent = bank_data.consent_revoke(
            consent=self.path_objects["id"], revoked_by=BankDataConsent.RevokedBy.CONSUMER
        )
        return self.shown(consent)


class ConsentGrantApi(ConsentApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": BankDataConsent}
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("consent_not_revoked_by_consumer",)}}

    @extend_schema(
        operation_id="app_bank_data_consent_grant",
        description="Grant again a consent you revoked: its source may share your bank data again, for its own "
        "decisions, until you revoke it.",
        request=None,
        responses={200: BankDataConsentRepresentation},
        tags=CONSENT_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        return self.shown(bank_data.consent_grant_again(consent=self.path_objects["id"]))


class PartnerConsentGrantInput(InputSerializer):
    partner = StrictCharField(max_length=40, help_text="The data partner's id (dpa_…), as the partner gives it")
    days = StrictChoiceField(
        choices=[str(days) for days in bank_data.PARTNER_CONSENT_DAYS], help_text="How long it may share, in days"
    )
    mode = StrictChoiceField(
        choices=["live", "test"], default="live", help_text="live, or test for a partner's integration tests"
    )


class PartnerConsentGrantApi(ConsentApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {400: ("partner_invalid",), 409: ("partner_unavailable",)}
    }

    @extend_schema(
        operation_id="app_bank_data_partner_consent_grant",
        description="Let a data partner (an open-banking aggregator) share your bank transactions with us for your "
        "pay-later decisions, for 90, 180 or 365 days; granting again renews it. Revoke it like any consent.",
        request=PartnerConsentGrantInput,
        responses={200: BankDataConsentRepresentation},
        examples=[
            OpenApiExample(
                "For 90 days", value={"partner": "dpa_3kTfQ2mZb8", "days": "90", "mode": "live"}, request_only=True
            )
        ],
        tags=CONSENT_TAGS,
    )
    def post(self, request: Request) -> Response:
        data = PartnerConsentGrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        partner = partner_selectors.data_partner_get_grantable(public_id=data.validated_data["partner"])
        if partner is None:
            raise InvalidRequestError(
                "No data partner takes consents under this id.", code="partner_invalid", param="partner"
            )
        consent = bank_data.partner_consent_grant(
            consumer=self.consumer,
            partner=partner,
            livemode=data.validated_data["mode"] == "live",
            expires_at=clock.now() + dt.timedelta(days=int(data.validated_data["days"])),
        )
        return self.shown(consent)
