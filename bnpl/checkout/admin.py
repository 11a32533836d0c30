"""Operators see sessions and orders (read-only: money moves only through the services), decide
the disputes merchants contested or left unanswered, and pay out consumers' balances."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from bnpl.checkout import disputes
from bnpl.checkout.models import Capture, CheckoutSession, Dispute, Order, Refund
from bnpl.core.admin import ReadOnlyAdmin, ReadOnlyInline
from bnpl.core.errors import ApplicationError
from bnpl.payments.models import ConsumerBalance
from bnpl.servicing import balances


class CaptureInline(ReadOnlyInline):
    model = Capture
    fields = ["public_id", "amount", "merchant_fee_amount", "merchant_reference", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ["public_id", "amount", "applied_to_plan_amount", "returned_to_card_amount", "reason", "created_at"]
    readonly_fields = fields  # type: ignore[assignment]


@admin.register(CheckoutSession)
class CheckoutSessionAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "merchant", "livemode", "status", "amount", "currency", "created_at", "expires_at"]
    list_filter = ["status", "livemode", "currency"]
    search_fields = ["public_id", "merchant_reference", "customer_email", "merchant__name"]


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "merchant",
        "livemode",
        "status",
        "currency",
        "authorized_amount",
        "captured_amount",
        "refunded_amount",
        "created_at",
    ]
    list_filter = ["status", "livemode", "currency"]
    search_fields = ["public_id", "merchant_reference", "merchant__name", "consumer__email"]
    inlines = [CaptureInline, RefundInline]


@admin.register(Dispute)
class DisputeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The disputes queue: those under review first. Set the status to ``won`` (for the merchant:
    collections resume) or ``lost`` (for the consumer: the rest of the amount is refunded) with a
    note and save. Audited and evented like every change."""

    list_display = ["public_id", "order", "kind", "reason", "amount", "status", "respond_by", "created_at"]
    list_filter = ["status", "kind", "source", "reason", "livemode"]
    search_fields = ["public_id", "order__public_id", "merchant__name", "gateway_reference"]
    fields = [
        "public_id",
        "merchant",
        "order",
        "kind",
        "source",
        "gateway_reference",
        "reason",
        "amount",
        "description",
        "evidence",
        "respond_by",
        "status",
        "decision_note",
        "closed_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Dispute]:
        return super().get_queryset(request).select_related("order", "merchant").order_by("-status", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: Dispute | None = None) -> list[str]:
        editable = {"status", "decision_note"} if obj is not None and obj.is_open else set()
        return [str(field) for field in self.fields if field not in editable]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Dispute, form: Any, change: bool) -> None:
        if obj.status in Dispute.OPEN_STATUSES:
            return
        if obj.status not in (Dispute.Status.WON, Dispute.Status.LOST):
            self.message_user(request, "Decide with won (merchant) or lost (consumer).", level=messages.ERROR)
            return
        try:
            disputes.dispute_decide(
                dispute=Dispute.objects.get(pk=obj.pk),
                for_consumer=obj.status == Dispute.Status.LOST,
                note=obj.decision_note,
            )
        except ApplicationError as error:
            self.message_user(request, error.message, level=messages.ERROR)


@admin.register(ConsumerBalance)
class ConsumerBalanceAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Money held for consumers whose card refused a refund. Open ones pay installments as they fall
    due by themselves; to pay one out another way, enter the amount you sent (all that is left),
    how, and the transfer's or check's number, and save (once; audited, evented and posted)."""

    list_display = ["public_id", "consumer", "livemode", "currency", "amount", "applied_amount", "paid_out_amount"]
    list_filter = ["livemode", "currency", "paid_out_method"]
    search_fields = ["public_id", "consumer__public_id", "source_charge__public_id"]
    fields = [
        "public_id",
        "consumer",
        "livemode",
        "currency",
        "amount",
        "source_charge",
        "plan",
        "applied_amount",
        "paid_out_amount",
        "paid_out_method",
        "paid_out_reference",
        "paid_out_at",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: ConsumerBalance | None = None) -> list[str]:
        open_balance = obj is not None and obj.remaining_amount > 0
        editable = {"paid_out_amount", "paid_out_method", "paid_out_reference"} if open_balance else set()
        return [str(field) for field in self.fields if field not in editable]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: ConsumerBalance, form: Any, change: bool) -> None:
        stored = ConsumerBalance.objects.get(pk=obj.pk)
        if not obj.paid_out_method and not obj.paid_out_reference:
            return
        try:
            balances.balance_pay_out(
                balance=stored,
                amount=obj.paid_out_amount - stored.paid_out_amount,
                method=obj.paid_out_method,
                reference=obj.paid_out_reference,
            )
        except ApplicationError as error:
            request.balance_pay_out_refused = True  # type: ignore[attr-defined]
            self.message_user(request, error.message, level=messages.ERROR)

    def response_change(self, request: HttpRequest, obj: ConsumerBalance) -> HttpResponse:
        if getattr(request, "balance_pay_out_refused", False):  # not "changed successfully": back to the form
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)
