"""Partner API endpoints owned by the merchants app: the account, its event feed, its webhook
endpoints. Thin doors: parse, call a selector or service, represent."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Model
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from bnpl.api.pagination import NewestFirstCursorPagination
from bnpl.api.serializers import InputSerializer, StrictCharField, StrictChoiceField, StrictURLField
from bnpl.api.views import MerchantScopedApi
from bnpl.core.event_types import merchant_visible_types
from bnpl.core.models import Event
from bnpl.tenancy.selectors import scoped_queryset
from merchants import selectors, services, webhooks
from merchants.models import Settlement, WebhookDelivery, WebhookDeliveryAttempt, WebhookEndpoint
from merchants.representations import (
    EventRepresentation,
    MerchantRepresentation,
    SettlementRepresentation,
    SettlementWithLinesRepresentation,
    WebhookEndpointRepresentation,
)
from merchants.settlements import settlement_report_csv


class EventListQuery(serializers.Serializer[Any]):
    type = serializers.CharField(required=False, max_length=100)

    def validate_type(self, value: str) -> str:
        if value not in merchant_visible_types():
            raise serializers.ValidationError(f"Unknown event type {value!r}.")
        return value


class AccountRetrieveApi(MerchantScopedApi):
    @extend_schema(operation_id="account_retrieve", responses=MerchantRepresentation, tags=["account"])
    def get(self, request: Request) -> Response:
        return Response(MerchantRepresentation(self.merchant).data)


class EventListApi(MerchantScopedApi):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="event_list",
        # Every type is registered by now: merchants.services and merchants.webhooks, imported above,
        # register the last ones (bnpl.core.event_types holds the rest).
        parameters=[
            OpenApiParameter("type", str, description="Only events of this type", enum=merchant_visible_types())
        ],
        responses=EventRepresentation(many=True),
        tags=["events"],
    )
    def get(self, request: Request) -> Response:
        query = EventListQuery(
            data={key: request.query_params[key] for key in ("type",) if key in request.query_params}
        )
        query.is_valid(raise_exception=True)
        event_type = query.validated_data.get("type") or None
        return self.paginated(
            selectors.event_list(merchant=self.merchant, livemode=self.livemode, type=event_type), EventRepresentation
        )


class EventRetrieveApi(MerchantScopedApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Event}

    @extend_schema(operation_id="event_retrieve", responses=EventRepresentation, tags=["events"])
    def get(self, request: Request, id: str) -> Response:
        return Response(EventRepresentation(self.path_objects["id"]).data)


class WebhookEndpointCreateInput(InputSerializer):
    url = StrictURLField(max_length=2048)
    enabled_events = serializers.ListField(child=StrictCharField(max_length=100), min_length=1, max_length=100)
    description = StrictCharField(max_length=500, required=False, allow_blank=True, default="")


class WebhookEndpointUpdateInput(InputSerializer):
    url = StrictURLField(max_length=2048, required=False)
    enabled_events = serializers.ListField(
        child=StrictCharField(max_length=100), min_length=1, max_length=100, required=False
    )
    description = StrictCharField(max_length=500, required=False, allow_blank=True)
    status = StrictChoiceField(choices=WebhookEndpoint.Status.choices, required=False)


class WebhookEndpointCreatedRepresentation(WebhookEndpointRepresentation):
    secret = serializers.CharField(help_text="The signing secret. Shown here, and on request in the dashboard.")


class WebhookEndpointListCreateApi(MerchantScopedApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {400: ("event_type_invalid", "url_invalid")}
    }
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="webhook_endpoint_list",
        responses=WebhookEndpointRepresentation(many=True),
        tags=["webhook endpoints"],
    )
    def get(self, request: Request) -> Response:
        endpoints = selectors.webhook_endpoint_list(merchant=self.merchant, livemode=self.livemode)
        return self.paginated(endpoints, WebhookEndpointRepresentation)

    @extend_schema(
        operation_id="webhook_endpoint_create",
        request=WebhookEndpointCreateInput,
        responses={201: WebhookEndpointCreatedRepresentation},
        examples=[
            OpenApiExample(
                "Order events",
                value={
                    "url": "https://shop.example.com/bnpl/webhooks",
                    "enabled_events": ["*"],
                    "description": "Production",
                },
                request_only=True,
            )
        ],
        tags=["webhook endpoints"],
    )
    def post(self, request: Request) -> Response:
        data = WebhookEndpointCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_create(
            merchant=self.merchant, livemode=self.livemode, **data.validated_data
        )
        return Response(WebhookEndpointCreatedRepresentation(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailApi(MerchantScopedApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {400: ("event_type_invalid", "url_invalid"), 409: ("webhook_endpoint_deleted",)}
    }
    path_models: ClassVar[dict[str, type[Model]]] = {"id": WebhookEndpoint}

    @extend_schema(
        operation_id="webhook_endpoint_retrieve", responses=WebhookEndpointRepresentation, tags=["webhook endpoints"]
    )
    def get(self, request: Request, id: str) -> Response:
        return Response(WebhookEndpointRepresentation(self.path_objects["id"]).data)

    @extend_schema(
        operation_id="webhook_endpoint_update",
        request=WebhookEndpointUpdateInput,
        responses=WebhookEndpointRepresentation,
        examples=[OpenApiExample("Disable", value={"status": "disabled", "description": "Paused"}, request_only=True)],
        tags=["webhook endpoints"],
    )
    def post(self, request: Request, id: str) -> Response:
        data = WebhookEndpointUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(endpoint=self.path_objects["id"], **data.validated_data)
        return Response(WebhookEndpointRepresentation(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoint_delete",
        responses={
            200: inline_serializer(
                "WebhookEndpointDeleted",
                {
                    "id": serializers.CharField(),
                    "object": serializers.CharField(),
                    "deleted": serializers.BooleanField(),
                },
            )
        },
        tags=["webhook endpoints"],
    )
    def delete(self, request: Request, id: str) -> Response:
        endpoint = services.webhook_endpoint_delete(endpoint=self.path_objects["id"])
        return Response({"id": endpoint.public_id, "object": "webhook_endpoint", "deleted": True})


# --- Webhook deliveries -----------------------------------------------------------------------


class WebhookDeliveryAttemptRepresentation(serializers.Serializer[WebhookDeliveryAttempt]):
    attempted_at = serializers.DateTimeField()
    request_headers = serializers.DictField(child=serializers.CharField())
    request_body = serializers.CharField()
    response_status = serializers.IntegerField(allow_null=True, help_text="Null when no HTTP answer came")
    response_body = serializers.CharField(help_text="The first 2 KB of the answer")
    error = serializers.CharField(help_text="Why there was no usable answer (timeout, connection refused, …)")
    duration_ms = serializers.IntegerField()


class WebhookDeliveryRepresentation(serializers.Serializer[WebhookDelivery]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    webhook_endpoint = serializers.CharField(source="endpoint.public_id")
    event = serializers.CharField(source="event.public_id")
    event_type = serializers.CharField(source="event.type")
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices, help_text="failed: gave up retrying")
    attempt_count = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True, help_text="When the next attempt is due (pending)")
    last_attempt_at = serializers.DateTimeField(allow_null=True)
    succeeded_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_object(self, instance: WebhookDelivery) -> str:
        return "webhook_delivery"


class WebhookDeliveryDetailRepresentation(WebhookDeliveryRepresentation):
    attempts = serializers.SerializerMethodField()

    @extend_schema_field(WebhookDeliveryAttemptRepresentation(many=True))
    def get_attempts(self, instance: WebhookDelivery) -> list[Any]:
        attempts = instance.attempts.all()  # newest first
        return list(WebhookDeliveryAttemptRepresentation(attempts, many=True).data)  # type: ignore[arg-type]  # many=True


class NoParametersInput(InputSerializer):
    """An operation that takes no parameters: any field sent is refused by name."""


# The schema of an empty body, so the operation documents (and the schema walkers test) its body.
NO_PARAMETERS_SCHEMA = {"type": "object", "properties": {}, "additionalProperties": False}


class WebhookEndpointDeliveryListApi(MerchantScopedApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": WebhookEndpoint}
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="webhook_endpoint_delivery_list",
        responses=WebhookDeliveryRepresentation(many=True),
        tags=["webhook deliveries"],
    )
    def get(self, request: Request, id: str) -> Response:
        deliveries = webhooks.webhook_delivery_list(
            merchant=self.merchant, livemode=self.livemode, endpoint=self.path_objects["id"]
        )
        return self.paginated(deliveries, WebhookDeliveryRepresentation)


class WebhookEndpointTestApi(MerchantScopedApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {409: ("webhook_endpoint_deleted", "webhook_endpoint_disabled")}
    }
    path_models: ClassVar[dict[str, type[Model]]] = {"id": WebhookEndpoint}

    @extend_schema(
        operation_id="webhook_endpoint_test",
        description=(
            "Emit a `webhook_endpoint.test` event, delivered to this endpoint only, whatever event types it "
            "asked for. Returns the event."
        ),
        request={"application/json": NO_PARAMETERS_SCHEMA},
        responses={201: EventRepresentation},
        examples=[OpenApiExample("Send a test event", value={}, request_only=True)],
        tags=["webhook endpoints"],
    )
    def post(self, request: Request, id: str) -> Response:
        NoParametersInput(data=request.data).is_valid(raise_exception=True)
        event = webhooks.webhook_endpoint_test(endpoint=self.path_objects["id"])
        return Response(EventRepresentation(event).data, status=status.HTTP_201_CREATED)


class WebhookDeliveryRetrieveApi(MerchantScopedApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": WebhookDelivery}

    @extend_schema(
        operation_id="webhook_delivery_retrieve",
        responses=WebhookDeliveryDetailRepresentation,
        tags=["webhook deliveries"],
    )
    def get(self, request: Request, id: str) -> Response:
        return Response(WebhookDeliveryDetailRepresentation(self.path_objects["id"]).data)


class WebhookDeliveryReplayApi(MerchantScopedApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {409: ("webhook_endpoint_deleted", "webhook_endpoint_disabled")}
    }
    path_models: ClassVar[dict[str, type[Model]]] = {"id": WebhookDelivery}

    @extend_schema(
        operation_id="webhook_delivery_replay",
        description=(
            "Send the delivery again now, whatever its status. Earlier attempts stay in its log. Receivers "
            "may see the same event more than once, and dedupe by event id."
        ),
        request={"application/json": NO_PARAMETERS_SCHEMA},
        responses=WebhookDeliveryRepresentation,
        examples=[OpenApiExample("Send again", value={}, request_only=True)],
        tags=["webhook deliveries"],
    )
    def post(self, request: Request, id: str) -> Response:
        NoParametersInput(data=request.data).is_valid(raise_exception=True)
        delivery = webhooks.webhook_delivery_replay(delivery=self.path_objects["id"])
        return Response(WebhookDeliveryRepresentation(delivery).data)


class SettlementListApi(MerchantScopedApi):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(operation_id="settlement_list", responses=SettlementRepresentation(many=True), tags=["settlements"])
    def get(self, request: Request) -> Response:
        return self.paginated(
            scoped_queryset(Settlement, merchant=self.merchant, livemode=self.livemode), SettlementRepresentation
        )


class SettlementDetailApi(MerchantScopedApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Settlement}

    @extend_schema(
        operation_id="settlement_retrieve", responses=SettlementWithLinesRepresentation, tags=["settlements"]
    )
    def get(self, request: Request, id: str) -> Response:
        return Response(SettlementWithLinesRepresentation(self.path_objects["id"]).data)


class SettlementReportApi(MerchantScopedApi):
    """The payout report as CSV: one row per capture and refund, then the totals."""

    path_models: ClassVar[dict[str, type[Model]]] = {"id": Settlement}

    @extend_schema(
        operation_id="settlement_report",
        responses={(200, "text/csv"): OpenApiTypes.STR},
        tags=["settlements"],
    )
    def get(self, request: Request, id: str) -> HttpResponse:
        settlement: Settlement = self.path_objects["id"]
        response = HttpResponse(settlement_report_csv(settlement), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{settlement.public_id}.csv"'
        return response
