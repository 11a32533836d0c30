"""Writes of the core: the audit log, the outbox, the sandbox clock.

``change_record`` writes a state change's audit row and outbox event together: on PostgreSQL in
one statement (``bnpl.core.inserts.insert_rows``), so the pair costs one round trip; elsewhere in
two. ``change_rows`` builds the pair for callers that write it with rows of their own."""

from __future__ import annotations

import contextlib
import datetime as dt
import re
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import F, Q

from bnpl.core import clock, inserts, outbox
from bnpl.core.context import Actor, current_actor, current_request_id
from bnpl.core.errors import InvalidRequestError
from bnpl.core.ids import generate_public_id
from bnpl.core.models import AuditLogEntry, ClockState, Event

if TYPE_CHECKING:
    from merchants.models import Merchant


def _object_reference(instance: models.Model) -> tuple[str, str]:
    object_type = instance._meta.label_lower
    object_id = getattr(instance, "public_id", None) or str(instance.pk)
    return object_type, object_id


def _audit_entry(
    *,
    action: str,
    instance: models.Model,
    merchant: Merchant | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: Actor | None,
) -> AuditLogEntry:
    actor = actor or current_actor()
    object_type, object_id = _object_reference(instance)
    return AuditLogEntry(
        actor_kind=actor.kind,
        actor_identifier=actor.identifier,
        actor_label=actor.label,
        action=action,
        object_type=object_type,
        object_id=object_id,
        merchant=merchant,
        before=before,
        after=after,
        request_id=current_request_id(),
    )


def _event(
    *, type: str, instance: models.Model, data: dict[str, Any], merchant: Merchant | None, livemode: bool
) -> Event:
    object_type, object_id = _object_reference(instance)
    return Event(
        public_id=generate_public_id(Event.PUBLIC_ID_PREFIX),
        type=type,
        merchant=merchant,
        livemode=livemode,
        object_type=object_type,
        object_id=object_id,
        data=data,
        request_id=current_request_id(),
    )


