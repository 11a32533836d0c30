"""The base of every partner endpoint.

``MerchantScopedApi`` resolves the merchant and mode from the API key once, resolves the objects
named in the path through the tenant-scoped selector (so another merchant's object is a 404 before
any handler runs, whatever the method or body), and makes every POST idempotent.
"""

from __future__ import annotations

import contextlib
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from django.db.models import Model
from django.http import HttpResponse, HttpResponseBase
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bnpl.api.authentication import ApiKeyAuthentication, MerchantPrincipal
from bnpl.api.errors import error_response
from bnpl.api.throttling import ApiKeyThrottle
from bnpl.core import idempotency
from bnpl.core.errors import ApplicationError, AuthenticationError, ConflictError
from bnpl.core.transactions import whole_transaction
from bnpl.tenancy.selectors import Loading, scoped_get
from merchants.models import ApiKey, Merchant

# Responses stored for replay: success, and refusals that came from doing the work (a declined
# payment, an illegal state transition). Anything else stored nothing and the key may be reused.
REPLAYABLE_ERROR_STATUSES = frozenset({402, 409})


# Base classes of the APIs' views, whose docstrings are for this code's readers: the API references
# never describe an endpoint with them (bnpl.api.schema.library_docstrings).
INTERNAL_BASES: list[type[Any]] = []
Base = TypeVar("Base", bound=type[Any])


def internal_base(cls: Base) -> Base:
    """Mark ``cls`` as a base of views whose docstring is not an endpoint's description."""
    INTERNAL_BASES.append(cls)
    return cls


