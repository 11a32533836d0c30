"""Operators' tools for tenants: approve or suspend merchants (audited), see teams and keys.
Secrets never show: keys appear by their hint only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from bnpl.core.errors import ApplicationError
from bnpl.core.money import normalize_currency
from merchants import onboarding, services, webhooks
from merchants.models import (
    ApiKey,
    BankAccount,
    BusinessProfile,
    Membership,
    Merchant,
    MerchantDocument,
    WebhookDelivery,
    WebhookDeliveryAttempt,
    WebhookEndpoint,
)


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


class MerchantForm(forms.ModelForm):  # type: ignore[type-arg]
    website = forms.URLField(required=False, assume_scheme="https")

    class Meta:
        model = Merchant
        fields = list(services.MERCHANT_EDITABLE_FIELDS)

    def clean_currencies(self) -> list[str]:
        value = self.cleaned_data["currencies"]
        if not isinstance(value, list) or not value:
            raise forms.ValidationError('A list of ISO 4217 codes, e.g. ["USD", "EUR"].')
        try:
            return [normalize_currency(code) for code in value]
        except ApplicationError as error:
            raise forms.ValidationError(error.message) from error


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Every write goes through the merchants services, so each is audited and evented. The actions
    change merchants, so they need the change permission (an operator who may only view merchants
    cannot approve one into live mode)."""

    form = MerchantForm
    list_display = ["name", "public_id", "status", "country", "default_currency", "created_at", "approved_at"]
    list_filter = ["status", "country"]
    search_fields = ["name", "public_id", "website", "support_email"]
    readonly_fields = ["public_id", "status", "approved_at", "suspended_at", "created_at", "updated_at"]
    inlines = [MembershipInline]
    actions = ["approve", "suspend", "reinstate"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # merchants are suspended, never deleted: their history stays

    def save_model(self, request: HttpRequest, obj: Merchant, form: forms.ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        values = {field: form.cleaned_data[field] for field in services.MERCHANT_EDITABLE_FIELDS}
        if change:
            changed = {field: value for field, value in values.items() if field in form.changed_data}
            updated = services.merchant_update(merchant=obj, **changed) if changed else obj
        else:
            updated = services.merchant_create(**values)
        obj.pk, obj.public_id = updated.pk, updated.public_id

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:  # type: ignore[type-arg]
        _save_memberships(self, request, formset, merchant=form.instance)

    @admin.action(description="Approve selected merchants (opens live mode)", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        _apply(self, request, queryset, services.merchant_approve, "approved")

    @admin.action(description="Suspend selected merchants (refuses every key)", permissions=["change"])
    def suspend(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        _apply(self, request, queryset, services.merchant_suspend, "suspended")

    @admin.action(description="Reinstate selected suspended merchants", permissions=["change"])
    def reinstate(self, request: HttpRequest, queryset: QuerySet[Merchant]) -> None:
        _apply(self, request, queryset, services.merchant_reinstate, "reinstated")


def _save_memberships(modeladmin: admin.ModelAdmin, request: HttpRequest, formset: Any, *, merchant: Merchant) -> None:  # type: ignore[type-arg]
    """Team changes from the merchant page, through the services (audited; last owner kept)."""
    formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []  # for admin's history message
    for inline_form in formset.forms:
        if not inline_form.has_changed() and inline_form not in formset.deleted_forms:
            continue
        instance = inline_form.instance
        try:
            if inline_form in formset.deleted_forms:
                if instance.pk:
                    services.membership_delete(membership=instance)
            elif instance.pk:
                services.membership_update(membership=instance, role=inline_form.cleaned_data["role"])
            else:
                services.membership_create(
                    merchant=merchant, user=inline_form.cleaned_data["user"], role=inline_form.cleaned_data["role"]
                )
        except ApplicationError as error:
            modeladmin.message_user(request, error.message, level=messages.ERROR)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["user", "merchant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "merchant__name"]
    autocomplete_fields = ["user", "merchant"]
    readonly_fields = ["public_id"]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return ["public_id", "merchant", "user"] if obj is not None else ["public_id"]

    def save_model(self, request: HttpRequest, obj: Membership, form: forms.ModelForm, change: bool) -> None:  # type: ignore[type-arg]
        try:
            if change:
                services.membership_update(membership=obj, role=form.cleaned_data["role"])
            else:
                created = services.membership_create(
                    merchant=form.cleaned_data["merchant"],
                    user=form.cleaned_data["user"],
                    role=form.cleaned_data["role"],
                )
                obj.pk, obj.public_id = created.pk, created.public_id
        except ApplicationError as error:
            self.message_user(request, error.message, level=messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        try:
            services.membership_delete(membership=obj)
        except ApplicationError as error:
            self.message_user(request, error.message, level=messages.ERROR)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for membership in queryset:
            self.delete_model(request, membership)


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

    @admin.action(description="Revoke selected keys", permissions=["change"])
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


class WebhookDeliveryAttemptInline(admin.TabularInline):  # type: ignore[type-arg]
    """The delivery log, as sent and as answered. Append-only: nothing here can be changed."""

    model = WebhookDeliveryAttempt
    extra = 0
    can_delete = False
    fields = ["attempted_at", "response_status", "duration_ms", "error", "response_body", "request_headers"]
    readonly_fields = fields  # type: ignore[assignment]  # every field shown, none editable

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: deliveries change only by sending, and by the replay action (audited, as the operator)."""

    list_display = [
        "public_id",
        "merchant",
        "livemode",
        "endpoint",
        "event",
        "status",
        "attempt_count",
        "next_attempt_at",
        "last_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "livemode"]
    search_fields = ["public_id", "merchant__name", "endpoint__public_id", "endpoint__url", "event__public_id"]
    list_select_related = ["merchant", "endpoint", "event"]
    fields = [
        "public_id",
        "merchant",
        "livemode",
        "endpoint",
        "event",
        "status",
        "attempt_count",
        "first_attempt_at",
        "last_attempt_at",
        "next_attempt_at",
        "succeeded_at",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # every field shown, none editable
    inlines = [WebhookDeliveryAttemptInline]
    actions = ["replay"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("merchants.replay_webhookdelivery")

    @admin.action(description="Replay selected deliveries (send again now)", permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        replayed = 0
        for delivery in queryset:
            try:
                webhooks.webhook_delivery_replay(delivery=delivery)
            except ApplicationError as error:
                self.message_user(request, f"{delivery}: {error.message}", level=messages.ERROR)
            else:
                replayed += 1
        if replayed:
            self.message_user(request, f"{replayed} deliveries will be sent again now.", level=messages.SUCCESS)


# --- The onboarding queue -----------------------------------------------------------------------


class ApplicationDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[("approve", "Approve"), ("request_information", "Request more information"), ("reject", "Reject")]
    )
    note = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


@admin.register(BusinessProfile)
class BusinessProfileAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The operators' queue of merchant applications, oldest submission first. Decisions go
    through the onboarding services (audited, evented); approving activates the merchant."""

    list_display = ["legal_name", "merchant", "status", "category", "country", "submitted_at", "decided_at"]
    list_filter = ["status", "category", "country"]
    search_fields = ["legal_name", "merchant__name", "merchant__public_id", "registration_number"]
    change_form_template = "admin/merchants/businessprofile/change_form.html"

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [field.name for field in BusinessProfile._meta.fields] + ["bank_accounts", "documents"]

    @admin.display(description="Payout bank accounts")
    def bank_accounts(self, profile: BusinessProfile) -> str:
        """The account number never shows: its last four digits only."""
        accounts = BankAccount.objects.filter(merchant=profile.merchant, removed_at__isnull=True)
        return (
            format_html_join(
                mark_safe("<br>"),  # nosec B308  # a constant tag; values are escaped
                "{} · {} · routing {} · ••••{} · {}",
                (
                    (
                        account.holder_name,
                        account.bank_name,
                        account.routing_number,
                        account.account_number_last4,
                        account.currency,
                    )
                    for account in accounts
                ),
            )
            or "—"
        )

    @admin.display(description="Documents")
    def documents(self, profile: BusinessProfile) -> str:
        return (
            format_html_join(
                mark_safe("<br>"),  # nosec B308  # a constant tag; values are escaped
                '{}: <a href="{}">{}</a> ({} bytes){}',
                (
                    (
                        document.get_kind_display(),
                        reverse("admin:merchants_businessprofile_document", args=[document.public_id]),
                        document.original_name,
                        document.size_bytes,
                        " — removed by the merchant" if document.removed_at else "",
                    )
                    for document in MerchantDocument.objects.filter(merchant=profile.merchant)
                ),
            )
            or "—"
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # merchants apply from the dashboard

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The queue opens on what waits for a decision."""
        if not request.GET and request.path == reverse("admin:merchants_businessprofile_changelist"):
            return redirect(f"{request.path}?status__exact={BusinessProfile.Status.SUBMITTED}")
        return super().changelist_view(request, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> Any:
        extra_context = {**(extra_context or {}), "decision_form": ApplicationDecisionForm()}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<int:profile_pk>/decide/",
                self.admin_site.admin_view(self.decide_view),
                name="merchants_businessprofile_decide",
            ),
            path(
                "documents/<str:document_id>/",
                self.admin_site.admin_view(self.document_view),
                name="merchants_businessprofile_document",
            ),
            *super().get_urls(),
        ]

    def decide_view(self, request: HttpRequest, profile_pk: int) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        profile = BusinessProfile.objects.filter(pk=profile_pk).first()
        if profile is None:
            raise Http404("No such application.")
        form = ApplicationDecisionForm(request.POST)
        change_url = reverse("admin:merchants_businessprofile_change", args=[profile.pk])
        if not form.is_valid():
            self.message_user(request, "Choose a decision.", level=messages.ERROR)
            return redirect(change_url)
        decide = {
            "approve": onboarding.application_approve,
            "request_information": onboarding.application_request_information,
            "reject": onboarding.application_reject,
        }[form.cleaned_data["decision"]]
        try:
            profile = decide(profile=profile, note=form.cleaned_data["note"])
        except ApplicationError as error:
            self.message_user(request, error.message, level=messages.ERROR)
            return redirect(change_url)
        self.message_user(
            request, f"{profile.merchant}: application {profile.get_status_display().lower()}.", level=messages.SUCCESS
        )
        return redirect(change_url)

    def document_view(self, request: HttpRequest, document_id: str) -> HttpResponseBase:
        if not self.has_view_permission(request):
            raise PermissionDenied
        document = MerchantDocument.objects.filter(public_id=document_id).first()
        if document is None:
            raise Http404("No such document.")
        response = FileResponse(document.file.open("rb"), content_type=document.content_type)
        response["Content-Disposition"] = f'attachment; filename="{document.public_id}"'
        return response
