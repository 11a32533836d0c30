from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from bnpl.collections.models import CollectionAttempt, HardshipRequest
from bnpl.core.admin import ReadOnlyAdmin
from bnpl.core.errors import ApplicationError
from bnpl.servicing import actions


@admin.register(CollectionAttempt)
class CollectionAttemptAdmin(ReadOnlyAdmin):
    list_display = ["installment", "number", "status", "amount", "failure_code", "retry_on", "created_at"]
    list_filter = ["status", "failure_code"]
    search_fields = ["charge__public_id", "installment__plan__public_id"]


@admin.register(HardshipRequest)
class HardshipRequestAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The hardship queue: open requests first. Set the status to granted or declined with a note
    and save; collections stay paused (granted) or resume (declined). Audited."""

    list_display = ["plan", "status", "created_at", "decided_at"]
    list_filter = ["status"]
    search_fields = ["plan__public_id", "plan__consumer__email"]
    fields = ["plan", "reason", "created_at", "status", "decision_note", "decided_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[HardshipRequest]:
        return super().get_queryset(request).select_related("plan").order_by("-status", "created_at")

    def get_readonly_fields(self, request: HttpRequest, obj: HardshipRequest | None = None) -> list[str]:
        decided = obj is None or obj.status != HardshipRequest.Status.OPEN
        editable = set() if decided else {"status", "decision_note"}
        return [str(field) for field in self.fields if field not in editable]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: HardshipRequest, form: Any, change: bool) -> None:
        if obj.status == HardshipRequest.Status.OPEN:
            return
        try:
            actions.hardship_decide(
                request=HardshipRequest.objects.get(pk=obj.pk),
                grant=obj.status == HardshipRequest.Status.GRANTED,
                note=obj.decision_note,
            )
        except ApplicationError as error:
            self.message_user(request, error.message, level=messages.ERROR)
