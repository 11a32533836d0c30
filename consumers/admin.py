from django.contrib import admin

from consumers.models import Consumer, Identity, OneTimeCode, SandboxMessage
from decisioning.admin import CashFlowMonthInline


@admin.register(Consumer)
class ConsumerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["public_id", "email", "phone", "status", "created_at", "last_sign_in_at"]
    list_filter = ["status"]
    search_fields = ["public_id", "email", "phone"]
    inlines = [CashFlowMonthInline]  # the bank cash flow decisions read, month by month
    readonly_fields = [
        "public_id",
        "email_verified_at",
        "phone_verified_at",
        "last_sign_in_at",
        "created_at",
        "updated_at",
    ]


@admin.register(Identity)
class IdentityAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Identity basics; the national id digits are never shown."""

    list_display = ["consumer", "legal_name", "country", "verified_at"]
    search_fields = ["consumer__email", "legal_name"]
    exclude = ["national_id_last4"]
    readonly_fields = ["consumer", "verified_at"]


@admin.register(OneTimeCode)
class OneTimeCodeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["destination", "channel", "created_at", "expires_at", "attempts", "consumed_at", "invalidated_at"]
    search_fields = ["destination"]
    exclude = ["code_hash"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(SandboxMessage)
class SandboxMessageAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["destination", "channel", "subject", "created_at"]
    search_fields = ["destination"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
