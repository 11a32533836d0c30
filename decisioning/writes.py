"""A decision's writes in one round trip: the decision row, its audit row and its outbox event go
to PostgreSQL as one statement (``WITH … INSERT`` common table expressions), not as three INSERTs
between a BEGIN and a COMMIT.

The rows are what ``bnpl.core.services.change_record`` writes (``change_rows`` builds them the same
way), inserted in the caller's transaction, and the outbox's listeners hear of the event after it
commits, as ``event_emit`` arranges. (``change_rows`` and ``rows_insert`` would sit well in
``bnpl.core.services``; they are here until the core adopts them.)
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction

from bnpl.core import clock
from bnpl.core.context import current_actor, current_request_id
from bnpl.core.ids import generate_public_id
from bnpl.core.models import AuditLogEntry, BaseModel, Event, PublicIdModel


def change_rows(*, action: str, instance: PublicIdModel, data: dict[str, Any]) -> tuple[AuditLogEntry, Event]:
    """The audit row and the outbox event ``change_record`` would write for ``instance`` (a row of
    one merchant and mode, changed by the current actor in the current request), unsaved. A new
    ``instance`` must have its public id already (``new_public_id``): the rows and ``data`` name it."""
    if not instance.public_id:
        raise ValueError("give the new row its public id (new_public_id) before recording its change")
    merchant = getattr(instance, "merchant", None)
    livemode = bool(getattr(instance, "livemode", False))
    actor = current_actor()
    object_type, object_id = instance._meta.label_lower, instance.public_id
    request_id = current_request_id()
    audit = AuditLogEntry(
        actor_kind=actor.kind,
        actor_identifier=actor.identifier,
        actor_label=actor.label,
        action=action,
        object_type=object_type,
        object_id=object_id,
        merchant=merchant,
        before=None,
        after=data,
        request_id=request_id,
    )
    event = Event(
        type=action,
        merchant=merchant,
        livemode=livemode,
        object_type=object_type,
        object_id=object_id,
        data=data,
        request_id=request_id,
    )
    return audit, event


def new_public_id(model: type[PublicIdModel]) -> str:
    """A public id for a row not saved yet (``PublicIdModel.save`` would give it one on saving)."""
    return generate_public_id(model.PUBLIC_ID_PREFIX)


def rows_insert(rows: Sequence[models.Model], *, durable: bool = True) -> None:
    """Insert new rows of any models, all or none, and set their primary keys: on PostgreSQL in one
    statement (one round trip), elsewhere one INSERT each in a transaction. Their ``save()`` is not
    called on PostgreSQL: what ``BaseModel`` and ``PublicIdModel`` fill in on saving (the update
    time, the public id) is filled in here.

    Inside a transaction the rows are part of it. Outside one, the statement is a transaction of its
    own and commits as it ends; ``durable=False`` lets that commit return before the write-ahead log
    reaches the disk (PostgreSQL's asynchronous commit: a crash of the database server within the
    next moment, about three ``wal_writer_delay``s, may lose it; the next durable commit on the
    server makes it durable too)."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            for row in rows:
                row.save(force_insert=True)
        return
    for row in rows:
        if isinstance(row, PublicIdModel) and not row.public_id:
            row.public_id = generate_public_id(row.PUBLIC_ID_PREFIX)
        if isinstance(row, BaseModel):
            row.updated_at = clock.now()
    database = connections[DEFAULT_DB_ALIAS]  # the connection itself: each look-up through the proxy costs
    parts, params = [], []
    for index, row in enumerate(rows):
        sql, fields = _insert_statement(type(row))
        parts.append(f"row{index} AS ({sql})")
        params += [field.get_db_prep_save(field.pre_save(row, True), database) for field in fields]
    selected = [f"row{index}.pk" for index in range(len(rows))]
    if not durable and not database.in_atomic_block:
        selected.append("set_config('synchronous_commit', 'off', true)")  # this statement's transaction only
    joined = ", ".join(f"row{index}" for index in range(len(rows)))
    with database.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT {', '.join(selected)} FROM {joined}", params)  # noqa: S608  # nosec B608  # our own tables
        keys = cursor.fetchone()
    for row, key in zip(rows, keys, strict=False):
        row.pk = key
        row._state.adding = False
        row._state.db = database.alias


@functools.cache
def _insert_statement(model: type[models.Model]) -> tuple[str, tuple[models.Field[Any, Any], ...]]:
    """``INSERT INTO <table> (<every column but the generated key>) VALUES (%s, …) RETURNING <key> AS pk``."""
    options = model._meta
    fields = tuple(field for field in options.concrete_fields if not field.primary_key)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    values = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {quote(options.db_table)} ({columns}) VALUES ({values}) "  # noqa: S608  # nosec B608  # model metadata
        f"RETURNING {quote(options.pk.column)} AS pk"
    )
    return sql, fields
