"""The base of every consumer app endpoint.

``ConsumerAppApi`` resolves the consumer and device from the access token once, refuses a device
that is not trusted yet (except on the endpoints that let a pending device verify itself), resolves
the objects named in the path among the consumer's own (anyone else's is a 404 before any handler
runs), and makes every POST idempotent with the partner API's machinery, keyed per consumer.
``AnonymousConsumerAppApi`` is the base of the sign-in endpoints, before there is a token."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

from django.db.models import Model
from rest_framework.request import Request

from bnpl.api.views import IdempotentPostApi, internal_base
from bnpl.checkout.models import Dispute
from bnpl.core import crypto
from bnpl.core.errors import NotFoundError, PermissionDeniedError
from bnpl.core.ids import is_well_formed
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.plans.models import Plan
from consumers import selectors
from consumers.app_api.authentication import ConsumerTokenAuthentication
from consumers.app_api.schema import ANONYMOUS_ERRORS, CONSUMER_ERRORS, CONSUMER_PATH_OBJECT_ERRORS
from consumers.app_api.throttling import ConsumerThrottle
from consumers.app_auth import AppPrincipal
from consumers.models import Consumer, Device
from decisioning.models import BankDataConsent, CreditDecision

# Objects a path names, looked up as the portal looks them up (its selectors: the same rows are the
# consumer's in both doors); any other model through ``selectors.consumer_owned_get``.
OWNED_LOOKUPS: dict[type[Model], Callable[..., Any]] = {
    Plan: selectors.plan_get,
    PaymentMethod: selectors.payment_method_get,
    Charge: selectors.receipt_get,
    Dispute: selectors.dispute_get,
    BankDataConsent: selectors.bank_data_consent_get,
    CreditDecision: selectors.decision_get,
}


def owned_get(model: type[Model], *, consumer: Consumer, public_id: str) -> Any:
    """The consumer's own object of ``model`` named ``public_id``; None for anyone else's."""
    lookup = OWNED_LOOKUPS.get(model)
    if lookup is None:
        return selectors.consumer_owned_get(model, consumer=consumer, public_id=public_id)
    return lookup(consumer=consumer, public_id=public_id)


@internal_base
class ConsumerAppApi(IdempotentPostApi):
    authentication_classes: ClassVar[list[Any]] = [ConsumerTokenAuthentication]  # type: ignore[misc]
    permission_classes: ClassVar[list[Any]] = []  # type: ignore[misc]
    throttle_classes: ClassVar[list[Any]] = [ConsumerThrottle]  # type: ignore[misc]
    # Path keyword -> model of the consumer-owned object it names; resolved before the handler runs.
    path_models: ClassVar[dict[str, type[Model]]] = {}
    # A list endpoint: the model of the rows it lists (the schema walk checks they are the caller's).
    listed_model: ClassVar[type[Model] | None] = None
    # HTTP method -> status -> codes this endpoint answers beyond every endpoint's (as on the partner API).
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {}
    common_errors: ClassVar[dict[int, str]] = CONSUMER_ERRORS
    path_object_errors: ClassVar[dict[int, str]] = CONSUMER_PATH_OBJECT_ERRORS
    # A pending device may call only the endpoints that say so (its own status and verification).
    allow_pending_device: ClassVar[bool] = False
    # Responses that carry tokens or secrets are kept encrypted for replay.
    response_holds_secrets: ClassVar[bool] = False

    principal: AppPrincipal
    consumer: Consumer
    device: Device
    path_objects: dict[str, Any]

    @property
    def cursor_scope(self) -> str:
        """Cursors are signed for one consumer: another's is refused."""
        return self.consumer.public_id

    @property
    def representation_context(self) -> dict[str, Any]:
        return {"device": self.device}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        principal = request.user
        assert isinstance(principal, AppPrincipal)
        self.principal, self.consumer, self.device = principal, principal.consumer, principal.device
        if self.device.status != Device.Status.TRUSTED and not self.allow_pending_device:
            raise PermissionDeniedError(
                "This device waits for approval from one of your trusted devices, or for a one-time code "
                "(POST /api/consumer/v1/device/verification-code).",
                code="device_not_trusted",
            )
        self.path_objects = {}
        for name, model in self.path_models.items():
            public_id = str(kwargs[name])
            found = owned_get(model, consumer=self.consumer, public_id=public_id)
            if found is None:
                named = f": {public_id!r}" if is_well_formed(public_id) else ""  # never echo megabytes back
                raise NotFoundError(f"No such {model._meta.verbose_name}{named}.", param="id")
            self.path_objects[name] = found

    def idempotency_scope(self, request: Request) -> dict[str, Any]:
        return {"owner": self.consumer.public_id}

    def stored_body(self, body: bytes) -> bytes:
        return crypto.encrypt(body.decode()).encode() if self.response_holds_secrets else body

    def replayed_body(self, stored: bytes) -> bytes:
        return crypto.decrypt(stored.decode()).encode() if self.response_holds_secrets else stored


@internal_base
class AnonymousConsumerAppApi(ConsumerAppApi):
    """Sign-in endpoints: no token yet. Their idempotency keys belong to the address a code goes to
    (or, for a refresh, to the consumer its refresh token names): ``idempotency_scope``."""

    authentication_classes: ClassVar[list[Any]] = []  # type: ignore[misc]
    common_errors: ClassVar[dict[int, str]] = ANONYMOUS_ERRORS

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        IdempotentPostApi.initial(self, request, *args, **kwargs)
        self.path_objects = {}

    @abstractmethod
    def idempotency_scope(self, request: Request) -> dict[str, Any]:
        """Abstract again here: each sign-in endpoint names its own owner (the consumer-based scope
        above would read a consumer these requests do not have yet)."""
