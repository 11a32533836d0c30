"""OpenAPI additions: the API-key scheme, the Idempotency-Key header on every POST, and the one
error shape on every operation."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "bnpl.api.authentication.ApiKeyAuthentication"
    name = "SecretKey"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "A secret key: sk_test_… or sk_live_…"}


ErrorSerializer = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorDetail",
            {
                "type": serializers.CharField(
                    help_text="invalid_request_error, authentication_error, idempotency_error, …"
                ),
                "code": serializers.CharField(help_text="A stable, machine-readable reason"),
                "message": serializers.CharField(help_text="For people"),
                "param": serializers.CharField(allow_null=True, help_text="The request field at fault"),
            },
        )
    },
)

ERROR_STATUSES = {
    400: "Invalid request: `param` names the field",
    401: "Missing, invalid or revoked API key",
    403: "Merchant suspended, or live mode not yet approved",
    404: "No such object for this merchant and mode",
    429: "Over a rate limit (the key's, or invalid keys from this address); `Retry-After` says when to retry",
}
POST_ERROR_STATUSES = {
    409: "A request with this Idempotency-Key is in progress, or the object's state forbids it",
    422: "This Idempotency-Key was used with different parameters",
}


class PartnerAutoSchema(AutoSchema):
    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    required=True,
                    description="Unique per operation (a UUID). A retry with the same key replays the first response.",
                )
            )
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        errors = {**ERROR_STATUSES, **(POST_ERROR_STATUSES if self.method == "POST" else {})}
        for status_code, description in errors.items():
            if str(status_code) not in responses:
                response = self._get_response_for_code(ErrorSerializer, str(status_code), direction=direction)
                response["description"] = description
                responses[str(status_code)] = response
        return responses
