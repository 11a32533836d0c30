"""JSON and JSON-lines parsing that refuses absurd bodies with a 4xx instead of a 500.

A JSON body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is refused by Django before it is read
(``RequestDataTooBig``, a 413 in the error handler); a JSON-lines stream is read here, up to its own
``max_bytes``, and a larger one is the same 413."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser

from bnpl.api.errors import body_too_large


class SafeJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON nested too deeply.") from None


class JSONLinesParser(BaseParser):
    """A stream of JSON objects, one per line (``application/x-ndjson``), parsed as
    ``{"<field>": [object, …]}`` so one input serializer reads both this and a JSON batch. Blank lines
    are skipped; a bad line is a 400 naming it."""

    media_type = "application/x-ndjson"
    field = "transactions"
    max_bytes = 5 * 1024 * 1024

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        body = stream.read(self.max_bytes + 1) if stream is not None else b""
        if len(body) > self.max_bytes:
            raise body_too_large(self.max_bytes)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("The body is not UTF-8.") from None
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except (ValueError, RecursionError):
                raise ParseError(f"Line {number} is not a JSON object.") from None
        return {self.field: items}


class JSONLParser(JSONLinesParser):
    media_type = "application/jsonl"
