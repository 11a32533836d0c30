"""INSERTs of single rows on the hot path, compiled once per model instead of once per row.

Django compiles every ``save()`` anew (a few hundred microseconds of Python, more than the round
trip to a local database). The INSERT of a new row depends only on the model and the options, not
on the values, which are parameters; so each statement is compiled once, by Django's own compiler,
and each row only has its values prepared, by their fields (``pre_save`` then
``get_db_prep_save``, as the compiler does). For plain values only: a row holding an expression
is refused.

``insert_row`` saves a new row as ``save()`` would (id and state set); with ``ignore_conflicts``
a row that would break a unique constraint is skipped (``ON CONFLICT DO NOTHING`` / ``INSERT OR
IGNORE``) and it answers False: the sandbox gateway's record of a key it answers once.
``insert_rows`` saves new rows of any models all or none, on
PostgreSQL in one statement (data-modifying ``WITH``): an audit row and its event
(``bnpl.core.services.change_record``), a credit decision with both (``decisioning.services``).
``save()`` is not called: a ``PublicIdModel`` row without its public id gets one here, as its
``save()`` would give it.
``insert_many`` is ``bulk_create`` for a batch of rows of one model (collections settling a
batch: attempts, charges, audit rows, events, journal entries, postings): on PostgreSQL one
multi-row INSERT built from the compiled single-row one, its values prepared as above, where
``bulk_create`` compiles every row's every value anew.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection, connections, models, transaction
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery

from bnpl.core import prepared as prepared_statements

RowT = TypeVar("RowT", bound=models.Model)

# (model, database alias, vendor, ignore conflicts, returning) -> (sql, fields)
_compiled: dict[tuple[type[models.Model], str, str, bool, bool], tuple[str, list[Any]]] = {}


def _fields(model: type[models.Model]) -> list[Any]:
    meta = model._meta
    return [field for field in meta.local_concrete_fields if field is not meta.auto_field]


def _values(row: models.Model, fields: list[Any], encoded: JsonEncodedOnce | None = None) -> tuple[Any, ...]:
    # The connection itself, not ``django.db.connection``: each of the proxy's attribute reads goes
    # through a context-local lookup, and the fields read it several times per value.
    database = connections[connection.alias]
    values = []
    for field, read, same in _preparers(fields, database):
        value = getattr(row, field.attname) if read else field.pre_save(row, add=True)
        if type(value) in same:  # what preparing it would give back unchanged
            values.append(value)
            continue
        if hasattr(value, "resolve_expression"):
            raise ValueError(f"{type(row).__name__}.{field.name}: an expression, not a value")
        if encoded is not None and isinstance(field, models.JSONField) and isinstance(value, dict | list):
            values.append(encoded.adapted(field, value, database))
        else:
            values.append(field.get_db_prep_save(value, connection=database))
    return tuple(values)


def _preparers(fields: list[Any], database: Any) -> list[tuple[Any, bool, tuple[type, ...]]]:
    """For each field: whether its ``pre_save`` on an insert is Django's plain attribute read, and
    the types of value its ``get_db_prep_save`` gives back unchanged (``_unchanged``); once per
    list of fields and database."""
    key = (id(fields), database.alias, database.vendor)
    known = _prepared.get(key)
    if known is None or known[0] is not fields:
        plain = [
            (field, type(field).pre_save is models.Field.pre_save, _unchanged(field, database)) for field in fields
        ]
        known = _prepared[key] = (fields, plain)
    return known[1]


# (id of a compiled field list, alias, vendor) -> (the list, kept alive; its preparers)
_prepared: dict[tuple[int, str, str], tuple[list[Any], list[tuple[Any, bool, tuple[type, ...]]]]] = {}

_NONE = type(None)


def _unchanged(field: Any, database: Any) -> tuple[type, ...]:
    """The types of value ``field.get_db_prep_save`` returns as given, told by which of Django's own
    methods it runs (a field class that overrides any of them gets none): an integer field's int
    (``int(value)``), a text field's str (``to_python``), a boolean's bool, a foreign key's int to
    an auto id (PostgreSQL takes the id as it is), and None for each of these. Exact types only: a
    bool is not an integer field's int."""
    kind = type(field)
    if (
        kind.get_db_prep_save is models.Field.get_db_prep_save
        and kind.get_db_prep_value is models.Field.get_db_prep_value
    ):
        prepares = kind.get_prep_value
        if prepares in (models.IntegerField.get_prep_value, models.BigIntegerField.get_prep_value):
            return (int, _NONE)
        if prepares in (models.CharField.get_prep_value, models.TextField.get_prep_value):
            return (str, _NONE)
        if prepares is models.BooleanField.get_prep_value:
            return (bool, _NONE)
        return ()
    if kind.get_db_prep_save is models.ForeignKey.get_db_prep_save and database.vendor == "postgresql":
        target = type(field.target_field)
        if (
            target in (models.AutoField, models.BigAutoField)
            and target.get_prep_value is models.IntegerField.get_prep_value
        ):
            return (int, _NONE)
    return ()