def audit_log_record(
    *,
    action: str,
    instance: models.Model,
    merchant: Merchant | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> AuditLogEntry:
    """Append who did what to which object, from what to what, in the current request."""
    entry = _audit_entry(action=action, instance=instance, merchant=merchant, before=before, after=after, actor=actor)
    entry.save()
    return entry


def event_emit(
    *,
    type: str,
    instance: models.Model,
    data: dict[str, Any],
    merchant: Merchant | None = None,
    livemode: bool = False,
) -> Event:
    """Write an outbox event. Must run inside the transaction of the change it records, so the
    event exists if and only if the change committed."""
    _require_transaction("event_emit")
    event = _event(type=type, instance=instance, data=data, merchant=merchant, livemode=livemode)
    event.save()
    outbox.notify_after_commit(event.pk, event_type=event.type, owner=(event.merchant_id, event.livemode))
    return event


def _require_transaction(writer: str) -> None:
    if not connection.in_atomic_block:
        raise RuntimeError(f"{writer} must be called inside the transaction of the change it records")


def change_rows(
    *,
    action: str,
    instance: models.Model,
    data: dict[str, Any],
    merchant: Merchant | None = None,
    livemode: bool | None = None,
    before: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> tuple[AuditLogEntry, Event]:
    """The audit row (before → after) and the outbox event of one state change, unsaved: the event's
    type is the action and its payload the object's new public representation. A caller that
    writes them with other rows in one statement (a credit decision) takes these; others call
    ``change_record``. A new ``instance`` needs its public id set first: both rows name it.

    ``merchant`` and ``livemode`` default to the instance's own (a merchant-owned row belongs to
    one tenant and mode); pass them for rows that do not carry them."""
    if merchant is None:
        owner = getattr(instance, "merchant", None)
        merchant = cast("Merchant", owner) if isinstance(owner, models.Model) else None
    if livemode is None:
        livemode = bool(getattr(instance, "livemode", False))
    event = _event(type=action, instance=instance, data=data, merchant=merchant, livemode=livemode)
    entry = _audit_entry(action=action, instance=instance, merchant=merchant, before=before, after=data, actor=actor)
    return entry, event


def change_record(
    *,
    action: str,
    instance: models.Model,
    data: dict[str, Any],
    merchant: Merchant | None = None,
    livemode: bool | None = None,
    before: dict[str, Any] | None = None,
    actor: Actor | None = None,
    new_rows: Sequence[models.Model] = (),
    updated: Sequence[tuple[models.Model, Sequence[str]]] = (),
) -> Event:
    """The usual pair for a state change (``change_rows``), written in the caller's transaction: on
    PostgreSQL in one statement, elsewhere in two. The change's own writes may go in the same
    statement: ``updated``, saved rows with the fields the change set on them (``instance``, whose
    fields it changed; nothing is stamped: set ``updated_at``), and ``new_rows``, unsaved rows (a
    capture): nothing else in the transaction may read them before, and a new row needs its public
    id set if ``data`` shows it."""
    _require_transaction("change_record")
    entry, event = change_rows(
        action=action, instance=instance, data=data, merchant=merchant, livemode=livemode, before=before, actor=actor
    )
    updates = [inserts.update_sql(row, fields) for row, fields in updated]
    inserts.insert_rows([*new_rows, entry, event], updates=updates)
    outbox.notify_after_commit(event.pk, event_type=event.type, owner=(event.merchant_id, event.livemode))
    return event


@dataclass(frozen=True)
class Change:
    """One state change for ``change_record_many``: the arguments ``change_record`` takes."""

    action: str
    instance: models.Model
    data: dict[str, Any]
    before: dict[str, Any] | None = None
    merchant: Merchant | None = None
    livemode: bool | None = None


def change_record_many(*, changes: Sequence[Change], actor: Actor | None = None) -> list[Event]:
    """``change_record`` for a batch of changes made in one transaction (collections settling a
    batch): the same audit row and outbox event for each change, in the same order, written with one
    insert per table (``inserts.insert_many``) instead of two per change. Must run inside that transaction."""
    _require_transaction("change_record_many")
    actor = actor or current_actor()
    pairs = [
        change_rows(
            action=change.action,
            instance=change.instance,
            data=change.data,
            merchant=change.merchant,
            livemode=change.livemode,
            before=change.before,
            actor=actor,
        )
        for change in changes
    ]
    entries, events = [entry for entry, _ in pairs], [event for _, event in pairs]
    encoded = inserts.JsonEncodedOnce()  # each change's data is its audit row's after and its event's payload
    inserts.insert_many(entries, encoded=encoded)
    written = inserts.insert_many(events, encoded=encoded)
    for event in written:
        outbox.notify_after_commit(event.pk, event_type=event.type, owner=(event.merchant_id, event.livemode))
    return written


def clock_advance(*, by: dt.timedelta, actor: Actor | None = None) -> dt.timedelta:
    """Move the sandbox clock forward by ``by``; returns the new total offset. Sandbox only, and
    never backward: time-based work already done stays done. (``bnpl.core.clock`` only reads.)"""
    if not settings.BNPL_SANDBOX:
        raise InvalidRequestError("The clock can only be moved in sandbox mode.", code="sandbox_only")
    seconds = int(by.total_seconds())
    if seconds <= 0:
        raise InvalidRequestError("The clock only moves forward.", code="clock_backwards", param="days")
    with transaction.atomic():
        state, _ = ClockState.objects.select_for_update().get_or_create(pk=ClockState.SINGLETON_ID)
        before = {"offset_seconds": state.offset_seconds}
        ClockState.objects.filter(pk=state.pk).update(offset_seconds=F("offset_seconds") + seconds)
        state.refresh_from_db()
        after = {
            "offset_seconds": state.offset_seconds,
            "now": (clock.real_now() + dt.timedelta(seconds=state.offset_seconds)).isoformat(),
        }
        audit_log_record(action="clock.advanced", instance=state, before=before, after=after, actor=actor)
        event_emit(type="clock.advanced", instance=state, data=after)
    clock.forget_cached_offset()
    return dt.timedelta(seconds=state.offset_seconds)


def inside_transaction() -> bool:
    """True inside a transaction that this code opened (not the one a test case wraps around
    every test): outside calls (gateways, HTTP) must never run there."""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


# --- Redacting personal data from append-only rows (an erasure's one exception) --------------------

ERASED = "[erased]"


@contextlib.contextmanager
def redaction_allowed() -> Iterator[None]:
    """Inside the caller's transaction, let the append-only tables accept a redaction: PostgreSQL's
    triggers then allow an UPDATE that changes only the columns they name as redactable (the values
    recorded), never which action, object, actor or time a row records, and never a DELETE. The
    setting is transaction-local and switched off again on leaving (after an error, the rollback of
    the failed transaction or savepoint undoes it). SQLite has no triggers."""
    if not connection.in_atomic_block:
        raise RuntimeError("redaction_allowed must be used inside a transaction")
    _redaction_setting("on")
    yield
    _redaction_setting("off")


def _redaction_setting(value: str) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('bnpl.redaction', %s, true)", [value])


def redact_text(text: str, needles: Sequence[str]) -> str:
    """``text`` with every occurrence of each needle (any case) replaced by ``[erased]``."""
    for needle in needles:
        if needle and needle.lower() in text.lower():
            text = re.sub(re.escape(needle), ERASED, text, flags=re.IGNORECASE)
    return text


def redact_json(value: Any, needles: Sequence[str]) -> Any:
    """Every string inside a JSON value redacted (keys are ours and stay)."""
    if isinstance(value, str):
        return redact_text(value, needles)
    if isinstance(value, list):
        return [redact_json(item, needles) for item in value]
    if isinstance(value, dict):
        return {key: redact_json(item, needles) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class Redaction:
    audit_rows: int  # audit log entries whose recorded values changed
    events: int  # outbox events whose payload changed


def audit_log_redact(
    *, everywhere: Sequence[str], within_objects: Sequence[str] = (), object_ids: Collection[str] = ()
) -> Redaction:
    """Erase personal data from the audit log and the outbox: ``everywhere`` (identifiers no one
    else has: an email address, a phone number) in any row, ``within_objects`` (a name, an
    address: words others may share) only in rows about ``object_ids``. Call inside the erasure's
    transaction. Scans the tables (an erasure is rare; see docs/operations.md)."""
    everywhere = [needle for needle in everywhere if needle]
    within_objects = [needle for needle in within_objects if needle]
    mentions = Q(object_id__in=list(object_ids))
    for needle in everywhere:
        mentions |= Q(after__icontains=needle) | Q(before__icontains=needle) | Q(actor_label__icontains=needle)
    audit_rows = events = 0
    with redaction_allowed():
        for entry in AuditLogEntry.objects.filter(mentions).iterator():
            needles = [*everywhere, *(within_objects if entry.object_id in object_ids else [])]
            changed = {
                "before": redact_json(entry.before, needles),
                "after": redact_json(entry.after, needles),
                "actor_label": redact_text(entry.actor_label, needles),
            }
            if any(changed[field] != getattr(entry, field) for field in changed):
                AuditLogEntry.objects.filter(pk=entry.pk).update(**changed)
                audit_rows += 1
        event_mentions = Q(object_id__in=list(object_ids))
        for needle in everywhere:
            event_mentions |= Q(data__icontains=needle)
        for event in Event.objects.filter(event_mentions).iterator():
            needles = [*everywhere, *(within_objects if event.object_id in object_ids else [])]
            data = redact_json(event.data, needles)
            if data != event.data:
                Event.objects.filter(pk=event.pk).update(data=data)
                events += 1
    return Redaction(audit_rows=audit_rows, events=events)