@internal_base
class IdempotentPostApi(APIView, metaclass=ABCMeta):
    """The base the partner API's and the consumer app API's views share: lists paged, and every
    POST through the idempotency layer (``bnpl.core.idempotency``), the rest as DRF runs it.
    Subclasses say whose keys a request's are (``idempotency_scope``); the handler's work and the
    stored response commit in one transaction, unless the view sets ``handler_atomic = False``
    (a handler that checks a one-time code: a wrong attempt must commit even though the request
    fails, so its services open their own transactions and the response is stored after them)."""

    handler_atomic: ClassVar[bool] = True
    # List endpoints set this; the schema then documents the page shape.
    pagination_class: ClassVar[type[Any] | None] = None

    def paginated(
        self, queryset: Any, representation: type[Any], *, finish: Callable[[Any], Any] | None = None
    ) -> Response:
        """A page of ``queryset`` (newest first) in the view's ``pagination_class``, shown with
        ``page_context`` as well; ``finish``: done to each row read before it is shown (a
        ``Loading``'s)."""
        assert self.pagination_class is not None, f"{type(self).__name__} lists: set pagination_class"
        paginator = self.pagination_class()
        page = list(paginator.paginate_queryset(queryset, self.request, view=self) or [])
        if finish is not None:
            page = [finish(row) for row in page]
        context = {**self.representation_context, **self.page_context(page)}
        return paginator.get_paginated_response(representation(page, many=True, context=context).data)

    @property
    def representation_context(self) -> dict[str, Any]:
        """What the view's representations are given besides the object."""
        return {}

    def page_context(self, page: list[Any]) -> dict[str, Any]:
        """What a list's representation needs about the rows of one page, read once for them all."""
        return {}

    @abstractmethod
    def idempotency_scope(self, request: Request) -> dict[str, Any]:
        """``idempotency_claim``'s scope keywords: ``merchant_id`` and ``livemode``, or ``owner``.
        Every API says whose keys its requests' are (a class that does not cannot be instantiated)."""

    def stored_body(self, body: bytes) -> bytes:
        """The response body as it is kept for replay (a view holding secrets encrypts it)."""
        return body

    def replayed_body(self, stored: bytes) -> bytes:
        return stored

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """DRF's dispatch, with the POST handler run through the idempotency layer."""
        self.args, self.kwargs = args, kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            handler = (
                getattr(self, request.method.lower(), None)
                if request.method.lower() in self.http_method_names
                else None
            )
            if handler is None:
                handler = self.http_method_not_allowed
            if request.method == "POST" and handler != self.http_method_not_allowed:
                response = self._idempotent(request, handler, *args, **kwargs)
            else:
                response = handler(request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - as DRF: every error goes through the exception handler
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)  # type: ignore[arg-type]
        return self.response

    def _idempotent(self, request: Request, handler: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        key = idempotency.validate_key(request.headers.get(idempotency.HEADER))
        scope = self.idempotency_scope(request)
        claim = idempotency.idempotency_claim(
            **scope,
            key=key,
            method=request.method or "POST",
            path=request.path,
            request_fingerprint=idempotency.fingerprint(method="POST", path=request.path, data=request.data),
        )
        if isinstance(claim, idempotency.StoredResponse):
            replay = HttpResponse(self.replayed_body(claim.body), status=claim.status, content_type=claim.content_type)
            replay["Idempotent-Replayed"] = "true"
            return replay
        try:
            # No handler catches an error inside: its services take no savepoints.
            with whole_transaction() if self.handler_atomic else contextlib.nullcontext():
                response = self.finalize_response(request, handler(request, *args, **kwargs), *args, **kwargs)  # type: ignore[arg-type]
                stored = self._stored(response)
                idempotency.idempotency_complete(record=claim, response=stored)
        except ApplicationError as error:
            response = self.finalize_response(request, error_response(error), *args, **kwargs)
            if error.code == "idempotency_key_taken_over":
                return response  # the retry that took over owns the key now
            if error.status_code in REPLAYABLE_ERROR_STATUSES:
                with contextlib.suppress(ConflictError):  # taken over meanwhile: the retry's answer stands
                    idempotency.idempotency_complete(record=claim, response=self._stored(response))
            else:
                idempotency.idempotency_release(record=claim)
            return response
        except Exception:  # release the claim for any failure, then re-raise
            idempotency.idempotency_release(record=claim)
            raise
        return response

    def _stored(self, response: HttpResponseBase) -> idempotency.StoredResponse:
        if isinstance(response, Response):
            response.render()
        assert isinstance(response, HttpResponse)
        return idempotency.StoredResponse(
            status=response.status_code,
            content_type=response.get("Content-Type", ""),
            body=self.stored_body(response.content),
        )


@internal_base
class MerchantScopedApi(IdempotentPostApi):
    authentication_classes: ClassVar[list[Any]] = [ApiKeyAuthentication]  # type: ignore[misc]
    permission_classes: ClassVar[list[Any]] = []  # type: ignore[misc]
    throttle_classes: ClassVar[list[Any]] = [ApiKeyThrottle]  # type: ignore[misc]
    # Path keyword -> model of the merchant-owned object it names; resolved before the handler runs.
    path_models: ClassVar[dict[str, type[Model]]] = {}
    # Path keyword -> what to read with that object, in its statement (what the handler renders).
    path_loading: ClassVar[dict[str, Loading]] = {}
    # Publishable keys (pk_…) may call only endpoints that say so (public widget data).
    allow_publishable_key: ClassVar[bool] = False
    # The errors this endpoint answers beyond every endpoint's (bnpl.api.schema): HTTP method ->
    # status -> codes. The schema lists them; the tests refuse any code an endpoint answers that its
    # schema does not list (tests/conftest.py, ApiClient).
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {}

    merchant: Merchant
    livemode: bool
    api_key: ApiKey
    path_objects: dict[str, Any]

    @property
    def cursor_scope(self) -> str:
        """Cursors are signed for one caller: another merchant's, or the other mode's, is refused."""
        return f"{self.merchant.public_id}:{'live' if self.livemode else 'test'}"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        principal = request.user
        assert isinstance(principal, MerchantPrincipal)
        if principal.api_key.kind != ApiKey.Kind.SECRET and not self.allow_publishable_key:
            raise AuthenticationError(
                "This endpoint needs a secret key (sk_…); publishable keys are for public widget calls only.",
                code="secret_key_required",
            )
        self.merchant, self.livemode, self.api_key = principal.merchant, principal.livemode, principal.api_key
        self.path_objects = {
            name: scoped_get(
                model,
                merchant=self.merchant,
                livemode=self.livemode,
                public_id=str(kwargs[name]),
                loading=self.path_loading.get(name),
            )
            for name, model in self.path_models.items()
        }

    def idempotency_scope(self, request: Request) -> dict[str, Any]:
        return {"merchant_id": self.merchant.pk, "livemode": self.livemode}
