"""API keys by token: the hash they are stored under and the lookup that finds a request's tenant.

Every partner API request starts with that lookup, so ``dangerously_api_key_get_for_request``
caches it in two tiers, both keyed by the token's hash under the current secret:

* **a memo in each process**, trusted for ``MEMO_SECONDS`` (half a second) at most;
* **an entry in the cache every process shares** (Redis in production and CI): the key's row and
  its merchant's, stamped with the *generation* of the key that was current when the rows were
  read. The entry and the generation are read together (one MGET): an entry whose stamp is not the
  current generation is ignored.

Whatever changes what authentication decides -- revoking or rolling a key, re-hashing it,
suspending, reinstating, approving or editing a merchant -- calls ``api_keys_forget`` (or
``merchant_api_keys_forget``) with the keys concerned: each gets a new random generation, at once
and again after the change commits, and leaves this process's memo. Other processes stop trusting
their memo within ``MEMO_SECONDS`` and then find the generation changed, so a revoked key or a
suspended merchant is refused within a second on every process.

Why generations rather than deleting the entry: a request that read the rows just before the change
committed could store them again just after. Its entry carries the generation it read *before* its
database read, which the change has replaced since, so the stale entry is never trusted.

On a per-process cache (the demo's locmem) there is no shared tier: the memo, then the database.
Unknown tokens are never cached (authentication counts and refuses them).
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import secrets
import time
from collections.abc import Iterable
from functools import cache
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import DEFAULT_DB_ALIAS, connection, transaction

from bnpl.core import clock
from bnpl.core.keys import api_key_hash_secrets, secret_fingerprint
from merchants.models import ApiKey, Merchant

# How long a process trusts what it read without asking again: well under the one second within
# which a revoked key or a suspended merchant must be refused everywhere.
MEMO_SECONDS = 0.5
# The shared entry's life (a safety net: every change replaces the generation anyway).
ENTRY_SECONDS = 300
# A generation outlives every entry stamped with it.
GENERATION_SECONDS = 86_400
_MEMO_LIMIT = 10_000

# token hash -> (time stored, pickled rows): fresh instances for every request, nothing shared.
_memo: dict[str, tuple[float, bytes]] = {}


def api_key_hash(token: str, *, secret: str | None = None) -> str:
    """HMAC-SHA256 of a token (API key or invitation) under the current API-key hash secret."""
    key = secret if secret is not None else api_key_hash_secrets()[0]
    return hmac.new(key.encode(), token.encode(), hashlib.sha256).hexdigest()


def api_key_hashes(token: str) -> list[str]:
    """The token's hash under the current secret and under each fallback (during a rotation)."""
    return [api_key_hash(token, secret=secret) for secret in api_key_hash_secrets()]


def stored_key_rehash(api_key: Any, *, token: str) -> bool:
    """Store a key (a merchant's ``ApiKey`` or a partner's ``PartnerApiKey``: any row with
    ``token_hash`` and ``token_hash_secret``) found under a fallback hash secret under the current
    one, so a rotation of API_KEY_HASH_SECRET completes key by key as each is used. False, and
    nothing written, for a key already under the current secret. Guarded by the old hash: of two
    requests racing, one writes."""
    current = api_key_hash(token)
    if api_key.token_hash == current:
        return False
    fingerprint = secret_fingerprint(api_key_hash_secrets()[0])
    type(api_key).objects.filter(pk=api_key.pk, token_hash=api_key.token_hash).update(
        token_hash=current, token_hash_secret=fingerprint
    )
    api_key.token_hash, api_key.token_hash_secret = current, fingerprint
    return True


def stored_key_touch(api_key: Any) -> bool:
    """Record a key's use in ``last_used_at``, at most once a minute per key so that reads do not
    each cost a write; True when it wrote."""
    now = clock.now()
    if api_key.last_used_at is not None and (now - api_key.last_used_at).total_seconds() < 60:
        return False
    type(api_key).objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
    return True


def dangerously_api_key_get_by_token(*, token: str) -> ApiKey | None:
    """Find the key for a presented token, across merchants: this is how a request finds its tenant.
    During a rotation of the hash secret a key stored under a fallback is found too (and re-hashed
    by ``merchants.services.api_key_rehash``). Reads the database; the partner API asks
    ``dangerously_api_key_get_for_request`` instead."""
    return ApiKey.objects.select_related("merchant").filter(token_hash__in=api_key_hashes(token)).first()


