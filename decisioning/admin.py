from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from bnpl.core.admin import ReadOnlyAdmin, ReadOnlyInline
from bnpl.core.admin_tables import json_table
from bnpl.core.errors import ApplicationError
from decisioning import monitoring, registry
from decisioning.models import BankDataConsent, CashFlowMonth, CreditDecision, ModelVersion


class AwaitingReviewFilter(admin.SimpleListFilter):
    title = "manual review"
    parameter_name = "review"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:  # type: ignore[type-arg]
        return [("waiting", "Waiting for review"), ("done", "Reviewed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[CreditDecision]) -> QuerySet[CreditDecision]:
        if self.value() == "waiting":
            return queryset.filter(outcome=CreditDecision.Outcome.REFERRED, review_status="")
        if self.value() == "done":
            return queryset.exclude(review_status="")
        return queryset


def _awaiting_review(decision: CreditDecision) -> bool:
    return decision.outcome == CreditDecision.Outcome.REFERRED and not decision.review_status


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
    list_filter = [AwaitingReviewFilter, "outcome", "product_kind", "livemode", "policy_version"]
    search_fields = ["public_id", "consumer__email", "merchant__name"]
    change_form_template = "admin/decisioning/creditdecision/change_form.html"
    fields = [
        "public_id",
        "created_at",
        "merchant",
        "consumer",
        "checkout_session",
        "product_kind",
        "amount",
        "currency",
        "outcome",
        "spending_limit",
        "approved_amount",
        "down_payment_amount",
        "reasons_table",
        "score",
        "cutoff_probability",
        "model_version",
        "challenger_score",
        "latency_ms",
        "features_table",
        "model_inputs_table",
        "cash_flow_table",
        "review_status",
        "reviewed_by",
        "reviewed_at",
        "review_note",
    ]

    @admin.display(description="Reasons")
    def reasons_table(self, decision: CreditDecision) -> str:
        """The principal reasons, most important first: code and words, as the consumer's notice gives them."""
        return json_table(decision.reasons)

    @admin.display(description="Features (what the policy saw)")
    def features_table(self, decision: CreditDecision) -> str:
        return json_table(decision.features)

    @admin.display(description="Model inputs")
    def model_inputs_table(self, decision: CreditDecision) -> str:
        return json_table(decision.model_inputs)

    @admin.display(description="Cash flow")
    def cash_flow_table(self, decision: CreditDecision) -> str:
        return json_table(decision.cash_flow)

    def get_readonly_fields(self, request: HttpRequest, obj: CreditDecision | None = None) -> list[str]:
        editable = {"review_note"} if obj is not None and _awaiting_review(obj) else set()
        return [str(field) for field in self.fields if field not in editable]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: CreditDecision | None = None) -> bool:
        """Only referrals waiting for review change, and only through the review buttons."""
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or _awaiting_review(obj))

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None):  # type: ignore[no-untyped-def, type-arg]
        extra = {"awaiting_review": False, **(extra_context or {})}
        decision = self.get_object(request, object_id)
        if decision is not None and _awaiting_review(decision):
            extra["awaiting_review"] = self.has_change_permission(request, decision)
        return super().change_view(request, object_id, form_url, extra)

    def save_model(self, request: HttpRequest, obj: CreditDecision, form: object, change: bool) -> None:
        """The review: "Approve" or "Decline" with a note, through the checkout's review service
        (audited; the session reopens or is declined; the shopper is emailed)."""
        from bnpl.checkout.confirmation import checkout_review_resolve

        if "_approve_referral" not in request.POST and "_decline_referral" not in request.POST:
            raise PermissionDenied("Use Approve or Decline to review a referral.")
        try:
            checkout_review_resolve(
                decision=CreditDecision.objects.get(pk=obj.pk),
                approve="_approve_referral" in request.POST,
                note=request.POST.get("review_note", ""),
                reviewer=request.user,
            )
        except ApplicationError as error:
            self.message_user(request, error.message, level=messages.ERROR)


