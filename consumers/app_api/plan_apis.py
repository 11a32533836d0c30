"""Consumer app API, issue 20 item 3: the consumer's profile, plans (with their schedules and history
in plain words), paying them (now, early, off), moving a due date, the credit agreement, hardship
requests, and returns and disputes. Each endpoint calls the service the portal's page calls
(``consumers.plan_views``, ``consumers.account_views``): the same checks, audit rows and events.

Paying calls the card gateway, which never happens inside a transaction: those handlers run outside
the request transaction (``handler_atomic = False``), as their services open their own."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Model
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from bnpl.api.pagination import NewestFirstCursorPagination
from bnpl.api.serializers import (
    InputSerializer,
    NoInput,
    StrictCharField,
    StrictChoiceField,
    StrictDateField,
    StrictIntegerField,
)
from bnpl.checkout import disputes
from bnpl.checkout.models import Dispute
from bnpl.collections.models import HardshipRequest
from bnpl.core.errors import InvalidRequestError
from bnpl.core.money import MAX_AMOUNT, normalize_currency
from bnpl.plans.models import Plan
from bnpl.servicing import actions
from bnpl.servicing import selectors as servicing_selectors
from bnpl.servicing import services as servicing
from consumers import documents, selectors
from consumers.app_api.base import ConsumerAppApi
from consumers.app_api.representations import (
    AppPlanRepresentation,
    DisputeRepresentation,
    HardshipRequestRepresentation,
    PaymentRepresentation,
    PlanDetailRepresentation,
    ProfileRepresentation,
)
from consumers.history import plan_history

PLAN_TAGS = ["plans"]
DISPUTE_TAGS = ["returns and disputes"]
PDF = {(200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The document (PDF)")}

# What a payment may be refused for: the plan's state, and the card's answer (402, stored for replay).
PAYMENT_ERRORS: dict[int, tuple[str, ...]] = {
    400: ("invalid_request",),
    402: ("card_declined", "insufficient_funds", "expired_card", "payment_method_wrong_mode", "processing_error"),
    409: ("plan_charged_off", "nothing_to_pay", "conflict"),
}


def _plans(consumer: Any) -> Any:
    """The consumer's plans (the portal's selector) with the rows each representation reads."""
    return selectors.plan_list(consumer=consumer).prefetch_related("installments", "order__disputes")


class ProfileApi(ConsumerAppApi):
    @extend_schema(
        operation_id="app_profile_retrieve",
        description="The consumer's profile, as the portal's Profile page shows it. Nothing in it is changed "
        "here: identity is confirmed at a checkout; notification choices are at /preferences.",
        responses=ProfileRepresentation,
        tags=["profile"],
    )
    def get(self, request: Request) -> Response:
        consumer = type(self.consumer).objects.select_related("identity").get(pk=self.consumer.pk)
        return Response(ProfileRepresentation(consumer).data)


class PlanListApi(ConsumerAppApi):
    pagination_class = NewestFirstCursorPagination
    listed_model = Plan

    @extend_schema(
        operation_id="app_plan_list",
        description="The consumer's plans at every shop, newest first, each with its schedule.",
        responses=AppPlanRepresentation(many=True),
        tags=PLAN_TAGS,
    )
    def get(self, request: Request) -> Response:
        return self.paginated(_plans(self.consumer), AppPlanRepresentation)


def _plan_detail(plan: Plan) -> dict[str, Any]:
    """The plan as its page shows it: what paying off costs now, whether a due date may move, its
    history (``consumers.plan_views.plan_detail``'s figures, by the same services)."""
    plan = _plans(plan.consumer).get(pk=plan.pk)
    can_pay = plan.status == Plan.Status.ACTIVE and plan.standing != Plan.Standing.CHARGED_OFF
    context = {
        "payoff_amount": servicing_selectors.plan_payoff_amount(plan=plan) if can_pay else 0,
        "can_move_due_date": can_pay and not plan.due_date_moved,
        "history": plan_history(plan=plan, shop=selectors.shop_name(plan.merchant)),
    }
    return dict(PlanDetailRepresentation(plan, context=context).data)


class PlanDetailApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Plan}

    @extend_schema(
        operation_id="app_plan_retrieve",
        description="One plan: its schedule, what is left, the next payment, what paying off costs today, and "
        "its history in plain words.",
        responses=PlanDetailRepresentation,
        tags=PLAN_TAGS,
    )
    def get(self, request: Request, id: str) -> Response:
        return Response(_plan_detail(self.path_objects["id"]))