class JsonEncodedOnce:
    """JSON values written in several rows (a plan's "after" in its audit row and its event, and
    as the "before" of the plan's next payment in the batch) encoded once: each value, by
    identity, gets one adapter whose quoted text is made the first time it is sent and reused.
    For one batch of inserts (``insert_many(..., encoded=...)``): the values must not change
    meanwhile. On psycopg 3 the values are adapted as usual (its dumpers take no such adapter)."""

    def __init__(self) -> None:
        self._adapters: dict[int, tuple[Any, Any]] = {}  # id -> (the value, kept alive; its adapter)

    def adapted(self, field: models.JSONField, value: Any, database: Any) -> Any:
        from django.db.backends.postgresql.psycopg_any import is_psycopg3  # imports a driver: PostgreSQL only

        if is_psycopg3:
            return field.get_db_prep_save(value, connection=database)
        known = self._adapters.get(id(value))
        if known is None:
            known = self._adapters[id(value)] = (value, _QuotedOnce(field.get_db_prep_save(value, connection=database)))
        return known[1]


class _QuotedOnce:
    """A psycopg2 adapter (``ISQLQuote``) quoting as the one it wraps, once."""

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter
        self._quoted: bytes | None = None

    def __conform__(self, protocol: Any) -> _QuotedOnce:
        return self

    def prepare(self, database_connection: Any) -> None:
        self._adapter.prepare(database_connection)

    def getquoted(self) -> bytes:
        if self._quoted is None:
            self._quoted = self._adapter.getquoted()
        return self._quoted


