from __future__ import annotations

from django.contrib import admin

from bnpl.collections.models import CollectionAttempt
from bnpl.core.admin import ReadOnlyAdmin


@admin.register(CollectionAttempt)
class CollectionAttemptAdmin(ReadOnlyAdmin):
    list_display = ["installment", "number", "status", "amount", "failure_code", "retry_on", "created_at"]
    list_filter = ["status", "failure_code"]
    search_fields = ["charge__public_id", "installment__plan__public_id"]
