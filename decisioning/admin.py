from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from decisioning.models import CreditDecision


@admin.register(CreditDecision)
class CreditDecisionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = [
        "public_id",
        "created_at",
        "merchant",
        "consumer",
        "product_kind",
        "amount",
        "currency",
        "outcome",
        "policy_version",
    ]
    list_filter = ["outcome", "product_kind", "livemode", "policy_version"]
    search_fields = ["public_id", "consumer__email", "merchant__name"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
