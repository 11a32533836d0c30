from __future__ import annotations

from django.contrib import admin

from bnpl.core.admin import ReadOnlyAdmin
from bnpl.lake.models import LakeBatch, LakeWatermark


@admin.register(LakeWatermark)
class LakeWatermarkAdmin(ReadOnlyAdmin):
    """How far each lake stream is exported (read-only: only the exporter moves it)."""

    list_display = ["stream", "position", "last_snapshot_at", "observed_position", "leased_until", "updated_at"]


@admin.register(LakeBatch)
class LakeBatchAdmin(ReadOnlyAdmin):
    """Every export batch: started (being written, or left by a dead exporter) or completed."""

    list_display = ["stream", "name", "status", "row_count", "file_count", "created_at", "completed_at"]
    list_filter = ["stream", "status"]
    search_fields = ["name", "manifest_key"]
