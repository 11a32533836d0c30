from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from bnpl.core.context import current_actor
from bnpl.core.errors import ApplicationError
from consumers.erasure import consumer_erase
from consumers.models import Consumer, Identity, OneTimeCode, SandboxMessage
from decisioning.admin import CashFlowMonthInline


@admin.register(Consumer)
class ConsumerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Consumers. "Erase personal data" (the ``consumers.erase_consumer`` permission) erases the
    selected consumers' personal data after a confirmation page; see docs/operations.md."""

    actions = ["erase_personal_data"]
    list_display = ["public_id", "email", "phone", "status", "created_at", "last_sign_in_at"]
    list_filter = ["status"]
    search_fields = ["public_id", "email", "phone"]
    inlines = [CashFlowMonthInline]  # the bank cash flow decisions read, month by month
    readonly_fields = [
        "public_id",
        "email_verified_at",
        "phone_verified_at",
        "last_sign_in_at",
        "erased_at",
        "created_at",
        "updated_at",
    ]

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("consumers.erase_consumer"))  # type: ignore[union-attr]

    @admin.action(description="Erase personal data (keeps the books; irreversible)", permissions=["erase"])
    def erase_personal_data(self, request: HttpRequest, queryset: QuerySet[Consumer]) -> TemplateResponse | None:
        if request.POST.get("confirmed") != "yes":
            return TemplateResponse(
                request,
                "admin/consumers/consumer/erase_confirmation.html",
                {**self.admin_site.each_context(request), "title": "Erase personal data?", "consumers": queryset},
            )
        for consumer in queryset:
            try:
                consumer_erase(consumer=consumer, actor=current_actor())
            except ApplicationError as error:
                self.message_user(request, f"{consumer.public_id}: {error.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"{consumer.public_id}: personal data erased; the books are intact.")
        return None


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
