"""Typed application errors. Domain code raises these; one DRF exception handler
(``bnpl.api.errors.exception_handler``) turns them into ``{"error": {type, code, message, param}}``.

``type`` is a stable family (as in Stripe's API), ``code`` a stable machine-readable reason,
``param`` the request field at fault (or ``None``).
"""

from __future__ import annotations


class ApplicationError(Exception):
    status_code = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.param = param

    def as_dict(self) -> dict[str, object]:
        return {"type": self.error_type, "code": self.code, "message": self.message, "param": self.param}


class InvalidRequestError(ApplicationError):
    """The request is malformed or names something invalid (400)."""


class AuthenticationError(ApplicationError):
    status_code = 401
    error_type = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDeniedError(ApplicationError):
    status_code = 403
    error_type = "permission_error"
    default_code = "permission_denied"


class NotFoundError(ApplicationError):
    """The object does not exist for this merchant and mode. Another merchant's object is "not found"."""

    status_code = 404
    default_code = "resource_missing"


class ConflictError(ApplicationError):
    """The request conflicts with the object's current state or with a concurrent request (409)."""

    status_code = 409
    default_code = "conflict"


class StateError(ApplicationError):
    """An illegal transition (capture more than authorized, act on an expired order) (409)."""

    status_code = 409
    default_code = "invalid_state"


class PaymentDeclinedError(ApplicationError):
    """The card was declined (402)."""

    status_code = 402
    error_type = "card_error"
    default_code = "card_declined"


class GatewayUnavailableError(ApplicationError):
    """The payment gateway could not be reached or answered with an error of its own (503)."""

    status_code = 503
    error_type = "api_error"
    default_code = "gateway_unavailable"


class IdempotencyError(ApplicationError):
    """The same Idempotency-Key was used with different parameters (422)."""

    status_code = 422
    error_type = "idempotency_error"
    default_code = "idempotency_key_reused"


class PayloadTooLargeError(ApplicationError):
    """The request body is larger than the API reads (413); the message states the limit."""

    status_code = 413
    default_code = "body_too_large"


class RateLimitError(ApplicationError):
    """A rate limit refused the request (429); ``retry_after`` seconds until it has room again,
    sent as the ``Retry-After`` header by the API and the web pages alike."""

    status_code = 429
    error_type = "rate_limit_error"
    default_code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message, code=code, param=param)
        self.retry_after = max(1, retry_after)
