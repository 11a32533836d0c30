"""Read-only views of the audit log, the outbox and stored idempotent responses; the sandbox clock."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse

from bnpl.core import clock
from bnpl.core.errors import ApplicationError
from bnpl.core.models import AuditLogEntry, ClockState, Event, IdempotencyKey
from bnpl.core.services import clock_advance


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):  # type: ignore[type-arg]
    """Rows shown under their parent, never added, changed or deleted here."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(AuditLogEntry)
class AuditLogEntryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "object_id", "actor_kind", "actor_identifier", "merchant", "request_id"]
    list_filter = ["action", "actor_kind"]
    search_fields = ["object_id", "actor_identifier", "request_id", "action"]
    date_hierarchy = "created_at"


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "public_id", "type", "merchant", "livemode", "object_id"]
    list_filter = ["type", "livemode"]
    search_fields = ["public_id", "object_id", "request_id"]
    date_hierarchy = "created_at"


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    list_display = [
        "key",
        "merchant",
        "livemode",
        "request_method",
        "request_path",
        "status",
        "response_status",
        "created_at",
    ]
    list_filter = ["status", "livemode"]
    search_fields = ["key", "request_path"]
    exclude = ["response_body"]


@admin.register(ClockState)
class ClockStateAdmin(ReadOnlyAdmin):
    """The sandbox clock, with buttons to move it forward a day or a week."""

    change_list_template = "admin/core/clockstate/change_list.html"
    list_display = ["offset_seconds", "updated_at"]

    def get_urls(self):  # type: ignore[no-untyped-def]
        return [
            path("advance/<int:days>/", self.admin_site.admin_view(self.advance_view), name="core_clockstate_advance"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):  # type: ignore[no-untyped-def, type-arg]
        extra = {
            "project_now": clock.now(),
            "offset": clock.offset(),
            "sandbox": settings.BNPL_SANDBOX,
            "can_advance": request.user.has_perm("core.advance_clock"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra)

    def advance_view(self, request: HttpRequest, days: int) -> HttpResponseRedirect:
        if not request.user.has_perm("core.advance_clock"):
            raise PermissionDenied("Moving the clock needs the 'Can move the sandbox clock forward' permission.")
        if request.method == "POST":
            try:
                clock_advance(by=dt.timedelta(days=days))
            except ApplicationError as error:
                self.message_user(request, error.message, level=messages.ERROR)
            else:
                self.message_user(request, f"Clock moved forward {days} day(s). Now {clock.now():%Y-%m-%d %H:%M} UTC.")
        return HttpResponseRedirect(reverse("admin:core_clockstate_changelist"))
