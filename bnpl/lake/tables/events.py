"""The outbox as an append table, and what an event's payload may carry into the lake."""

from __future__ import annotations

import json
import json.encoder
import json.scanner
import re
from typing import Any

import pyarrow as pa

from bnpl.lake.pseudonym import pseudonymize_text
from bnpl.lake.tables.base import APPEND, TableSpec, column, string, timestamp

# Keys whose values are personal or free text, dropped from event payloads wherever they appear.
PERSONAL_KEY = re.compile(
    r"(email|phone|legal_name|first_name|last_name|full_name|address|city|region|postal_code|zip|"
    r"date_of_birth|birth|national_id|ssn|ip_address|user_agent|description|note|reason$|merchant_reference|"
    r"^name$|line_items|evidence)",
    re.IGNORECASE,
)
EMAIL_LIKE = re.compile(r"[^\s@\"']+@[^\s@\"']+\.[A-Za-z]{2,}")
PHONE_LIKE = re.compile(r"\+\d[\d ().-]{6,18}\d")  # E.164 as stored; "+00:00" in timestamps is not
REDACTED = "[redacted]"


def scrubbed_json(text: str) -> str:
    """A payload (JSON text, as stored) without personal data, as compact JSON with sorted keys:
    personal and free-text keys dropped (booleans such as ``email_verified`` stay: they identify
    nobody), anything shaped like an email address or a phone number redacted wherever it is, and
    consumer ids replaced by their pseudonyms.

    Personal keys are dropped while the text is parsed (each object as the parser finishes it, by
    set operations on its keys); the strings are then scrubbed in the encoded result, a regular
    expression over the whole text instead of a test per value. That is the same as scrubbing each
    string because none of the three patterns can match a ``"``, so a match never leaves the string
    it starts in -- when the result holds no escape (``\\``: an escaped character is two in the text)
    and no key holds what a pattern looks for (keys are not scrubbed). Any other payload takes the
    walk that scrubs value by value (``_scrubbed_by_value``), as does one that is not a single JSON
    document."""
    try:
        document, end = _KEY_SCANNER(text, 0)
    except (_KeyNeedsWalk, StopIteration, ValueError):  # the walk raises json's own error
        return _scrubbed_by_value(text)
    if end != len(text):  # not one document (or space around it): the walk parses as json does
        return _scrubbed_by_value(text)
    encoded = "".join(_COMPACT(document, 0))
    if "\\" in encoded:
        return _scrubbed_by_value(text)
    return _scrub_text(encoded)


def _scrubbed_by_value(text: str) -> str:
    """``scrubbed_json`` by walking the parsed payload: each object scrubbed as the parser finishes
    it, innermost first, each string on its own."""
    return _ENCODER.encode(_scrub_value(_DECODER.decode(text)))


def scrub(value: Any) -> Any:
    """A payload given as Python values (JSON-compatible), scrubbed as ``scrubbed_json`` does."""
    return _scrub_value(_DECODER.decode(json.dumps(value)))


def _scrub_object(document: dict[str, Any]) -> dict[str, Any]:
    """One parsed JSON object (its own objects already scrubbed), scrubbed in place: personal keys
    dropped unless their value is a boolean or null, strings scrubbed, lists' strings too."""
    dropped = None
    for key, item in document.items():
        kind = type(item)
        if item is None or kind is bool:
            continue
        personal = _personal_keys.get(key)
        if personal is None:
            personal = _is_personal_key(key)
        if personal:
            dropped = [key] if dropped is None else [*dropped, key]
        elif kind is str:
            if "@" in item or "+" in item or "con_" in item:
                document[key] = _scrub_text(item)
        elif kind is list:
            document[key] = _scrub_list(item)
    for key in dropped or ():
        del document[key]
    return document


def _scrub_value(value: Any) -> Any:
    """What the object hook does not reach: a document that is a string or a list."""
    if type(value) is str:
        return _scrub_text(value)
    if type(value) is list:
        return _scrub_list(value)
    return value


