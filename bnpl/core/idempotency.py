"""Idempotent POSTs with Stripe's semantics.

* The first request with a key stores its response (status and exact bytes); a retry with the same
  key and the same parameters gets those bytes back, marked ``Idempotent-Replayed: true``.
* A request arriving while the first is still running gets 409 ``idempotency_key_in_use``.
* The same key with different parameters gets 422 ``idempotency_key_reused``.
* Requests rejected before they did anything (invalid parameters, 5xx) store nothing, so a corrected
  retry may reuse the key. Keys live at least ``IDEMPOTENCY_KEY_TTL`` and are purged after.

Concurrency: claiming a key is an INSERT committed on its own, guarded by a unique constraint. The
work and the stored response commit together in one transaction, so a request that dies midway
leaves no work behind and its stale claim (older than ``IDEMPOTENCY_LOCK_TIMEOUT``) may be taken
over by a retry without any risk of doing the work twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet

from bnpl.core import clock, inserts, metrics
from bnpl.core.errors import ConflictError, IdempotencyError, InvalidRequestError
from bnpl.core.models import IdempotencyKey

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# 1 to 255 printable ASCII characters (the OpenAPI schema states the same pattern).
KEY_PATTERN = rf"^[ -~]{{1,{MAX_KEY_LENGTH}}}$"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    content_type: str
    body: bytes


def validate_key(raw: str | None) -> str:
    if raw is None or raw == "":
        raise InvalidRequestError(
            "Every POST needs an Idempotency-Key header (a UUID is a good choice).",
            code="idempotency_key_missing",
            param=HEADER,
        )
    if not re.fullmatch(KEY_PATTERN, raw):
        raise InvalidRequestError(
            f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            code="idempotency_key_invalid",
            param=HEADER,
        )
    return raw


def fingerprint(*, method: str, path: str, data: Any) -> str:
    canonical = json.dumps([method.upper(), path, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_claim(
    *,
    key: str,
    method: str,
    path: str,
    request_fingerprint: str,
    merchant_id: int | None = None,
    livemode: bool = False,
    owner: str = "",
) -> IdempotencyKey | StoredResponse:
    """Claim ``key`` for this request, or return the stored response to replay. Keys are scoped to a
    merchant and mode (``merchant_id``, ``livemode``: the partner API) or else to an ``owner`` (the
    consumer app API: ``con_…``, or before sign-in the address a code goes to).

    Runs outside any transaction: the claim must be visible to concurrent requests at once. There
    the INSERT commits by itself (one round trip: no BEGIN, no COMMIT); inside a transaction (a
    test's) it runs in a savepoint, so that a duplicate leaves the transaction usable.

    The claim's commit does not wait for the disk (``inserts.insert_rows(durable=False)``): a commit
    is visible to every other request as soon as it is made, flushed or not, so a concurrent
    duplicate still finds it; and the work's own commit, durable and later in the same write-ahead
    log, flushes the claim with it. A crash of the database server can lose only a claim whose work
    had not committed, which is what releasing it would have left (the retry claims the key anew).
    """
    if (merchant_id is None) == (not owner):
        raise ValueError("an idempotency key belongs to a merchant or to an owner, one of the two")
    now = clock.now()
    claim = IdempotencyKey(
        merchant_id=merchant_id,
        livemode=livemode,
        owner=owner,
        key=key,
        request_method=method,
        request_path=path,
        request_fingerprint=request_fingerprint,
        locked_at=now,
    )
    try:
        with transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext():
            inserts.insert_rows([claim], durable=False)
            return claim
    except IntegrityError:
        pass
    scope = (
        {"merchant_id": merchant_id, "livemode": livemode}
        if merchant_id is not None
        else {"merchant__isnull": True, "owner": owner}
    )
    existing = IdempotencyKey.objects.get(key=key, **scope)
    if existing.request_fingerprint != request_fingerprint:
        metrics.idempotency.labels(result="conflict").inc()
        raise IdempotencyError(
            "This Idempotency-Key was already used with different parameters "
            f"({existing.request_method} {existing.request_path}). Use a new key for a new request.",
            param=HEADER,
        )
    if existing.status == IdempotencyKey.Status.COMPLETED:
        assert existing.response_status is not None and existing.response_body is not None
        metrics.idempotency.labels(result="replay").inc()
        return StoredResponse(
            status=existing.response_status,
            content_type=existing.response_content_type,
            body=bytes(existing.response_body),
        )
    stale_before = now - settings.IDEMPOTENCY_LOCK_TIMEOUT
    taken_over = IdempotencyKey.objects.filter(
        pk=existing.pk, status=IdempotencyKey.Status.IN_PROGRESS, locked_at__lt=stale_before
    ).update(locked_at=now)
    if taken_over:
        existing.locked_at = now
        return existing
    metrics.idempotency.labels(result="in_progress").inc()
    raise ConflictError(
        "A request with this Idempotency-Key is still being processed. Retry after it finishes.",
        code="idempotency_key_in_use",
        param=HEADER,
    )


def idempotency_complete(*, record: IdempotencyKey, response: StoredResponse) -> None:
    """Store the response. Call inside the transaction of the work it reports (or, for an error
    response of work that rolled back, on its own).

    Only the request that still holds the claim may complete it: if a retry took the claim over
    (this one ran past the lock timeout), this request's work must roll back, so it raises.
    """
    assert record.locked_at is not None, "a claim is locked until completed or released"
    completed = _update_claim(
        record,
        status=IdempotencyKey.Status.COMPLETED,
        response_status=response.status,
        response_content_type=response.content_type,
        response_body=response.body,
        locked_at=None,
        updated_at=clock.now(),
    )
    if not completed:
        raise ConflictError(
            "This request took too long and a retry with the same Idempotency-Key took over; "
            "its result is the one that counts.",
            code="idempotency_key_taken_over",
            param=HEADER,
        )


def _update_claim(record: IdempotencyKey, **values: Any) -> int:
    """``UPDATE`` the claim if this request still holds it (``IN_PROGRESS``, locked when it was
    claimed): the ORM's ``filter(...).update(...)`` as one statement compiled once per process."""
    meta = IdempotencyKey._meta
    fields = {field.name: field for field in meta.concrete_fields}
    where = {"id": record.pk, "status": IdempotencyKey.Status.IN_PROGRESS, "locked_at": record.locked_at}
    key = (connection.alias, tuple(values))
    sql = _update_sql.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(fields[name].column)} = %s" for name in values)
        conditions = " AND ".join(f"{quote(fields[name].column)} = %s" for name in where)
        sql = _update_sql.setdefault(key, f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {conditions}")  # noqa: S608  # nosec B608  # names from the model
    params = [fields[name].get_db_prep_save(value, connection=connection) for name, value in values.items()]
    params += [fields[name].get_db_prep_value(value, connection=connection) for name, value in where.items()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


_update_sql: dict[tuple[str, tuple[str, ...]], str] = {}


def idempotency_release(*, record: IdempotencyKey) -> None:
    """Forget the claim of a request that did nothing, so that the key may be used again."""
    IdempotencyKey.objects.filter(
        pk=record.pk, status=IdempotencyKey.Status.IN_PROGRESS, locked_at=record.locked_at
    ).delete()


def idempotency_keys_expired() -> QuerySet[IdempotencyKey]:
    """Keys past ``IDEMPOTENCY_KEY_TTL`` that no request holds: completed, never locked, or whose
    lock has expired too (a request may still be running under a younger lock on an old key: a
    retry took over its expired claim)."""
    now = clock.now()
    cutoff, lock_cutoff = now - settings.IDEMPOTENCY_KEY_TTL, now - settings.IDEMPOTENCY_LOCK_TIMEOUT
    return IdempotencyKey.objects.filter(created_at__lt=cutoff).filter(
        Q(status=IdempotencyKey.Status.COMPLETED) | Q(locked_at__isnull=True) | Q(locked_at__lt=lock_cutoff)
    )


def idempotency_keys_purge() -> int:
    """Delete the expired keys at once; returns how many went. Beat does not run this: the retention
    sweep (``bnpl/retention.py``) deletes the same keys hourly in bounded batches. It stays for a
    task already queued under its name, and for an operator's shell."""
    deleted, _ = idempotency_keys_expired().delete()
    return deleted
