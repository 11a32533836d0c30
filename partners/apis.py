"""The data-partner API (``/api/partners/v1/…``): a partner's door, apart from the merchants' API.

``Authorization: Bearer dpk_test_…`` (a key an operator issued the partner) resolves the partner and
mode once (``PartnerKeyAuthentication``, read from the database on every request: a revoked key or a
suspended partner is refused from the next one). ``PartnerScopedApi`` then resolves the consumer a
path names among the consumers who granted *this* partner a consent in force -- anyone else (no
consent, another partner's, revoked, expired, or no such consumer) is a 404 before any handler
runs -- and makes every POST idempotent with the partner API's machinery, keyed per partner and
mode. Errors have the one shape of every API here.

Endpoints: the consents in force (``GET consents``), one consumer's (``GET consumers/{id}/consent``)
and the bank-transaction stream (``POST consumers/{id}/bank-transactions``, a JSON batch or JSON
lines, exactly as merchants send it, stored and totalled by the same service)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiExample, OpenApiRequest, extend_schema
from rest_framework import status
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from bnpl.api.authentication import bearer_token, refuse_invalid_key
from bnpl.api.pagination import NewestFirstCursorPagination
from bnpl.api.parsers import JSONLinesParser, JSONLParser, SafeJSONParser
from bnpl.api.throttling import api_key_rates
from bnpl.api.views import IdempotentPostApi, internal_base
from bnpl.core import ratelimit
from bnpl.core.context import Actor, actor_var
from bnpl.core.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from consumers.apis import (
    TRANSACTION_EXAMPLE,
    BankTransactionBatchInput,
    BankTransactionBatchRepresentation,
    BankTransactionInput,
)
from decisioning import bank_data
from decisioning.models import BankDataConsent
from decisioning.representations import PartnerConsentRepresentation
from partners import selectors, services
from partners.models import DataPartner, PartnerApiKey

MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class PartnerPrincipal:
    """``request.user`` on the partner API: the partner and the mode its key works in."""

    partner: DataPartner
    api_key: PartnerApiKey
    livemode: bool

    is_authenticated = True


class PartnerKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[PartnerPrincipal, PartnerApiKey] | None:
        token = bearer_token(request._request)
        if token is None:
            raise AuthenticationError(
                "No API key provided. Use 'Authorization: Bearer <data partner key>'.", code="api_key_missing"
            )
        api_key = None
        if token.startswith(services.TOKEN_PREFIX) and len(token) <= MAX_TOKEN_LENGTH:
            api_key = selectors.dangerously_partner_api_key_get(token=token)
        if api_key is None:
            refuse_invalid_key(request._request)
        if api_key.is_revoked:
            raise AuthenticationError("This API key was revoked.", code="api_key_revoked")
        partner = api_key.partner
        if not partner.is_active:
            raise PermissionDeniedError("This data partner is suspended.", code="partner_suspended")
        services.partner_api_key_rehash(api_key=api_key, token=token)
        services.partner_api_key_touch(api_key=api_key)
        actor_var.set(
            Actor(kind="data_partner_key", identifier=api_key.public_id, label=f"{partner.name} {api_key.token_hint}")
        )
        return PartnerPrincipal(partner=partner, api_key=api_key, livemode=api_key.livemode), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="partners"'


class PartnerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "partners.apis.PartnerKeyAuthentication"
    name = "DataPartnerKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A data partner key: dpk_test_… or dpk_live_…"}


class PartnerKeyThrottle(BaseThrottle):
    """The merchant keys' per-key windows (``API_THROTTLE_RATE``, ``API_THROTTLE_BURST_RATE``), per partner key."""

    verdict: ratelimit.Verdict | None = None

    def allow_request(self, request: Request, view: APIView) -> bool:
        api_key = request.auth
        if not isinstance(api_key, PartnerApiKey):
            return True
        self.verdict = ratelimit.take([ratelimit.check(rate, api_key.public_id) for rate in api_key_rates()])
        return self.verdict.allowed

    def wait(self) -> float | None:
        return float(self.verdict.retry_after) if self.verdict is not None else None


