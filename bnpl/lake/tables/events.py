"""The outbox as an append table, and what an event's payload may carry into the lake."""

from __future__ import annotations

import json
import re
from functools import lru_cache
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


def scrub(value: Any) -> Any:
    """An event payload without personal data: personal and free-text keys dropped (booleans such as
    ``email_verified`` stay: they identify nobody), anything shaped like an email address or a phone
    number redacted wherever it is, and consumer ids replaced by their pseudonyms."""
    if isinstance(value, dict):
        return {
            key: scrub(item)
            for key, item in value.items()
            if isinstance(item, bool) or item is None or not _is_personal_key(str(key))
        }
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        if "@" in value:
            value = EMAIL_LIKE.sub(REDACTED, value)
        if "+" in value:
            value = PHONE_LIKE.sub(REDACTED, value)
        if "con_" in value:
            value = pseudonymize_text(value)
        return value
    return value


@lru_cache(maxsize=4096)
def _is_personal_key(key: str) -> bool:
    return PERSONAL_KEY.search(key) is not None


def scrubbed_json(data: Any) -> str:
    """The payload as compact JSON with sorted keys, after ``scrub``."""
    return json.dumps(scrub(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


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
        ),
        timestamp("created_at", "when the event was written, by the project clock; its date is the partition"),
    ),
    partition_column="created_at",
)
