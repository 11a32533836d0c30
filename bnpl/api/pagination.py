"""Cursor pagination: opaque, signed cursors, stable under inserts, newest first.

A cursor is only a position in one list: the ``created_at`` of the row a page ends at, an offset among
rows created in the same instant, and a direction. It is signed (``django.core.signing``, HMAC with
``SECRET_KEY``) with a salt naming the list's path and the caller's scope (merchant and mode), so a
cursor the server did not hand out for this very list — crafted, truncated, from another list, another
merchant or the other mode — is a 400 ``parameter_invalid`` on ``cursor`` before any query runs. A
cursor leaks nothing to another merchant: it names no row and carries no data of any, and another
merchant's key cannot use it at all. Signed, not encrypted: whoever holds a cursor can read the
timestamp in it, which is one of the holder's own rows.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Any

from django.core import signing
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from bnpl.core.errors import InvalidRequestError
from bnpl.core.links import public_url

MAX_CURSOR_LENGTH = 500  # characters; the server's own cursors are about 120
_LIMIT = re.compile(r"^[0-9]{1,3}$")


class NewestFirstCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20
    page_size_query_param = "limit"
    min_page_size = 1
    max_page_size = 100
    template = None

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> Any:
        """Refuse a bad ``limit`` or ``cursor`` by name instead of silently using the default; links
        point at ``PUBLIC_BASE_URL``, never at the Host the request named."""
        self.salt = _salt(request, view)
        self.page_size = self.get_page_size(request)
        page = super().paginate_queryset(queryset, request, view)
        self.base_url = public_url(request.get_full_path())
        return page

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param or "limit")
        if raw is None:
            return self.page_size
        if not _LIMIT.match(raw) or not self.min_page_size <= int(raw) <= self.max_page_size:
            raise InvalidRequestError(
                f"limit: Must be an integer from {self.min_page_size} to {self.max_page_size}.",
                code="parameter_invalid",
                param="limit",
            )
        return int(raw)

    def encode_cursor(self, cursor: Cursor) -> str:
        token = signing.dumps([cursor.offset, bool(cursor.reverse), cursor.position], salt=self.salt, compress=False)
        return str(replace_query_param(str(self.base_url), self.cursor_query_param, token))

    def decode_cursor(self, request: Request) -> Cursor | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        try:
            if not raw or len(raw) > MAX_CURSOR_LENGTH:
                raise signing.BadSignature("length")
            offset, reverse, position = signing.loads(raw, salt=self.salt)
        except (signing.BadSignature, ValueError, TypeError):
            raise InvalidRequestError(
                "cursor: Not a cursor of this list. Follow the `next` or `previous` link of one of its pages.",
                code="parameter_invalid",
                param="cursor",
            ) from None
        return Cursor(offset=min(int(offset), self.offset_cutoff), reverse=bool(reverse), position=position)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            OrderedDict([("next", self.get_next_link()), ("previous", self.get_previous_link()), ("results", data)])
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "The next (older) page; null on the last"},
                "previous": {**link, "description": "The previous (newer) page; null on the first"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque: the `next` or `previous` link of a page of this list carries it.",
                "schema": {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR_LENGTH},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": self.min_page_size, "maximum": self.max_page_size},
            },
        ]


def _salt(request: Request, view: Any) -> str:
    """One salt per list and per caller: a cursor is valid only where it was handed out."""
    scope = getattr(view, "cursor_scope", "") if view is not None else ""
    return f"bnpl.api.pagination:{request.path}:{scope}"
