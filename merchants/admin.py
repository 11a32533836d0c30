"""Operators' tools for tenants: approve or suspend merchants (audited), see teams and keys.
Secrets never show: keys appear by their hint only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from bnpl.core.errors import ApplicationError
from merchants import services
from merchants.models import ApiKey, Membership, Merchant, WebhookEndpoint


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]


def _apply(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Merchant], service, verb: str
) -> None:  # type: ignore[no-untyped-def, type-arg]
    for merchant in queryset:
        try:
            service(merchant=merchant)
        except ApplicationError as error:
            modeladmin.message_user(request, f"{merchant}: {error.message}", level=messages.ERROR)
        else:
            modeladmin.message_user(request, f"{merchant}: {verb}.", level=messages.SUCCESS)


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "public_id", "status", "country", "default_currency", "created_at", "approved_at"]
    list_filter = ["status", "country"]
    search_fields = ["name", "public_id", "website", "support_email"]
    readonly_fields = ["public_id", "status", "approved_at", "suspended_at", "created_at", "updated_at"]
    inlines = [MembershipInline]
    actions = ["approve", "suspend", "reinstate"]

    @admin.action(description="Approve selected merchants (opens live mode)")
    def approve(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        _apply(self, request, queryset, services.merchant_approve, "approved")

    @admin.action(description="Suspend selected merchants (refuses every key)")
    def suspend(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        _apply(self, request, queryset, services.merchant_suspend, "suspended")

    @admin.action(description="Reinstate selected suspended merchants")
    def reinstate(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        _apply(self, request, queryset, services.merchant_reinstate, "reinstated")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "merchant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "merchant__name"]
    autocomplete_fields = ["user", "merchant"]
    readonly_fields = ["public_id"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["token_hint", "merchant", "kind", "livemode", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["kind", "livemode"]
    search_fields = ["merchant__name", "public_id", "name"]
    fields = [
        "public_id",
        "merchant",
        "kind",
        "livemode",
        "name",
        "token_hint",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # every field shown, none editable
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are issued by the merchant (dashboard) so the secret reaches only them

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        self.message_user(request, f"{queryset.count()} key(s) revoked.", level=messages.SUCCESS)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["url", "merchant", "livemode", "status", "created_at", "deleted_at"]
    list_filter = ["status", "livemode"]
    search_fields = ["url", "merchant__name", "public_id"]
    exclude = ["secret"]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [field.name for field in WebhookEndpoint._meta.fields if field.name != "secret"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
