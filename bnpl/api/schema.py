"""OpenAPI additions: the API-key scheme, the Idempotency-Key header on every POST, and the one
error shape on every operation."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers

from bnpl.core import idempotency


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

# The errors every operation documents, with the codes each status carries (docs/api.md lists them
# too). ``parameter_<reason>`` codes name DRF's reason: required, blank, invalid, max_length,
# min_value, max_value, invalid_choice, not_a_list, unknown, …
ALL_ERRORS = {
    400: "Invalid request; `param` names the field. Codes: `parameter_<reason>` (e.g. `parameter_required`, "
    "`parameter_invalid`, `parameter_unknown`); on lists `parameter_invalid` for `limit` or `cursor`",
    401: "No valid API key. Codes: `api_key_missing`, `authorization_malformed`, `invalid_api_key`, "
    "`api_key_revoked`, `secret_key_required`",
    403: "The merchant may not do this now. Codes: `merchant_suspended`, `merchant_not_approved`",
    429: "Over a rate limit: the key's, or invalid keys from this client address (`Retry-After` says when to "
    "retry). Code: `rate_limited`",
    503: "A part of the platform (database, cache) is briefly down: retry after `Retry-After` seconds (a POST with "
    "the same Idempotency-Key). Code: `service_unavailable`",
}
PATH_OBJECT_ERRORS = {
    404: "No such object for this merchant and mode (another merchant's is not found either). Code: `resource_missing`",
}
POST_ERRORS = {
    400: "Invalid request; `param` names the field. Codes: `parameter_<reason>` (e.g. `parameter_required`, "
    "`parameter_invalid`, `parameter_unknown`), `invalid_request` (a rule about the values), "
    "`body_invalid` (not JSON, or not a JSON object), "
    "`idempotency_key_missing`, "
    "`idempotency_key_invalid`",
    409: "A request with this Idempotency-Key is in progress (`idempotency_key_in_use`, "
    "`idempotency_key_taken_over`), or the object's state forbids the operation (e.g. `invalid_state`)",
    413: "The body is larger than the API reads (the message gives the limit). Code: `body_too_large`",
    415: "The body is not JSON. Code: `unsupported_media_type`",
    422: "This Idempotency-Key was used with different parameters. Code: `idempotency_key_reused`",
}


class PartnerAutoSchema(AutoSchema):
    def get_override_parameters(self) -> list[Any]:
        parameters = list(super().get_override_parameters())
        if self.method == "POST":
            parameters.append(
                OpenApiParameter(
                    idempotency.HEADER,
                    {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_KEY_LENGTH},
                    OpenApiParameter.HEADER,
                    required=True,
                    pattern=idempotency.KEY_PATTERN,
                    description=(
                        f"Unique per operation: 1 to {idempotency.MAX_KEY_LENGTH} printable ASCII characters "
                        "(a UUID is a good choice). A retry with the same key replays the first response."
                    ),
                )
            )
        return parameters

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        errors = operation_errors(self.view, self.method, names_an_object="{" in self.path)
        for status_code, description in errors.items():
            if str(status_code) not in responses:
                response = self._get_response_for_code(ErrorSerializer, str(status_code), direction=direction)
                response["description"] = description
                responses[str(status_code)] = response
        return responses


OWN_CODES = "This operation also answers: "


def operation_errors(view: Any, method: str, *, names_an_object: bool) -> dict[int, str]:
    """Status -> description of every error an operation answers: every endpoint's (the view's
    ``common_errors``, by default the partner API's), 404 when its path names an object, and the
    view's own codes (``MerchantScopedApi.error_codes``) for this method."""
    errors = {
        **getattr(view, "common_errors", ALL_ERRORS),
        **(getattr(view, "path_object_errors", PATH_OBJECT_ERRORS) if names_an_object else {}),
        **(POST_ERRORS if method.upper() == "POST" else {}),
    }
    own = getattr(view, "error_codes", {}).get(method.upper(), {})
    for status_code, codes in own.items():
        listed = ", ".join(f"`{code}`" for code in codes)
        if status_code in errors:
            errors[status_code] = f"{errors[status_code]}. {OWN_CODES}{listed}"
        else:
            errors[status_code] = f"{STATUS_MEANINGS.get(status_code, 'Refused')}. Codes: {listed}"
    return errors


def documented_codes(description: str) -> set[str]:
    """The codes a response description lists (each in backticks)."""
    return set(re.findall(r"`([a-z_<>]+)`", description))


STATUS_MEANINGS = {
    403: "The merchant may not do this now",
    404: "Not found",
    409: "The object's state forbids the operation",
    422: "The request cannot be carried out as it stands",
    502: "A service we depend on did not answer: try again later",
    503: "A service we depend on is unavailable: try again later",
}


def library_docstrings() -> list[type[Any]]:
    """drf-spectacular's ``GET_LIB_DOC_EXCLUDES``: the classes whose docstrings never describe an
    endpoint or a shape. An endpoint or a shape without a docstring of its own took its base's:
    every partner endpoint was described by the notes on ``IdempotentPostApi``, and shapes by the
    ``Representation`` base's. Its library's classes, the views' internal bases
    (``bnpl.api.views.internal_base``) and ``Representation``."""
    from drf_spectacular.plumbing import get_lib_doc_excludes

    from bnpl.api.views import INTERNAL_BASES
    from bnpl.core.representations import Representation

    return [*get_lib_doc_excludes(), Representation, *INTERNAL_BASES]