def insert_sql(
    row: models.Model, *, ignore_conflicts: bool = False, returning: bool = True
) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of ``row`` (every column but the generated id; ``RETURNING`` the id when
    ``returning``) and its parameters."""
    model = type(row)
    key = (model, connection.alias, connection.vendor, ignore_conflicts, returning)
    compiled = _compiled.get(key)
    if compiled is None:
        fields = _fields(model)
        query = InsertQuery(model, on_conflict=OnConflict.IGNORE if ignore_conflicts else None)
        query.insert_values(fields, [row])
        compiler = query.get_compiler(connection=connection)
        compiler.returning_fields = [model._meta.pk] if returning else None
        [(sql, _)] = compiler.as_sql()
        compiled = _compiled.setdefault(key, (sql, fields))
    sql, fields = compiled
    return sql, _values(row, fields)


def insert_many(
    rows: Sequence[RowT],
    *,
    ignore_conflicts: bool = False,
    encoded: JsonEncodedOnce | None = None,
    keyed_by: str | None = None,
) -> list[RowT]:
    """``bulk_create(rows, ignore_conflicts=...)`` for new rows of one model, returned as given and
    saved with their ids -- except with ``ignore_conflicts`` (``ON CONFLICT DO NOTHING``), which
    leaves them without ids as ``bulk_create`` does: read back what you need. On PostgreSQL one
    statement per 1,000 rows, compiled once per model; elsewhere ``bulk_create`` itself.
    ``encoded``: JSON values shared with other rows of the batch, encoded once (``JsonEncodedOnce``).
    ``keyed_by`` (with ``ignore_conflicts``, PostgreSQL): a unique field whose value differs in
    every row; the statement returns the id and that value of each row it wrote, and those rows
    are saved with their ids (a row skipped for a conflict is left without one)."""
    if not rows:
        return []
    model = type(rows[0])
    if connection.vendor != "postgresql":
        return model._default_manager.bulk_create(rows, ignore_conflicts=ignore_conflicts)
    for row in rows:
        # As bulk_create: a related row saved after it was assigned gives its id; an unsaved one is refused.
        row._prepare_related_fields_for_save(operation_name="insert_many")  # type: ignore[attr-defined]
        _public_id_given(row)
    head, group, tail = _multi_row(rows[0], ignore_conflicts=ignore_conflicts)
    fields = _compiled[(model, connection.alias, connection.vendor, ignore_conflicts, not ignore_conflicts)][1]
    by_key: dict[Any, RowT] = {}
    if keyed_by is not None and ignore_conflicts:
        key_field = model._meta.get_field(keyed_by)
        quote = connection.ops.quote_name
        tail = f"{tail} RETURNING {quote(model._meta.pk.column)}, {quote(getattr(key_field, 'column', keyed_by))}"
        by_key = {getattr(row, getattr(key_field, "attname", keyed_by)): row for row in rows}
        if len(by_key) != len(rows):
            raise ValueError(f"two rows share a {keyed_by}")
    for start in range(0, len(rows), _MANY_CHUNK):
        chunk = rows[start : start + _MANY_CHUNK]
        params = [value for row in chunk for value in _values(row, fields, encoded)]
        with connection.cursor() as cursor:
            cursor.execute(f"{head}{', '.join([group] * len(chunk))}{tail}", params)
            if not ignore_conflicts:
                for row, (key,) in zip(chunk, cursor.fetchall(), strict=True):  # RETURNING follows VALUES' order
                    saved(row, key)
            elif by_key:
                for key, value in cursor.fetchall():  # the rows written, in no promised order
                    saved(by_key[value], key)
    return list(rows)


_MANY_CHUNK = 1_000  # rows per statement: far below PostgreSQL's 65,535 parameters for our tables


def _multi_row(row: models.Model, *, ignore_conflicts: bool) -> tuple[str, str, str]:
    """The compiled single-row INSERT of ``row``'s model split around its one ``VALUES`` group:
    (everything up to the group, the group, everything after it: the conflict clause and
    ``RETURNING``)."""
    sql, _ = insert_sql(row, ignore_conflicts=ignore_conflicts, returning=not ignore_conflicts)
    start = sql.index(" VALUES (") + len(" VALUES ")
    end = sql.index(")", start) + 1
    group = sql[start:end]
    if "(" in group[1:]:  # a placeholder with a call or cast in it: not split here
        raise ValueError(f"{type(row).__name__}: unexpected INSERT shape {sql!r}")
    return sql[:start], group, sql[end:]


def _public_id_given(row: models.Model) -> None:
    from bnpl.core.ids import generate_public_id
    from bnpl.core.models import PublicIdModel

    if isinstance(row, PublicIdModel) and not row.public_id:
        row.public_id = generate_public_id(row.PUBLIC_ID_PREFIX)


def update_sql(row: models.Model, fields: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    """The UPDATE of ``fields`` of the saved ``row``, by its id, to the values the row holds (as
    ``save(update_fields=...)`` writes them, but nothing is stamped: set ``updated_at`` first), and
    its parameters; compiled once per model and fields."""
    model = type(row)
    meta = model._meta
    key = (model, connection.alias, tuple(fields))
    compiled = _compiled_updates.get(key)
    if compiled is None:
        concrete = {field.name: field for field in meta.concrete_fields}
        targets = [concrete[name] for name in fields]
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in targets)
        sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608  # nosec B608  # names from the model
        compiled = _compiled_updates.setdefault(key, (sql, targets))
    sql, targets = compiled
    values = [field.get_db_prep_save(field.pre_save(row, add=False), connection=connection) for field in targets]
    return sql, (*values, meta.pk.get_db_prep_value(row.pk, connection=connection))


# (model, database alias, fields) -> (sql, fields)
_compiled_updates: dict[tuple[type[models.Model], str, tuple[str, ...]], tuple[str, list[Any]]] = {}


def insert_rows(
    rows: Sequence[models.Model],
    *,
    durable: bool = True,
    prepared: bool = False,
    updates: Sequence[tuple[str, tuple[Any, ...]]] = (),
) -> None:
    """INSERT new rows of any models, all or none, and set their ids: on PostgreSQL in one statement
    (one round trip), elsewhere one INSERT each in a transaction. ``updates`` (``update_sql``'s)
    run first, in the same statement on PostgreSQL (a data-modifying ``WITH`` runs whether or not
    anything reads it; every part sees the database as it was before the statement, so an update
    and the inserts must not touch the same rows).

    Inside a transaction the rows are part of it. Outside one, the statement is a transaction of its
    own and commits as it ends; ``durable=False`` then lets that commit return before the write-ahead
    log reaches the disk (PostgreSQL's asynchronous commit: a crash of the database server within
    the next moment, about three ``wal_writer_delay``s, may lose it; the next durable commit on the
    server makes it durable too). ``prepared`` runs the statement as one prepared once per
    connection (``bnpl.core.prepared``), for a hot path that writes the same models on every call."""
    if connection.vendor != "postgresql":
        # Inside the caller's transaction an error rolls that back (no savepoint needed, as for
        # consecutive save() calls); outside one, these INSERTs are a transaction of their own (a
        # single one is already).
        alone = connection.in_atomic_block or len(rows) + len(updates) == 1
        with contextlib.nullcontext() if alone else transaction.atomic():
            for sql, values in updates:
                with connection.cursor() as cursor:
                    cursor.execute(sql, values)
            for row in rows:
                _public_id_given(row)
                insert_row(row)
        return
    parts: list[str] = []
    params: list[Any] = []
    for index, (sql, values) in enumerate(updates):
        parts.append(f"update{index} AS ({sql})")
        params += values
    for index, row in enumerate(rows):
        _public_id_given(row)
        sql, values = insert_sql(row)
        parts.append(f"row{index} AS ({sql})")
        params += values
    selected = [f"(SELECT * FROM row{index})" for index in range(len(rows))]  # noqa: S608  # nosec B608
    if not durable and not connection.in_atomic_block:
        selected.append("set_config('synchronous_commit', 'off', true)")  # this statement's transaction only
    statement = f"WITH {', '.join(parts)} SELECT {', '.join(selected)}"  # nosec B608  # compiled INSERTs
    with connection.cursor() as cursor:
        if not (prepared and prepared_statements.execute(cursor, statement, params)):
            cursor.execute(statement, params)
        keys = cursor.fetchone()
    for row, key in zip(rows, keys, strict=False):  # the set_config column, if any, is left over
        saved(row, key)


def insert_row(row: models.Model, *, ignore_conflicts: bool = False, durable: bool = True) -> bool:
    """INSERT a new row in one statement, as ``save()`` would; False when ``ignore_conflicts`` and
    a unique constraint skipped it (nothing written, ``row`` left unsaved). ``durable=False``
    outside a transaction: as ``insert_rows``'s (on PostgreSQL, the commit does not wait for the
    disk)."""
    sql, params = insert_sql(row, ignore_conflicts=ignore_conflicts)
    if not durable and connection.vendor == "postgresql" and not connection.in_atomic_block:
        sql = (
            f"WITH inserted AS ({sql}) "  # noqa: S608  # nosec B608  # a compiled INSERT
            "SELECT (SELECT * FROM inserted), set_config('synchronous_commit', 'off', true)"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    if found is None or found[0] is None:
        return False
    saved(row, found[0])
    return True


def saved(row: models.Model, pk: Any) -> None:
    """Mark ``row`` as stored under ``pk``, as ``save()`` leaves it."""
    row.pk = pk
    row._state.adding, row._state.db = False, connection.alias
