"""Operators configure payment products (audited through the service) and read plans."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from bnpl.core.admin import ReadOnlyAdmin, ReadOnlyInline
from bnpl.plans.models import Installment, PaymentProduct, Plan
from bnpl.plans.services import product_update

EDITABLE = [
    "name",
    "is_enabled",
    "min_amount",
    "max_amount",
    "apr_bps",
    "down_payment_bps",
    "merchant_fee_bps",
    "merchant_fee_fixed_amount",
    "late_fee_amount",
    "late_fee_grace_days",
    "late_fee_cap_bps",
    "late_fee_cap_amount",
    "refund_policy",
    "credit_cutoff_probability",
    "spending_limit_amount",
]


@admin.register(PaymentProduct)
class PaymentProductAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "name",
        "merchant",
        "livemode",
        "currency",
        "kind",
        "is_enabled",
        "min_amount",
        "max_amount",
        "apr_bps",
    ]
    list_filter = ["kind", "livemode", "currency", "is_enabled"]
    search_fields = ["merchant__name", "public_id"]
    fields = ["public_id", "merchant", "livemode", "kind", "currency", "installment_count", "interval_days", *EDITABLE]
    readonly_fields = ["public_id", "merchant", "livemode", "kind", "currency", "installment_count", "interval_days"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # products are made per merchant by the platform, then configured here

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: PaymentProduct, form: forms.ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        product_update(product=obj, **{field: form.cleaned_data[field] for field in form.changed_data})


class InstallmentInline(ReadOnlyInline):
    model = Installment
    fields = ["sequence", "due_date", "amount", "principal_amount", "interest_amount", "paid_amount", "status"]
    readonly_fields = fields  # type: ignore[assignment]


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "merchant", "livemode", "consumer", "status", "currency", "created_at"]
    list_filter = ["status", "livemode"]
    search_fields = ["public_id", "consumer__email", "order__public_id"]
    inlines = [InstallmentInline]
