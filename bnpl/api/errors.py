"""The one exception handler: every API error leaves as ``{"error": {type, code, message, param}}``."""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from bnpl.core.errors import (
    ApplicationError,
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
)


def _first_field_error(detail: Any, prefix: str = "") -> tuple[str | None, str, str]:
    """Walk DRF's nested error detail to the first leaf: (dotted param, message, code)."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            if isinstance(field, int):  # DRF keys some list errors by position
                name: str | None = f"{prefix}[{field}]"
            else:
                name = None if field == "non_field_errors" else (f"{prefix}.{field}" if prefix else str(field))
            param, message, code = _first_field_error(value, name or prefix)
            return param if param is not None else name, message, code
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            if isinstance(value, (dict, list)) and value:
                return _first_field_error(value, f"{prefix}[{index}]" if prefix else f"[{index}]")
            if not isinstance(value, (dict, list)):
                return (prefix or None), str(value), getattr(value, "code", "invalid")
    return (prefix or None), str(detail), getattr(detail, "code", "invalid")


def body_too_large(limit_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body is larger than {limit_bytes:,} bytes ({limit_bytes / 1024 / 1024:.1f} MiB), "
        "the most this endpoint reads. Send less per request."
    )


def _translate(exc: Exception) -> ApplicationError | None:
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, exceptions.ValidationError):
        param, message, code = _first_field_error(exc.detail)
        text = f"{param}: {message}" if param else message
        if param:
            code = f"parameter_{code}"
        elif code == "invalid":  # the body as a whole (DRF: not a JSON object)
            code = "body_invalid"
        return InvalidRequestError(text, code=str(code), param=param)
    if isinstance(exc, RequestDataTooBig):
        return body_too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    if isinstance(exc, exceptions.ParseError):
        return InvalidRequestError(f"The request body is not valid JSON: {exc.detail}", code="body_invalid")
    if isinstance(exc, exceptions.UnsupportedMediaType):
        error = InvalidRequestError(f"{exc.detail} Send application/json.", code="unsupported_media_type")
        error.status_code = 415
        return error
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        return AuthenticationError(str(exc.detail))
    if isinstance(exc, (exceptions.PermissionDenied, PermissionDenied)):
        return PermissionDeniedError(str(getattr(exc, "detail", "Permission denied.")))
    if isinstance(exc, (exceptions.NotFound, Http404)):
        return NotFoundError("No such object.")
    if isinstance(exc, exceptions.MethodNotAllowed):
        error = InvalidRequestError(str(exc.detail), code="method_not_allowed")
        error.status_code = 405
        return error
    if isinstance(exc, exceptions.Throttled):
        seconds = math.ceil(getattr(exc, "wait", None) or 1)
        return RateLimitError(f"Too many requests for this API key. Retry in {seconds} s.", retry_after=seconds)
    if isinstance(exc, exceptions.APIException):
        error = InvalidRequestError(str(exc.detail), code=str(exc.default_code))
        error.status_code = exc.status_code
        return error
    return None


def error_response(error: ApplicationError) -> Response:
    return Response({"error": error.as_dict()}, status=error.status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    error = _translate(exc)
    if error is None:
        return None  # a real bug: let Django log it and answer 500
    response = error_response(error)
    if isinstance(error, RateLimitError):
        response["Retry-After"] = str(error.retry_after)
    elif error.status_code == 503:  # a part we depend on (the card gateway) is down: say when to come back
        response["Retry-After"] = "30"
    if error.status_code == 401:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response
