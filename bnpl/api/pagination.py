"""Cursor pagination: opaque cursors, stable under inserts, newest first."""

from typing import Any

from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request


class NewestFirstCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20
    page_size_query_param = "limit"
    max_page_size = 100

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        """Refuse a bad ``limit`` or ``cursor`` by name instead of silently using the default."""
        query = PageQuery(
            data={key: request.query_params[key] for key in ("limit", "cursor") if key in request.query_params}
        )
        query.is_valid(raise_exception=True)
        return super().paginate_queryset(queryset, request, view)


class PageQuery(serializers.Serializer[Any]):
    limit = serializers.IntegerField(required=False, min_value=1, max_value=NewestFirstCursorPagination.max_page_size)
    cursor = serializers.CharField(required=False, max_length=1000)
