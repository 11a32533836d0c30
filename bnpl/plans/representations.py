"""Public shapes of payment products and plans (API responses and event payloads)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from bnpl.core.models import AuditLogEntry
from bnpl.plans.models import Installment, PaymentProduct, Plan


class PaymentProductRepresentation(serializers.Serializer[PaymentProduct]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    kind = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    installment_count = serializers.IntegerField()
    interval_days = serializers.IntegerField(help_text="Days between payments; 0 means monthly")
    apr_bps = serializers.IntegerField(help_text="Annual percentage rate in basis points (1999 = 19.99%)")
    down_payment_bps = serializers.IntegerField()
    min_amount = serializers.IntegerField()
    max_amount = serializers.IntegerField()
    refund_policy = serializers.CharField()

    def get_object(self, instance: PaymentProduct) -> str:
        return "payment_product"


class InstallmentRepresentation(serializers.Serializer[Installment]):
    sequence = serializers.IntegerField()
    due_date = serializers.DateField()
    amount = serializers.IntegerField()
    principal_amount = serializers.IntegerField()
    interest_amount = serializers.IntegerField()
    fee_amount = serializers.IntegerField(help_text="A late fee (the row is the fee)")
    paid_amount = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Installment.Status.choices)
    on_hold = serializers.BooleanField(
        source="is_on_hold", help_text="Held by an open return or dispute: not collected until it closes"
    )


class PlanRepresentation(serializers.Serializer[Plan]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    order = serializers.CharField(source="order.public_id")
    product = PaymentProductRepresentation()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Plan.Status.choices)
    collections_paused = serializers.BooleanField()
    standing = serializers.ChoiceField(
        choices=Plan.Standing.choices, help_text="current, late, delinquent, charged_off"
    )
    apr_bps = serializers.IntegerField()
    refund_policy = serializers.CharField()
    total_amount = serializers.SerializerMethodField()
    paid_amount = serializers.SerializerMethodField()
    installments = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def to_representation(self, instance: Plan) -> Any:
        self._rows = list(instance.installments.order_by("sequence"))  # one query for the three fields below
        return super().to_representation(instance)

    def get_object(self, instance: Plan) -> str:
        return "plan"

    def get_total_amount(self, instance: Plan) -> int:
        return sum(installment.amount for installment in self._rows)

    def get_paid_amount(self, instance: Plan) -> int:
        return sum(installment.paid_amount for installment in self._rows)

    def get_installments(self, instance: Plan) -> list[dict[str, Any]]:
        rows = [row for row in self._rows if row.status != Installment.Status.CANCELED]
        serialized = InstallmentRepresentation(rows, many=True).data  # type: ignore[arg-type]
        return [dict(row) for row in serialized]


class PlanHistoryRepresentation(serializers.Serializer[AuditLogEntry]):
    action = serializers.CharField()
    created_at = serializers.DateTimeField()
    actor_kind = serializers.CharField()
    request_id = serializers.CharField()
    installments = serializers.SerializerMethodField()

    def get_installments(self, instance: AuditLogEntry) -> Any:
        return (instance.after or {}).get("installments", [])


class PlanWithHistoryRepresentation(PlanRepresentation):
    history = serializers.SerializerMethodField()

    def get_history(self, instance: Plan) -> list[dict[str, Any]]:
        entries = AuditLogEntry.objects.filter(object_type="plans.plan", object_id=instance.public_id).order_by(
            "created_at", "id"
        )
        return [dict(PlanHistoryRepresentation(entry).data) for entry in entries]


def plan_data(plan: Plan) -> dict[str, Any]:
    return dict(PlanRepresentation(plan).data)