def _scrub_list(items: list[Any]) -> list[Any]:
    return [
        _scrub_text(item) if type(item) is str else _scrub_list(item) if type(item) is list else item for item in items
    ]


def _scrub_text(value: str) -> str:
    if "@" in value:
        value = EMAIL_LIKE.sub(REDACTED, value)
    if "+" in value:
        value = PHONE_LIKE.sub(REDACTED, value)
    if "con_" in value:
        value = pseudonymize_text(value)
    return value


_personal_keys: dict[str, bool] = {}  # payload keys are a small vocabulary: each key's answer, once


def _is_personal_key(key: str) -> bool:
    personal = PERSONAL_KEY.search(key) is not None
    if len(_personal_keys) < 4096:  # never grows without bound, whatever keys arrive
        _personal_keys[key] = personal
    return personal


_DECODER = json.JSONDecoder(object_hook=_scrub_object)


class _KeyNeedsWalk(Exception):
    """A key the whole-text scrub cannot treat (it holds what a pattern looks for)."""


_KEYS_PLAIN: set[str] = set()  # keys seen that are neither personal nor hold a pattern's start
_KEYS_PERSONAL: set[str] = set()  # keys seen that are personal


def _drop_personal_keys(document: dict[str, Any]) -> dict[str, Any]:
    """One parsed JSON object: its personal keys dropped unless their value is a boolean or null
    (``_scrub_object``'s rule for keys); its strings are left for the whole text."""
    keys = document.keys()
    if keys <= _KEYS_PLAIN:  # most objects: nothing to do, one set comparison
        return document
    for key in keys - _KEYS_PLAIN - _KEYS_PERSONAL:
        _key_learn(key)
    for key in keys & _KEYS_PERSONAL:
        item = document[key]
        if item is not None and type(item) is not bool:
            del document[key]
    return document


def _key_learn(key: str) -> None:
    if "@" in key or "+" in key or "con_" in key:
        raise _KeyNeedsWalk(key)
    if len(_KEYS_PLAIN) + len(_KEYS_PERSONAL) >= 4096:  # never grows without bound, whatever keys arrive
        raise _KeyNeedsWalk(key)
    (_KEYS_PERSONAL if _is_personal_key(key) else _KEYS_PLAIN).add(key)


_KEY_SCANNER = json.scanner.make_scanner(json.JSONDecoder(object_hook=_drop_personal_keys))  # type: ignore[arg-type]
# What ``_ENCODER.encode`` makes of a parsed document, without its per-call set-up (a parsed
# document has no cycles to check for).
_COMPACT = json.encoder.c_make_encoder(  # type: ignore[attr-defined]  # CPython's own, as ``encode`` uses
    None, None, json.encoder.encode_basestring, None, ":", ",", True, False, True
)
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


EVENTS = TableSpec(
    name="events",
    kind=APPEND,
    stream="events",
    description="The outbox: every state change the platform recorded, as committed, in id order.",
    model="core.Event",
    columns=(
        column("event_sequence", pa.int64(), "the event's position in the outbox (increasing; unique)", source="pk"),
        string("event_id", "the event's public id (evt_…)", source="public_id"),
        string("type", "what happened, e.g. order.captured (see bnpl/core/event_types.py)"),
        string(
            "merchant_id", "the merchant it concerns (mer_…), null for platform events", source="merchant__public_id"
        ),
        column("livemode", pa.bool_(), "true for live mode, false for test mode"),
        string("object_type", "app_label.model of the object that changed"),
        string(
            "object_id",
            "the object's public id; a consumer's is its pseudonym (psn_…)",
            convert=pseudonymize_text,
        ),
        string("request_id", "the request or task that made the change"),
        string(
            "data",
            "the object's representation after the change, as JSON, without personal data or free text "
            "(consumer ids pseudonymized)",
            convert=scrubbed_json,
            json_text=True,
        ),
        timestamp("created_at", "when the event was written, by the project clock; its date is the partition"),
    ),
    partition_column="created_at",
)
