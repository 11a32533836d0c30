"""Partner API: checkout sessions, orders (capture, void, refund), plans, payment products."""

from __future__ import annotations

from typing import ClassVar

import phonenumbers
from django.db.models import Model
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from bnpl.api.pagination import NewestFirstCursorPagination
from bnpl.api.serializers import (
    InputSerializer,
    StrictCharField,
    StrictChoiceField,
    StrictEmailField,
    StrictIntegerField,
    StrictURLField,
)
from bnpl.api.views import MerchantScopedApi
from bnpl.checkout import disputes, selectors
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout import sessions as checkout_sessions
from bnpl.checkout.loading import ORDER_REPRESENTATION
from bnpl.checkout.models import CheckoutSession, Dispute, Order
from bnpl.checkout.representations import (
    CaptureRepresentation,
    CheckoutSessionListItemRepresentation,
    CheckoutSessionRepresentation,
    DisputeRepresentation,
    OrderRepresentation,
    RefundRepresentation,
    checkout_session_response,
)
from bnpl.core.errors import InvalidRequestError
from bnpl.core.money import MAX_AMOUNT, normalize_currency
from bnpl.plans.models import Plan, ProductKind
from bnpl.plans.representations import PaymentProductRepresentation, PlanWithHistoryRepresentation
from bnpl.plans.selectors import payment_product_list
from bnpl.tenancy.selectors import Loading, scoped_queryset


def amount_field() -> StrictIntegerField:
    return StrictIntegerField(
        min_value=1, max_value=MAX_AMOUNT, help_text="Minor units of the currency (1999 = $19.99)"
    )


class LineItemInput(InputSerializer):
    name = StrictCharField(max_length=200)
    quantity = StrictIntegerField(min_value=1, max_value=10_000)
    unit_amount = StrictIntegerField(min_value=0, max_value=MAX_AMOUNT)
    sku = StrictCharField(max_length=100, required=False, allow_blank=True)


class CheckoutSessionCreateInput(InputSerializer):
    amount = amount_field()
    currency = StrictCharField(max_length=3)
    line_items = LineItemInput(many=True, allow_empty=False, max_length=100)  # type: ignore[call-arg]
    return_url = StrictURLField(max_length=2048)
    cancel_url = StrictURLField(max_length=2048)
    merchant_reference = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    customer_email = StrictEmailField(max_length=254, required=False, allow_blank=True, default="")
    customer_phone = StrictCharField(max_length=20, required=False, allow_blank=True, default="")
    product_kinds = serializers.ListField(
        child=StrictChoiceField(choices=ProductKind.choices), required=False, default=list, max_length=3
    )

    def validate_currency(self, value: str) -> str:
        try:
            return normalize_currency(value)
        except InvalidRequestError as error:
            raise serializers.ValidationError(error.message) from error

    def validate_customer_phone(self, value: str) -> str:
        if not value:
            return value
        try:
            number = phonenumbers.parse(value, "US")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            raise serializers.ValidationError("Not a valid phone number.")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class CaptureInput(InputSerializer):
    amount = amount_field()
    merchant_reference = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


class RefundInput(InputSerializer):
    amount = amount_field()
    reason = StrictCharField(max_length=200, required=False, allow_blank=True, default="")


class VoidInput(InputSerializer):
    pass


SESSION_EXAMPLE = {
    "amount": 12000,
    "currency": "USD",
    "line_items": [
        {"name": "Trail shoes", "quantity": 1, "unit_amount": 9000},
        {"name": "Socks", "quantity": 2, "unit_amount": 1500},
    ],
    "return_url": "https://shop.example.com/order/1001/thanks",
    "cancel_url": "https://shop.example.com/cart",
    "merchant_reference": "1001",
    "customer_email": "shopper@example.com",
}


