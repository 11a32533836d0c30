"""The consumer app API in OpenAPI: a document of its own (``/api/consumer/v1/schema``) with its own
security scheme (a bearer JWT), apart from the partner API's (whose schema leaves these paths out).
Its operations use the partner schema's conventions (``bnpl.api.schema.PartnerAutoSchema``: the
Idempotency-Key header on every POST, the one error shape), with the errors of its principal."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema

PREFIX = "/api/consumer/v1/"


class ConsumerAccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "consumers.app_api.authentication.ConsumerTokenAuthentication"
    name = "ConsumerAccessToken"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from POST /api/consumer/v1/auth/sign-in or /auth/refresh (15 minutes).",
        }


def consumer_api_only(endpoints: list[tuple[str, Any, str, Any]], **kwargs: Any) -> list[tuple[str, Any, str, Any]]:
    """Preprocessing hook of the consumer API's document: its own paths only."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(PREFIX)]


def partner_api_only(endpoints: list[tuple[str, Any, str, Any]], **kwargs: Any) -> list[tuple[str, Any, str, Any]]:
    """Preprocessing hook of the partner API's document: the consumer app's paths are not in it."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith(PREFIX)]


SCHEMA_SETTINGS = {
    "TITLE": "BNPL consumer app API",
    "DESCRIPTION": (
        "The shopper's app. Sign in with a one-time code (`POST /auth/codes`, then `POST /auth/sign-in`), then "
        "send `Authorization: Bearer <access token>`; exchange the refresh token at `POST /auth/refresh` (it "
        "rotates: use each once). Every POST needs an `Idempotency-Key` header. A new device is pending until a "
        "trusted device approves it or it enters a one-time code."
    ),
    "SCHEMA_PATH_PREFIX": "/api/consumer/v1",
    "PREPROCESSING_HOOKS": ["consumers.app_api.schema.consumer_api_only"],
    "ENUM_NAME_OVERRIDES": {
        "DevicePlatformEnum": "consumers.models.Device.Platform",
        "DeviceStatusEnum": "consumers.models.Device.Status",
        "PlanStatusEnum": "bnpl.plans.models.Plan.Status",
        "InstallmentStatusEnum": "bnpl.plans.models.Installment.Status",
        "PlanStandingEnum": "bnpl.plans.models.Plan.Standing",
        "ProductKindEnum": "bnpl.plans.models.ProductKind",
        "PaymentKindEnum": "bnpl.payments.models.Charge.Kind",
        "PaymentStatusEnum": "bnpl.payments.models.Charge.Status",
        "DisputeKindEnum": "bnpl.checkout.models.Dispute.Kind",
        "DisputeReasonEnum": "bnpl.checkout.models.Dispute.Reason",
        "DisputeStatusEnum": "bnpl.checkout.models.Dispute.Status",
        "HardshipRequestStatusEnum": "bnpl.collections.models.HardshipRequest.Status",
        "DecisionOutcomeEnum": "decisioning.models.CreditDecision.Outcome",
        "BankDataConsentScopeEnum": "decisioning.models.BankDataConsent.Scope",
        "CardModeEnum": "consumers.app_api.account_apis.MODES",
    },
}

# The errors every consumer operation documents (the view's own codes are added per operation).
CONSUMER_ERRORS = {
    400: "Invalid request; `param` names the field. Codes: `parameter_<reason>` (e.g. `parameter_required`, "
    "`parameter_invalid`, `parameter_unknown`); on lists `parameter_invalid` for `limit` or `cursor`",
    401: "No valid access token. Codes: `token_missing`, `authorization_malformed`, `token_invalid`, "
    "`token_expired` (refresh it), `token_revoked` (signed out, or the device was removed: sign in again)",
    403: "Codes: `device_not_trusted` (this device waits for approval or a code), `consumer_blocked`",
    429: "Over a rate limit (`Retry-After` says when to retry). Code: `rate_limited`",
    503: "A part of the platform is briefly down: retry after `Retry-After` seconds (a POST with the same "
    "Idempotency-Key). Code: `service_unavailable`",
}
# Before sign-in there is no token: only the request's own errors.
ANONYMOUS_ERRORS = {
    400: CONSUMER_ERRORS[400],
    429: "Over a rate limit (`Retry-After` says when to retry). Code: `rate_limited`",
    503: CONSUMER_ERRORS[503],
}
CONSUMER_PATH_OBJECT_ERRORS = {
    404: "No such object of yours (another consumer's is not found either). Code: `resource_missing`",
}
