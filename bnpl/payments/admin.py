from __future__ import annotations

from django.contrib import admin

from bnpl.core.admin import ReadOnlyAdmin
from bnpl.payments.models import Charge, PaymentMethod


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "consumer",
        "livemode",
        "gateway",
        "brand",
        "last4",
        "exp_month",
        "exp_year",
        "is_default",
    ]
    list_filter = ["livemode", "gateway"]
    search_fields = ["public_id", "consumer__email", "last4"]
    exclude = ["gateway_token"]


@admin.register(Charge)
class ChargeAdmin(ReadOnlyAdmin):
    list_display = [
        "public_id",
        "consumer",
        "kind",
        "amount",
        "currency",
        "livemode",
        "status",
        "failure_code",
        "created_at",
    ]
    list_filter = ["kind", "status", "livemode"]
    search_fields = ["public_id", "consumer__email", "gateway_reference", "idempotency_key"]