class CheckoutSessionListCreateApi(MerchantScopedApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {400: ("line_items_missing", "amount_mismatch", "currency_not_enabled", "no_eligible_product")}
    }
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="checkout_session_list",
        responses=CheckoutSessionListItemRepresentation(many=True),
        tags=["checkout"],
    )
    def get(self, request: Request) -> Response:
        sessions = selectors.checkout_session_list(merchant=self.merchant, livemode=self.livemode)
        return self.paginated(sessions, CheckoutSessionListItemRepresentation)

    @extend_schema(
        operation_id="checkout_session_create",
        request=CheckoutSessionCreateInput,
        responses={201: CheckoutSessionRepresentation},
        examples=[OpenApiExample("A two-item cart", value=SESSION_EXAMPLE, request_only=True)],
        tags=["checkout"],
    )
    def post(self, request: Request) -> Response:
        data = CheckoutSessionCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        session = checkout_sessions.checkout_session_create(
            merchant=self.merchant, livemode=self.livemode, **data.validated_data
        )
        return Response(checkout_session_response(session, new=True), status=status.HTTP_201_CREATED)


class CheckoutSessionDetailApi(MerchantScopedApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": CheckoutSession}

    @extend_schema(operation_id="checkout_session_retrieve", responses=CheckoutSessionRepresentation, tags=["checkout"])
    def get(self, request: Request, id: str) -> Response:
        return Response(checkout_session_response(self.path_objects["id"]))


class OrderListApi(MerchantScopedApi):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(operation_id="order_list", responses=OrderRepresentation(many=True), tags=["orders"])
    def get(self, request: Request) -> Response:
        checkout_orders.orders_expire(merchant=self.merchant, livemode=self.livemode)
        orders = selectors.order_list(merchant=self.merchant, livemode=self.livemode)
        return self.paginated(orders, OrderRepresentation, finish=ORDER_REPRESENTATION.finish)


class OrderDetailApi(MerchantScopedApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Order}
    path_loading: ClassVar[dict[str, Loading]] = {"id": ORDER_REPRESENTATION}

    @extend_schema(operation_id="order_retrieve", responses=OrderRepresentation, tags=["orders"])
    def get(self, request: Request, id: str) -> Response:
        return Response(OrderRepresentation(checkout_orders.order_expire_if_due(order=self.path_objects["id"])).data)


class OrderCaptureApi(MerchantScopedApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {409: ("order_expired", "order_voided", "order_captured", "order_refunded", "amount_exceeds_open")}
    }
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Order}

    @extend_schema(
        operation_id="order_capture",
        request=CaptureInput,
        responses={201: CaptureRepresentation},
        examples=[
            OpenApiExample(
                "First shipment", value={"amount": 1000, "merchant_reference": "shipment-1"}, request_only=True
            )
        ],
        tags=["orders"],
    )
    def post(self, request: Request, id: str) -> Response:
        data = CaptureInput(data=request.data)
        data.is_valid(raise_exception=True)
        capture = checkout_orders.order_capture(order=self.path_objects["id"], **data.validated_data)
        return Response(CaptureRepresentation(capture).data, status=status.HTTP_201_CREATED)


class OrderVoidApi(MerchantScopedApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {
            409: (
                "order_expired",
                "order_voided",
                "order_captured",
                "order_refunded",
                "nothing_to_void",
                "return_exceeds_payments",
            )
        }
    }
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Order}

    @extend_schema(
        operation_id="order_void",
        request=VoidInput,
        responses=OrderRepresentation,
        examples=[OpenApiExample("Release the rest", value={}, request_only=True)],
        tags=["orders"],
    )
    def post(self, request: Request, id: str) -> Response:
        VoidInput(data=request.data).is_valid(raise_exception=True)
        order = checkout_orders.order_void(order=self.path_objects["id"])
        return Response(OrderRepresentation(order).data)


class OrderRefundApi(MerchantScopedApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {409: ("amount_exceeds_captured", "return_exceeds_payments")}
    }
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Order}

    @extend_schema(
        operation_id="order_refund",
        request=RefundInput,
        responses={201: RefundRepresentation},
        examples=[
            OpenApiExample("A returned item", value={"amount": 500, "reason": "returned socks"}, request_only=True)
        ],
        tags=["orders"],
    )
    def post(self, request: Request, id: str) -> Response:
        data = RefundInput(data=request.data)
        data.is_valid(raise_exception=True)
        refund = checkout_orders.order_refund(order=self.path_objects["id"], **data.validated_data)
        return Response(RefundRepresentation(refund).data, status=status.HTTP_201_CREATED)


