"""Consumers in the lake: a keyed pseudonym instead of any identifier.

``HMAC-SHA256(LAKE_PSEUDONYM_KEY, consumer public id)``, hex, prefixed ``psn_``: the same consumer
gets the same pseudonym in every export (tables join on it, and across snapshots), and nobody
without the key can compute it from an id or reverse it. The key is required in production; in
development it is derived from SECRET_KEY.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from functools import cache

from django.conf import settings

PREFIX = "psn_"
CONSUMER_ID = re.compile(r"\bcon_[A-Za-z0-9]+\b")


@cache
def _key(configured: str, secret_key: str) -> bytes:
    if configured:
        return configured.encode()
    return hmac.new(secret_key.encode(), b"bnpl.lake.pseudonym", hashlib.sha256).digest()


def pseudonym(consumer_public_id: str | None) -> str | None:
    if not consumer_public_id:
        return None
    key = _key(settings.LAKE_PSEUDONYM_KEY, settings.SECRET_KEY)
    return PREFIX + hmac.new(key, consumer_public_id.encode(), hashlib.sha256).hexdigest()[:32]


def pseudonymize_text(text: str) -> str:
    """Every consumer id inside ``text`` replaced by its pseudonym."""
    if "con_" not in text:  # what every match starts with: most texts hold none, and this is cheap
        return text
    return CONSUMER_ID.sub(lambda match: pseudonym(match.group(0)) or "", text)
