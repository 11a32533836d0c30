"""The platform's secrets: one per purpose, each rotated on its own.

- ``SECRET_KEY`` (+ ``SECRET_KEY_FALLBACKS``): sessions, CSRF and signed values (cursors, links);
  Django tries the fallbacks.
- ``FIELD_ENCRYPTION_KEYS``: personal data at rest (Fernet), newest first;
  ``manage.py rotate_encryption_keys`` re-encrypts under the newest.
- ``API_KEY_HASH_SECRET`` (+ ``_FALLBACKS``): the HMAC API keys and invitation tokens are stored
  under; lookups try each, and a key found under a fallback is re-hashed when used.
- ``ONE_TIME_CODE_HASH_SECRET`` (+ ``_FALLBACKS``): the HMAC of one-time codes (they live
  minutes); verification tries each.
- ``CONSUMER_TOKEN_SECRET`` (+ ``_FALLBACKS``): the HMAC the consumer app's JSON Web Tokens are
  signed with; verification tries each, so a rotation signs nobody out.
- ``LAKE_PSEUDONYM_KEY``: consumer pseudonyms in the data lake; changing it changes every
  pseudonym (docs/data-lake.md).

Rotating ``SECRET_KEY`` therefore logs people out and nothing else: personal data stays readable
and API keys stay valid. In production each secret is required and must differ from the others
(``bnpl.settings.production``); in the demo and the tests an unset one is derived from
``SECRET_KEY`` under a label of its own, so no two purposes ever share a key by accident.
"""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def derived(purpose: str) -> str:
    """A secret for ``purpose`` derived from SECRET_KEY: the demo's and the tests' fallback only."""
    return hmac.new(settings.SECRET_KEY.encode(), f"bnpl.keys.{purpose}".encode(), hashlib.sha256).hexdigest()


def _with_fallbacks(setting: str, purpose: str) -> list[str]:
    current = getattr(settings, setting) or derived(purpose)
    fallbacks = [value for value in getattr(settings, f"{setting}_FALLBACKS") if value]
    return [current, *fallbacks]


def api_key_hash_secrets() -> list[str]:
    """The API-key HMAC secrets, current first."""
    return _with_fallbacks("API_KEY_HASH_SECRET", "api-key-hash")


def one_time_code_hash_secrets() -> list[str]:
    """The one-time-code HMAC secrets, current first."""
    return _with_fallbacks("ONE_TIME_CODE_HASH_SECRET", "one-time-code-hash")


def consumer_token_secrets() -> list[str]:
    """The consumer app's token-signing secrets, current first."""
    return _with_fallbacks("CONSUMER_TOKEN_SECRET", "consumer-token")


def secret_fingerprint(secret: str) -> str:
    """A short public name for a secret (which one hashed a row), revealing nothing of it."""
    return hashlib.sha256(f"bnpl.keys.fingerprint:{secret}".encode()).hexdigest()[:12]
