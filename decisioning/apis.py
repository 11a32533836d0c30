"""The operators' API for credit decisions: every decision with its reasons, score, model version
and what it saw, for the lender's own people and tools (not merchants: a merchant never learns why
a shopper was declined). Authenticated by the operator's admin sign-in; needs the
``decisioning.view_creditdecision`` permission. Not part of the partner schema."""

from __future__ import annotations

from typing import Any, ClassVar

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bnpl.accounts import two_factor
from bnpl.api.pagination import NewestFirstCursorPagination
from bnpl.core.errors import NotFoundError
from bnpl.core.ids import is_well_formed
from decisioning.models import CreditDecision


class CanViewCreditDecisions(BasePermission):
    """An operator whose admin sign-in passed the second factor, like every admin page."""

    message = "Sign in to the operations admin (with your authenticator code) with permission to view credit decisions."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(
            user
            and user.is_active
            and user.is_staff
            and user.has_perm("decisioning.view_creditdecision")
            and two_factor.operator_verified(request._request)
        )


class ReasonRepresentation(serializers.Serializer[Any]):
    code = serializers.CharField()
    text = serializers.CharField()


class CreditDecisionOperatorRepresentation(serializers.Serializer[CreditDecision]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    outcome = serializers.ChoiceField(choices=CreditDecision.Outcome.choices)
    reasons = ReasonRepresentation(many=True, help_text="Principal reasons, strongest first")
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    approved_amount = serializers.IntegerField(allow_null=True)
    down_payment_amount = serializers.IntegerField()
    spending_limit = serializers.IntegerField(allow_null=True)
    product_kind = serializers.CharField()
    consumer = serializers.CharField(source="consumer.public_id")
    merchant = serializers.CharField(source="merchant.public_id")
    checkout_session = serializers.CharField(source="checkout_session.public_id", allow_null=True, default=None)
    score = serializers.FloatField(allow_null=True, help_text="Calibrated probability of default")
    cutoff_probability = serializers.FloatField(allow_null=True)
    model_version = serializers.CharField(source="model_version.public_id", allow_null=True, default=None)
    challenger_version = serializers.CharField(source="challenger_version.public_id", allow_null=True, default=None)
    challenger_score = serializers.FloatField(allow_null=True)
    policy_version = serializers.CharField()
    features = serializers.JSONField(help_text="What the policy saw")
    model_inputs = serializers.JSONField(help_text="The model's features; null is unknown")
    cash_flow = serializers.JSONField(help_text="Bank cash-flow features; empty without bank data")
    latency_ms = serializers.FloatField(allow_null=True)
    review_status = serializers.CharField()
    review_note = serializers.CharField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_object(self, instance: CreditDecision) -> str:
        return "credit_decision"


class DecisionListQuery(serializers.Serializer[Any]):
    outcome = serializers.ChoiceField(choices=CreditDecision.Outcome.choices, required=False)
    consumer = serializers.CharField(required=False, max_length=40, help_text="A consumer's con_… id")
    livemode = serializers.BooleanField(required=False)


class OperatorApi(APIView):
    authentication_classes: ClassVar[list[Any]] = [SessionAuthentication]  # type: ignore[misc]
    permission_classes: ClassVar[list[Any]] = [CanViewCreditDecisions]  # type: ignore[misc]

    @staticmethod
    def decisions() -> Any:
        return CreditDecision.objects.select_related(
            "consumer", "merchant", "checkout_session", "model_version", "challenger_version"
        )


class CreditDecisionListApi(OperatorApi):
    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        query = DecisionListQuery(
            data={
                key: request.query_params[key]
                for key in ("outcome", "consumer", "livemode")
                if key in request.query_params
            }
        )
        query.is_valid(raise_exception=True)
        decisions = self.decisions()
        for field, lookup in (("outcome", "outcome"), ("consumer", "consumer__public_id"), ("livemode", "livemode")):
            if field in query.validated_data:
                decisions = decisions.filter(**{lookup: query.validated_data[field]})
        paginator = NewestFirstCursorPagination()
        page = paginator.paginate_queryset(decisions, request, view=self)
        return paginator.get_paginated_response(CreditDecisionOperatorRepresentation(page, many=True).data)


class CreditDecisionDetailApi(OperatorApi):
    @extend_schema(exclude=True)
    def get(self, request: Request, id: str) -> Response:
        decision = self.decisions().filter(public_id=id).first() if is_well_formed(id) else None
        if decision is None:
            raise NotFoundError(f"No such credit decision: {id!r}.", param="id")
        return Response(CreditDecisionOperatorRepresentation(decision).data)