def _apply_each(
    modeladmin: admin.ModelAdmin,  # type: ignore[type-arg]
    request: HttpRequest,
    queryset: QuerySet[ModelVersion],
    change: Callable[[ModelVersion], object],
    verb: str,
) -> None:
    for model_version in queryset.order_by("id"):
        try:
            change(model_version)
        except ApplicationError as error:
            modeladmin.message_user(request, f"{model_version}: {error.message}", level=messages.ERROR)
        else:
            modeladmin.message_user(request, f"{model_version.public_id}: {verb}.", level=messages.SUCCESS)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only: versions come from ``manage.py train_model``; status changes go through the
    registry's audited services (the actions below). The changelist links to the monitoring page."""

    change_list_template = "admin/decisioning/modelversion/change_list.html"
    list_display = ["public_id", "name", "version", "status", "auc", "trained_at", "promoted_at"]
    list_filter = ["name", "status"]
    search_fields = ["public_id", "name", "artifact_sha256"]
    actions = ["promote_to_champion", "promote_to_challenger", "retire", "rollback"]
    readonly_fields = [
        "public_id",
        "name",
        "version",
        "status",
        "artifact_path",
        "artifact_sha256",
        "feature_spec",
        "metrics",
        "training_fingerprint",
        "score_distribution",
        "cutoff_probability",
        "trained_at",
        "promoted_at",
        "replaced_champion",
        "created_at",
        "updated_at",
    ]

    def get_urls(self) -> list[URLPattern]:
        monitoring_url = path(
            "monitoring/",
            self.admin_site.admin_view(lambda request: model_monitoring_view(self, request)),
            name="decisioning_modelversion_monitoring",
        )
        return [monitoring_url, *super().get_urls()]

    @admin.display(description="CV AUC")
    def auc(self, obj: ModelVersion) -> str:
        value = obj.metrics.get("auc")
        return f"{value:.4f}" if isinstance(value, int | float) else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description="Promote to champion (the current champion is retired)", permissions=["change"])
    def promote_to_champion(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        _apply_each(
            self,
            request,
            queryset,
            lambda version: registry.model_promote(model_version=version, to=ModelVersion.Status.CHAMPION),
            "now champion",
        )

    @admin.action(description="Promote to challenger (scored in shadow)", permissions=["change"])
    def promote_to_challenger(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        _apply_each(
            self,
            request,
            queryset,
            lambda version: registry.model_promote(model_version=version, to=ModelVersion.Status.CHALLENGER),
            "now challenger",
        )

    @admin.action(description="Retire", permissions=["change"])
    def retire(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        _apply_each(self, request, queryset, lambda version: registry.model_retire(model_version=version), "retired")

    @admin.action(description="Roll back the champion of the selected model names", permissions=["change"])
    def rollback(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        for name in sorted(set(queryset.values_list("name", flat=True))):
            try:
                champion = registry.model_rollback(name=name)
            except ApplicationError as error:
                self.message_user(request, f"{name}: {error.message}", level=messages.ERROR)
            else:
                self.message_user(request, f"{name}: {champion} is the champion again.", level=messages.SUCCESS)


def model_monitoring_view(model_admin: ModelVersionAdmin, request: HttpRequest) -> HttpResponse:
    """Score stability, approvals by day and adverse impact by age band over the last 30 days
    (``?mode=sandbox`` for sandbox decisions). Staff only (``admin_view``), and it reads model
    versions and decisions across merchants, so it needs the view permission on both."""
    if not (model_admin.has_view_permission(request) and request.user.has_perm("decisioning.view_creditdecision")):
        raise PermissionDenied("Model monitoring needs the view permission on model versions and credit decisions.")
    livemode = request.GET.get("mode") != "sandbox"
    report = monitoring.model_monitoring_report(livemode=livemode)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Credit model monitoring",
        "report": report,
        "livemode": livemode,
        "window_days": monitoring.DEFAULT_WINDOW_DAYS,
        "psi_stable_below": monitoring.PSI_STABLE_BELOW,
        "psi_shifted_above": monitoring.PSI_SHIFTED_ABOVE,
        "flag_below": monitoring.ADVERSE_IMPACT_FLAG_BELOW,
    }
    return TemplateResponse(request, "admin/decisioning/monitoring.html", context)


class CashFlowMonthInline(ReadOnlyInline):
    model = CashFlowMonth
    fk_name = "consumer"
    fields = [
        "month",
        "currency",
        "livemode",
        "source",
        "consent",
        "income_amount",
        "inflow_amount",
        "outflow_amount",
        "debt_payment_amount",
        "nsf_count",
        "overdraft_count",
        "transaction_count",
    ]
    readonly_fields = fields  # type: ignore[assignment]


@admin.register(BankDataConsent)
class BankDataConsentAdmin(ReadOnlyAdmin):
    """Which source may share a consumer's bank data, for which decisions, since when, and whether
    it still may (read-only: sources record and revoke consents through the partner API, consumers
    widen, revoke and grant them -- and grant data partners theirs -- in their account)."""

    list_display = ["public_id", "source", "consumer", "livemode", "scope", "granted_at", "expires_at", "revoked_at"]
    list_filter = ["livemode", "scope", "revoked_by"]
    list_select_related = ["source__merchant", "source__partner", "consumer"]
    search_fields = [
        "public_id",
        "source__merchant__name",
        "source__partner__name",
        "consumer__public_id",
        "consumer__email",
        "reference",
    ]
