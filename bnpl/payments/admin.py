from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from bnpl.payments.models import Charge, PaymentMethod


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    list_display = ["public_id", "consumer", "gateway", "brand", "last4", "exp_month", "exp_year", "is_default"]
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
