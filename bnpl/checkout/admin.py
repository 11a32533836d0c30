"""Operators see sessions and orders (read-only: money moves only through the services)."""

from __future__ import annotations

from django.contrib import admin

from bnpl.checkout.models import Capture, CheckoutSession, Order, Refund
from bnpl.core.admin import ReadOnlyAdmin, ReadOnlyInline


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