class PlanPaymentApi(ConsumerAppApi):
    """A payment on a plan, charged now to the plan's card."""

    path_models: ClassVar[dict[str, type[Model]]] = {"id": Plan}
    handler_atomic = False  # the gateway is called outside any transaction (bnpl.servicing.services)
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": PAYMENT_ERRORS}

    def paid(self, charge: Any) -> Response:
        return Response(PaymentRepresentation(charge).data, status=status.HTTP_201_CREATED)


class PlanPayNowApi(PlanPaymentApi):
    @extend_schema(
        operation_id="app_plan_pay_now",
        description="Pay the next payment now (what is left of it), from the plan's card. A retry with the same "
        "Idempotency-Key never pays twice.",
        request=None,
        responses={201: PaymentRepresentation},
        tags=PLAN_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        return self.paid(servicing.plan_pay_next_installment(plan=self.path_objects["id"]))


class PayEarlyInput(InputSerializer):
    amount = StrictIntegerField(min_value=1, max_value=MAX_AMOUNT, help_text="Minor units to pay ahead (2500 = $25.00)")
    currency = StrictCharField(max_length=3, help_text="The plan's currency (ISO 4217)")

    def validate_currency(self, value: str) -> str:
        try:
            return normalize_currency(value)
        except InvalidRequestError as error:
            raise serializers.ValidationError(error.message) from error


class PlanPayEarlyApi(PlanPaymentApi):
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {**PAYMENT_ERRORS, 400: ("invalid_request", "currency_mismatch")}
    }

    @extend_schema(
        operation_id="app_plan_pay_early",
        description="Pay an amount ahead: it goes to the next payments. On a financing plan pay the next payment "
        "(pay-now) or everything (pay-off) instead: a part paid early would pay interest not yet earned.",
        request=PayEarlyInput,
        responses={201: PaymentRepresentation},
        examples=[OpenApiExample("$30.00", value={"amount": 3000, "currency": "USD"}, request_only=True)],
        tags=PLAN_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        data = PayEarlyInput(data=request.data)
        data.is_valid(raise_exception=True)
        plan = self.path_objects["id"]
        if data.validated_data["currency"] != plan.currency:
            raise InvalidRequestError(
                f"This plan is paid in {plan.currency}.", code="currency_mismatch", param="currency"
            )
        return self.paid(servicing.plan_pay_early(plan=plan, amount=data.validated_data["amount"]))


class PlanPayOffApi(PlanPaymentApi):
    @extend_schema(
        operation_id="app_plan_pay_off",
        description="Pay everything left (`payoff_amount` of the plan: financing owes only the interest earned "
        "so far).",
        request=None,
        responses={201: PaymentRepresentation},
        tags=PLAN_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        return self.paid(servicing.plan_pay_early(plan=self.path_objects["id"]))


class MoveDueDateInput(InputSerializer):
    installment = StrictIntegerField(min_value=1, max_value=1000, help_text="The payment's sequence number")
    due_date = StrictDateField(help_text="The new date: up to 14 days after the current one")


class PlanMoveDueDateApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Plan}
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("due_date_already_moved",)}}

    @extend_schema(
        operation_id="app_plan_move_due_date",
        description="Move one upcoming payment's due date, once per plan, by up to 14 days.",
        request=MoveDueDateInput,
        responses={200: PlanDetailRepresentation},
        examples=[
            OpenApiExample("A week later", value={"installment": 2, "due_date": "2026-02-08"}, request_only=True)
        ],
        tags=PLAN_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        data = MoveDueDateInput(data=request.data)
        data.is_valid(raise_exception=True)
        plan = self.path_objects["id"]
        actions.installment_move_due_date(
            plan=plan, sequence=data.validated_data["installment"], due_date=data.validated_data["due_date"]
        )
        return Response(_plan_detail(plan))


class PlanAgreementApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Plan}

    @extend_schema(
        operation_id="app_plan_agreement",
        description="The plan's credit agreement, with the terms agreed (PDF).",
        responses=PDF,
        tags=PLAN_TAGS,
    )
    def get(self, request: Request, id: str) -> HttpResponse:
        plan = self.path_objects["id"]
        return pdf_response(documents.credit_agreement_pdf(plan), f"credit-agreement-{plan.public_id}.pdf")


def pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- Hardship ---------------------------------------------------------------------------------


class HardshipInput(InputSerializer):
    reason = StrictCharField(max_length=2000, help_text="What has happened, briefly")


class PlanHardshipApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Plan}
    pagination_class = NewestFirstCursorPagination
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {409: ("plan_not_active", "hardship_already_open")}
    }

    @property
    def representation_context(self) -> dict[str, Any]:
        return {"plan": self.path_objects["id"]}

    @extend_schema(
        operation_id="app_plan_hardship_list",
        description="The plan's requests for hardship help, newest first.",
        responses=HardshipRequestRepresentation(many=True),
        tags=PLAN_TAGS,
    )
    def get(self, request: Request, id: str) -> Response:
        plan = self.path_objects["id"]
        return self.paginated(HardshipRequest.objects.filter(plan=plan), HardshipRequestRepresentation)

    @extend_schema(
        operation_id="app_plan_hardship_request",
        description="Ask for help: payments and late fees on the plan pause while our team looks at it.",
        request=HardshipInput,
        responses={201: HardshipRequestRepresentation},
        examples=[OpenApiExample("Lost a job", value={"reason": "I lost my job last week."}, request_only=True)],
        tags=PLAN_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        data = HardshipInput(data=request.data)
        data.is_valid(raise_exception=True)
        asked = actions.hardship_request(plan=self.path_objects["id"], reason=data.validated_data["reason"])
        return Response(
            HardshipRequestRepresentation(asked, context=self.representation_context).data,
            status=status.HTTP_201_CREATED,
        )


# --- Returns and disputes ---------------------------------------------------------------------


class DisputeOpenInput(InputSerializer):
    kind = StrictChoiceField(choices=Dispute.Kind.choices, help_text="A return, or a problem with the order")
    reason = StrictChoiceField(choices=Dispute.Reason.choices, required=False, help_text="Why (a return: returned)")
    amount = StrictIntegerField(
        min_value=1,
        max_value=MAX_AMOUNT,
        required=False,
        help_text="Minor units in question; all that can still be refunded when omitted",
    )
    description = StrictCharField(max_length=disputes.MAX_TEXT, required=False, allow_blank=True, default="")


class PlanDisputeOpenApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Plan}
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {
        "POST": {
            409: (
                "nothing_to_dispute",
                "dispute_already_open",
                "dispute_limit_reached",
                "dispute_rate_limited",
            )
        }
    }

    @extend_schema(
        operation_id="app_dispute_open",
        description="Report a return or open a dispute about the plan's order. The payments it covers are put on "
        "hold at once and the shop is told; keep paying the others.",
        request=DisputeOpenInput,
        responses={201: DisputeRepresentation},
        examples=[
            OpenApiExample(
                "A return",
                value={"kind": "return", "amount": 1000, "description": "Sent one back"},
                request_only=True,
            )
        ],
        tags=DISPUTE_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        data = DisputeOpenInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        plan = self.path_objects["id"]
        dispute = disputes.dispute_open(
            order=plan.order,
            consumer=self.consumer,
            kind=values["kind"],
            reason=values.get("reason", ""),
            amount=values.get("amount"),
            description=values["description"],
        )
        return Response(DisputeRepresentation(dispute).data, status=status.HTTP_201_CREATED)


class DisputeListApi(ConsumerAppApi):
    pagination_class = NewestFirstCursorPagination
    listed_model = Dispute

    @extend_schema(
        operation_id="app_dispute_list",
        description="The consumer's returns and disputes, newest first.",
        responses=DisputeRepresentation(many=True),
        tags=DISPUTE_TAGS,
    )
    def get(self, request: Request) -> Response:
        return self.paginated(selectors.dispute_list(consumer=self.consumer), DisputeRepresentation)


class DisputeDetailApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Dispute}

    @extend_schema(operation_id="app_dispute_retrieve", responses=DisputeRepresentation, tags=DISPUTE_TAGS)
    def get(self, request: Request, id: str) -> Response:
        return Response(DisputeRepresentation(self.path_objects["id"]).data)


class DisputeWithdrawApi(ConsumerAppApi):
    path_models: ClassVar[dict[str, type[Model]]] = {"id": Dispute}
    error_codes: ClassVar[dict[str, dict[int, tuple[str, ...]]]] = {"POST": {409: ("dispute_closed",)}}

    @extend_schema(
        operation_id="app_dispute_withdraw",
        description="Take a return or dispute back (the goods arrived after all). The payments it held keep their "
        "original due dates: any already due are collected now.",
        request=None,
        responses={200: DisputeRepresentation},
        tags=DISPUTE_TAGS,
    )
    def post(self, request: Request, id: str) -> Response:
        NoInput(data=request.data).is_valid(raise_exception=True)
        dispute = disputes.dispute_withdraw(dispute=self.path_objects["id"], consumer=self.consumer)
        return Response(DisputeRepresentation(dispute).data)