class PlanDetailApi(MerchantScopedApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Plan}

    @extend_schema(operation_id="plan_retrieve", responses=PlanWithHistoryRepresentation, tags=["plans"])
    def get(self, request: Request, id: str) -> Response:
        return Response(PlanWithHistoryRepresentation(self.path_objects["id"]).data)


class PaymentProductListApi(MerchantScopedApi):
    """Public widget data ("4 payments of $25.00"): publishable keys may call it."""

    allow_publishable_key = True
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="payment_product_list", responses=PaymentProductRepresentation(many=True), tags=["products"]
    )
    def get(self, request: Request) -> Response:
        products = payment_product_list(merchant=self.merchant, livemode=self.livemode, enabled_only=True)
        return self.paginated(products, PaymentProductRepresentation)


class DisputeListQuery(InputSerializer):
    status = StrictChoiceField(choices=Dispute.Status.choices, required=False)
    order = StrictCharField(required=False, max_length=64)


class DisputeListApi(MerchantScopedApi):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        operation_id="dispute_list",
        parameters=[DisputeListQuery],
        responses=DisputeRepresentation(many=True),
        tags=["disputes"],
    )
    def get(self, request: Request) -> Response:
        query = DisputeListQuery(
            data={key: request.query_params[key] for key in ("status", "order") if key in request.query_params}
        )
        query.is_valid(raise_exception=True)
        found = scoped_queryset(Dispute, merchant=self.merchant, livemode=self.livemode).select_related("order")
        if "status" in query.validated_data:
            found = found.filter(status=query.validated_data["status"])
        if "order" in query.validated_data:
            found = found.filter(order__public_id=query.validated_data["order"])
        return self.paginated(found, DisputeRepresentation)


class DisputeDetailApi(MerchantScopedApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Dispute}

    @extend_schema(operation_id="dispute_retrieve", responses=DisputeRepresentation, tags=["disputes"])
    def get(self, request: Request, id: str) -> Response:
        return Response(DisputeRepresentation(self.path_objects["id"]).data)


class DisputeAcceptInput(InputSerializer):
    """Accepting takes no parameters (any sent is refused by name)."""


class DisputeAcceptApi(MerchantScopedApi):
    """Agree with the consumer: the disputed amount not yet refunded is refunded now."""

    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {409: ("dispute_closed", "amount_exceeds_captured", "return_exceeds_payments")}
    }

    path_models: ClassVar[dict[str, type[Model]]] = {"id": Dispute}

    @extend_schema(
        operation_id="dispute_accept", request=DisputeAcceptInput, responses=DisputeRepresentation, tags=["disputes"]
    )
    def post(self, request: Request, id: str) -> Response:
        DisputeAcceptInput(data=request.data).is_valid(raise_exception=True)
        return Response(DisputeRepresentation(disputes.dispute_accept(dispute=self.path_objects["id"])).data)


class DisputeContestInput(InputSerializer):
    evidence = StrictCharField(max_length=disputes.MAX_TEXT, help_text="Tracking, delivery or policy details")


class DisputeContestApi(MerchantScopedApi):
    """Disagree, with evidence: our team decides, and collections stay paused until then."""

    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {409: ("dispute_closed", "dispute_under_review")}
    }

    path_models: ClassVar[dict[str, type[Model]]] = {"id": Dispute}

    @extend_schema(
        operation_id="dispute_contest",
        request=DisputeContestInput,
        responses=DisputeRepresentation,
        examples=[
            OpenApiExample(
                "Delivered", value={"evidence": "Delivered 2 Dec, signed for: tracking 1Z999"}, request_only=True
            )
        ],
        tags=["disputes"],
    )
    def post(self, request: Request, id: str) -> Response:
        data = DisputeContestInput(data=request.data)
        data.is_valid(raise_exception=True)
        dispute = disputes.dispute_contest(dispute=self.path_objects["id"], **data.validated_data)
        return Response(DisputeRepresentation(dispute).data)