PARTNER_ERRORS = {
    400: "Invalid request; `param` names the field. Codes: `parameter_<reason>` (e.g. `parameter_required`, "
    "`parameter_invalid`, `parameter_unknown`); on lists `parameter_invalid` for `limit` or `cursor`",
    401: "No valid key. Codes: `api_key_missing`, `authorization_malformed`, `invalid_api_key`, `api_key_revoked`",
    403: "The partner is suspended. Code: `partner_suspended`",
    429: "Over a rate limit: the key's, or invalid keys from this client address (`Retry-After` says when to "
    "retry). Code: `rate_limited`",
    503: "A part of the platform (database, cache) is briefly down: retry after `Retry-After` seconds (a POST with "
    "the same Idempotency-Key). Code: `service_unavailable`",
}
PARTNER_PATH_OBJECT_ERRORS = {
    404: "No consumer with a consent in force for you in this mode (never granted, revoked, expired, another "
    "partner's, or no such consumer: all look the same). Code: `resource_missing`",
}


@internal_base
class PartnerScopedApi(IdempotentPostApi):
    authentication_classes: ClassVar[list[Any]] = [PartnerKeyAuthentication]  # type: ignore[misc]
    permission_classes: ClassVar[list[Any]] = []  # type: ignore[misc]
    throttle_classes: ClassVar[list[Any]] = [PartnerKeyThrottle]  # type: ignore[misc]
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {}
    common_errors: ClassVar[dict[int, str]] = PARTNER_ERRORS
    path_object_errors: ClassVar[dict[int, str]] = PARTNER_PATH_OBJECT_ERRORS
    # True where the path names a consumer (``{id}``): resolved to the partner's consent in force.
    names_consumer: ClassVar[bool] = False

    partner: DataPartner
    livemode: bool
    api_key: PartnerApiKey
    consent: BankDataConsent

    @property
    def cursor_scope(self) -> str:
        return f"{self.partner.public_id}:{self.mode}"

    @property
    def mode(self) -> str:
        return "live" if self.livemode else "test"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        principal = request.user
        assert isinstance(principal, PartnerPrincipal)
        self.partner, self.livemode, self.api_key = principal.partner, principal.livemode, principal.api_key
        if self.names_consumer:
            consent = selectors.partner_consent_for_consumer(
                partner=self.partner, livemode=self.livemode, consumer_id=str(kwargs["id"])
            )
            if consent is None:
                raise NotFoundError("No such consumer.", param="id")
            self.consent = consent

    def idempotency_scope(self, request: Request) -> dict[str, Any]:
        return {"owner": f"{self.partner.public_id}:{self.mode}", "livemode": self.livemode}


class PartnerConsentListApi(PartnerScopedApi):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="partner_consent_list",
        description="The consents in force that consumers granted you in this key's mode, newest first: who "
        "(`consumer`, the id to send their transactions under) and until when.",
        responses=PartnerConsentRepresentation(many=True),
        tags=["data partners"],
    )
    def get(self, request: Request) -> Response:
        return self.paginated(
            selectors.partner_consent_list(partner=self.partner, livemode=self.livemode), PartnerConsentRepresentation
        )


class PartnerConsumerConsentApi(PartnerScopedApi):
    names_consumer = True

    @extend_schema(
        operation_id="partner_consumer_consent_retrieve",
        responses=PartnerConsentRepresentation,
        tags=["data partners"],
    )
    def get(self, request: Request, id: str) -> Response:
        return Response(PartnerConsentRepresentation(self.consent).data)


class PartnerBankTransactionsApi(PartnerScopedApi):
    """The stream: a JSON batch ``{"transactions": [...]}`` or JSON lines, at most 1,000 a request,
    as on the merchants' ``POST /api/v1/consumers/{id}/bank-transactions``."""

    names_consumer = True
    parser_classes = [SafeJSONParser, JSONLinesParser, JSONLParser]

    @extend_schema(
        operation_id="partner_bank_transactions_send",
        description="Send the consumer's bank transactions while their consent to you is in force. A "
        "transaction id already received under the consent is skipped (`duplicates`), so a whole stream may be "
        "sent again after a failure.",
        request={
            "application/json": BankTransactionBatchInput,
            "application/x-ndjson": OpenApiRequest(request=BankTransactionInput),  # one per line
        },
        responses={201: BankTransactionBatchRepresentation},
        examples=[OpenApiExample("A batch", value={"transactions": [TRANSACTION_EXAMPLE]}, request_only=True)],
        tags=["data partners"],
    )
    def post(self, request: Request, id: str) -> Response:
        data = BankTransactionBatchInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = bank_data.partner_transactions_ingest(
            consent=self.consent,
            transactions=[
                bank_data.IncomingTransaction(**{key: value for key, value in item.items() if key != "description"})
                for item in data.validated_data["transactions"]
            ],
        )
        return Response(BankTransactionBatchRepresentation(result.as_dict()).data, status=status.HTTP_201_CREATED)