def dangerously_api_key_get_for_request(*, token: str) -> ApiKey | None:
    """``dangerously_api_key_get_by_token`` through the caches described above: the key with its
    merchant, as fresh instances, at most ``MEMO_SECONDS`` old in this process. A key found under a
    fallback secret is returned uncached (its caller re-hashes it; the next request caches it)."""
    digest = api_key_hash(token)
    now = time.time()
    remembered = _memo.get(digest)
    if remembered is not None and remembered[0] <= now < remembered[0] + MEMO_SECONDS:
        return _rebuilt(remembered[1])
    shared = _shared_cache()
    generation: str | None = None
    if shared is not None:
        entry_key, generation_key = _entry_key(digest), _generation_key(digest)
        found = shared.get_many([entry_key, generation_key])
        generation = found.get(generation_key)
        entry = found.get(entry_key)
        if entry is not None and generation is not None and entry[0] == generation:
            _remember(digest, entry[1], now)
            return _rebuilt(entry[1])
        if generation is None:  # first use, or evicted: start one before reading the rows
            generation = _new_generation()
            if not shared.add(generation_key, generation, GENERATION_SECONDS):
                generation = shared.get(generation_key)
    api_key = dangerously_api_key_get_by_token(token=token)
    if api_key is None or api_key.token_hash != digest:
        return api_key
    rows = _pickled(api_key)
    if shared is not None and generation is not None:
        shared.set(_entry_key(digest), (generation, rows), ENTRY_SECONDS)
    _remember(digest, rows, now)
    return api_key


def api_keys_forget(*, token_hashes: Iterable[str]) -> None:
    """Stop trusting what any process cached for these keys: call it with every change to a key or
    to its merchant. Runs at once and, inside a transaction, again after it commits (a request
    that read the rows before the commit may have cached them meanwhile)."""
    hashes = [token_hash for token_hash in token_hashes if token_hash]
    if not hashes:
        return
    _forget(hashes)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: _forget(hashes))


def merchant_api_keys_forget(*, merchant: Merchant) -> None:
    """``api_keys_forget`` for every key of the merchant still in use (revoked keys are refused
    whatever their merchant)."""
    api_keys_forget(
        token_hashes=ApiKey.objects.filter(merchant=merchant, revoked_at__isnull=True).values_list(
            "token_hash", flat=True
        )
    )


def _forget(hashes: list[str]) -> None:
    for token_hash in hashes:
        _memo.pop(token_hash, None)
    shared = _shared_cache()
    if shared is not None:
        shared.set_many({_generation_key(token_hash): _new_generation() for token_hash in hashes}, GENERATION_SECONDS)


def _shared_cache() -> Any:
    """The default cache when every process shares it; None for a per-process one."""
    backend = caches["default"]
    return None if isinstance(backend, LocMemCache) else backend


def _new_generation() -> str:
    return secrets.token_hex(8)


@cache
def _fields() -> tuple[list[str], list[str]]:
    return (
        [field.attname for field in ApiKey._meta.concrete_fields],
        [field.attname for field in Merchant._meta.concrete_fields],
    )


@cache
def _schema() -> str:
    """Entries name the columns they hold: a deploy that changes them starts afresh."""
    key_fields, merchant_fields = _fields()
    return hashlib.sha256(repr((key_fields, merchant_fields)).encode()).hexdigest()[:12]


def _entry_key(digest: str) -> str:
    return f"api-key:{_schema()}:{digest}"


def _generation_key(digest: str) -> str:
    return f"api-key-generation:{digest}"


def _pickled(api_key: ApiKey) -> bytes:
    key_fields, merchant_fields = _fields()
    merchant = api_key.merchant
    return pickle.dumps(
        (
            tuple(getattr(api_key, name) for name in key_fields),
            tuple(getattr(merchant, name) for name in merchant_fields),
        ),
        protocol=pickle.HIGHEST_PROTOCOL,
    )


def _rebuilt(rows: bytes) -> ApiKey:
    """The key and its merchant as if just read from the database (``from_db``)."""
    key_fields, merchant_fields = _fields()
    key_values, merchant_values = pickle.loads(rows)  # noqa: S301  # nosec B301  # our own bytes from our own cache (as Django pickles cache values)
    api_key = ApiKey.from_db(DEFAULT_DB_ALIAS, key_fields, key_values)
    merchant = Merchant.from_db(DEFAULT_DB_ALIAS, merchant_fields, merchant_values)
    ApiKey.merchant.field.set_cached_value(api_key, merchant)
    return api_key


def _remember(digest: str, rows: bytes, now: float) -> None:
    if len(_memo) >= _MEMO_LIMIT:
        _memo.clear()
    _memo[digest] = (now, rows)
