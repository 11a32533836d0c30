"""Operators onboard data partners and issue and revoke their keys here (or with
``manage.py data_partner``). Every change goes through ``partners.services`` (audited, evented); a
key's secret is shown once, on the page that issues it, and never stored."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from bnpl.core.errors import ApplicationError
from partners import services
from partners.models import DataPartner, PartnerApiKey


class PartnerApiKeyInline(admin.TabularInline):  # type: ignore[type-arg]
    model = PartnerApiKey
    fields = ["public_id", "token_hint", "livemode", "name", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = fields  # type: ignore[assignment]  # every field shown, none editable
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DataPartner)
class DataPartnerAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["name", "public_id", "status", "created_at", "suspended_at"]
    list_filter = ["status"]
    search_fields = ["name", "public_id"]
    actions = ["issue_test_key", "issue_live_key", "suspend", "reinstate"]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:  # type: ignore[override]
        if obj is None:
            return ["name", "description", "website"]
        return ["public_id", "name", "description", "website", "status", "created_at", "suspended_at"]

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "website":
            kwargs["assume_scheme"] = "https"  # a bare domain is an https address
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> list[type[admin.TabularInline]]:  # type: ignore[type-arg,override]
        return [] if obj is None else [PartnerApiKeyInline]  # its keys, once it exists

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [] if obj is None else self.get_fields(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # consents and shared data name the partner: suspend it instead

    def save_model(self, request: HttpRequest, obj: DataPartner, form: Any, change: bool) -> None:
        if change:
            return  # every field is read-only once created
        created = services.data_partner_create(name=obj.name, description=obj.description, website=obj.website)
        obj.pk, obj.public_id = created.pk, created.public_id
        obj._state.adding = False

    def _issue(self, request: HttpRequest, queryset: QuerySet[DataPartner], *, livemode: bool) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, "Issue keys to one partner at a time.", level=messages.ERROR)
            return None
        partner = queryset.get()
        try:
            created = services.partner_api_key_create(partner=partner, livemode=livemode, created_by=request.user)
        except ApplicationError as error:
            self.message_user(request, error.message, level=messages.ERROR)
            return None
        return TemplateResponse(
            request,
            "partners/admin/key_issued.html",
            {
                **self.admin_site.each_context(request),
                "partner": partner,
                "api_key": created.api_key,
                "token": created.token,
            },
        )

    @admin.action(description="Issue a test-mode key (shown once)", permissions=["change"])
    def issue_test_key(self, request: HttpRequest, queryset: QuerySet[DataPartner]) -> HttpResponse | None:
        return self._issue(request, queryset, livemode=False)

    @admin.action(description="Issue a live-mode key (shown once)", permissions=["change"])
    def issue_live_key(self, request: HttpRequest, queryset: QuerySet[DataPartner]) -> HttpResponse | None:
        return self._issue(request, queryset, livemode=True)

    @admin.action(description="Suspend (refuse every key)", permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[DataPartner]) -> None:
        for partner in queryset:
            services.data_partner_suspend(partner=partner)
        self.message_user(request, f"{queryset.count()} partner(s) suspended.", level=messages.SUCCESS)

    @admin.action(description="Reinstate", permissions=["change"])
    def reinstate(self, request: HttpRequest, queryset: QuerySet[DataPartner]) -> None:
        for partner in queryset:
            services.data_partner_reinstate(partner=partner)
        self.message_user(request, f"{queryset.count()} partner(s) reinstated.", level=messages.SUCCESS)


@admin.register(PartnerApiKey)
class PartnerApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["token_hint", "partner", "livemode", "name", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["livemode"]
    search_fields = ["partner__name", "public_id", "name"]
    fields = [
        "public_id",
        "partner",
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
        return False  # issued from the partner's page, where the secret is shown once

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[PartnerApiKey]) -> None:
        for api_key in queryset:
            services.partner_api_key_revoke(api_key=api_key)
        self.message_user(request, f"{queryset.count()} key(s) revoked.", level=messages.SUCCESS)
