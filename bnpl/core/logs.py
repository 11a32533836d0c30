"""Structured logs: one JSON object per line, with the request id, the merchant and mode when known,
the Celery task's id and name inside a task, and nothing secret or personal.

Redaction is defence in depth: the code does not log personal data or secrets on purpose, and this
formatter masks, in every field of the line (message, extra fields and traceback), whatever still
looks like an email address, a card number, an API key, a bearer token, a one-time code or a
password, and every extra field whose name says it holds a secret.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from celery import current_task
from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

from bnpl.core.context import merchant_var, request_id_var

MASK = "[redacted]"
# Field names (whole words of a snake_case name) whose values are masked whatever they hold.
SECRET_FIELD = re.compile(
    r"(^|[_-])(pass(word|wd)?|secret|token|authorization|cookies?|card(_?number)?|cvc|pan|email|phone|otp"
    r"|one_time_code|api_key)($|[_-])|^code$",
    re.I,
)
PATTERNS = [
    re.compile(r"\b(sk|pk|rk|whsec)_(live|test)_[A-Za-z0-9_]+"),  # API and webhook keys
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),  # email addresses
    re.compile(r"\b(?:\d[ -]?){12,18}\d\b"),  # card numbers (13 to 19 digits, spaces or dashes allowed)
]
# A value after its name: "code is 123456", "password=hunter2", "otp: 1234".
NAMED = [
    re.compile(r"(?i)(\b(?:code|otp|cvc)\D{0,20}?)\d{3,8}\b"),
    re.compile(r"(?i)(\b(?:password|passwd|pwd|secret|token)\s*[=:]\s*)[^\s&,;]+"),
]


def redact(text: str) -> str:
    for pattern in PATTERNS:
        text = pattern.sub(MASK, text)
    for pattern in NAMED:
        text = pattern.sub(lambda match: f"{match.group(1)}{MASK}", text)
    return text


# Fields whose names match SECRET_FIELD but are ours and hold no secret.
NAMED_BY_US = {"logger", "level", "time", "task_name", "task_id", "request_id", "merchant_id", "mode"}


def scrubbed(value: Any, key: str = "") -> Any:
    """``value`` with every string in it redacted, walking lists and dicts (a SQL statement's
    parameters, an error report's variables), and whole values masked under a secret's name."""
    if key and SECRET_FIELD.search(key):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {name: scrubbed(item, str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrubbed(item) for item in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return MASK
    return value


class ContextFilter(logging.Filter):
    """Stamps every record with the request id, merchant, mode and Celery task (``-`` when none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get() or "-"
        merchant = merchant_var.get()
        record.merchant_id = merchant[0] if merchant else "-"
        record.mode = ("live" if merchant[1] else "test") if merchant else "-"
        task = current_task
        request = getattr(task, "request", None) if task else None
        task_id = getattr(request, "id", None) or "-"
        record.task_id = task_id
        record.task_name = (getattr(task, "name", None) or "-") if task_id != "-" else "-"
        return True


class JsonFormatter(_JsonFormatter):
    """python-json-logger's formatter, with the fields above, secret fields masked and the line redacted.

    gunicorn's access records (logger ``gunicorn.access``) carry their atoms as a dict in
    ``record.args``: the method, the path without its query (a query may carry a token), the
    status, the duration and the request id become fields of their own."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("fmt", "%(asctime)s %(levelname)s %(name)s %(message)s")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "asctime": "time"})
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        for name in ("request_id", "merchant_id", "mode", "task_id", "task_name"):
            log_data.setdefault(name, getattr(record, name, "-"))
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            atoms = record.args
            log_data.update(
                method=atoms.get("m"),
                path=atoms.get("U"),
                status=atoms.get("s"),
                duration_ms=round(int(atoms.get("D", 0) or 0) / 1000, 3),
                request_id=atoms.get("{x-request-id}o", "-") or "-",
                bytes=atoms.get("B"),
            )
        for key, value in list(log_data.items()):
            log_data[key] = value if key in NAMED_BY_US else scrubbed(value, key)
