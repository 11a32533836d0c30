"""API keys by token: the hash they are stored under and the lookup that finds a request's tenant."""

from __future__ import annotations

import hashlib
import hmac

from bnpl.core.keys import api_key_hash_secrets
from merchants.models import ApiKey


def api_key_hash(token: str, *, secret: str | None = None) -> str:
    """HMAC-SHA256 of a token (API key or invitation) under the current API-key hash secret."""
    key = secret if secret is not None else api_key_hash_secrets()[0]
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()


def api_key_hashes(token: str) -> list[str]:
    """The token's hash under the current secret and under each fallback (during a rotation)."""
    return [api_key_hash(token, secret=secret) for secret in api_key_hash_secrets()]


def dangerously_api_key_get_by_token(*, token: str) -> ApiKey | None:
    """Find the key for a presented token, across merchants: this is how a request finds its tenant.
    During a rotation of the hash secret a key stored under a fallback is found too (and re-hashed
    by ``merchants.services.api_key_rehash``)."""
    return ApiKey.objects.select_related("merchant").filter(token_hash__in=api_key_hashes(token)).first()
