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
import datetime as dt
from collections.abc import Callable, Sequence
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
    for field, as_is in zip(fields, _as_is(type(row), fields, database.vendor), strict=True):
        if as_is is not None:
            value = getattr(row, field.attname)  # these fields' pre_save
            if value is None or as_is(value):
                values.append(value)
                continue
        else:
            value = field.pre_save(row, add=True)
        if hasattr(value, "resolve_expression"):
            raise ValueError(f"{type(row).__name__}.{field.name}: an expression, not a value")
        if encoded is not None and isinstance(field, models.JSONField) and isinstance(value, dict | list):
            values.append(encoded.adapted(field, value, database))
        else:
            values.append(field.get_db_prep_save(value, connection=database))
    return tuple(values)


# Values Django's own fields send to PostgreSQL through psycopg2 unchanged: ``get_db_prep_save`` of
# a str in a CharField, of an int (exactly) in an integer field or a foreign key to an integer id,
# of a bool in a BooleanField, of a float in a FloatField, of an aware datetime in a DateTimeField,
# of a date in a DateField returns the value itself, and of None, None (PostgreSQL's
# ``adapt_*_value`` convert nothing with psycopg2; with psycopg 3 an integer is wrapped in its
# type, so there every value takes its field's path). Only these exact field classes (a subclass
# may prepare its values otherwise), and date fields without ``auto_now``/``auto_now_add`` (whose
# ``pre_save`` sets the value); any other value takes its field's path. A type check costs a
# fraction of the field's chain of methods, which a decision's three rows run ~60 times.
# ``tests/bnpl/core/test_inserts.py`` holds it to the fields' own answers.
def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_int(value: Any) -> bool:
    return type(value) is int


def _is_bool(value: Any) -> bool:
    return type(value) is bool


def _is_float(value: Any) -> bool:
    return type(value) is float


def _is_aware_datetime(value: Any) -> bool:
    return type(value) is dt.datetime and value.utcoffset() is not None


def _is_date(value: Any) -> bool:
    return type(value) is dt.date


_AS_IS: dict[type[models.Field[Any, Any]], Callable[[Any], bool]] = {
    models.CharField: _is_str,
    models.TextField: _is_str,
    models.BooleanField: _is_bool,
    models.IntegerField: _is_int,
    models.BigIntegerField: _is_int,
    models.SmallIntegerField: _is_int,
    models.PositiveIntegerField: _is_int,
    models.PositiveBigIntegerField: _is_int,
    models.PositiveSmallIntegerField: _is_int,
    models.FloatField: _is_float,
    models.DateTimeField: _is_aware_datetime,
    models.DateField: _is_date,
}
_INTEGER_IDS = (
    models.AutoField,
    models.BigAutoField,
    models.SmallAutoField,
    models.IntegerField,
    models.BigIntegerField,
)

# (model, vendor) -> per field of ``_fields(model)``: the check that its value goes as it is, or None
_as_is_checks: dict[tuple[type[models.Model], str], list[Callable[[Any], bool] | None]] = {}


def _as_is(model: type[models.Model], fields: list[Any], vendor: str) -> list[Callable[[Any], bool] | None]:
    checks = _as_is_checks.get((model, vendor))
    if checks is None or len(checks) != len(fields):
        checks = [_as_is_check(field) if _plain_driver(vendor) else None for field in fields]
        _as_is_checks[(model, vendor)] = checks
    return checks


def _plain_driver(vendor: str) -> bool:
    if vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3  # imports a driver: PostgreSQL only

    return not is_psycopg3


def _as_is_check(field: Any) -> Callable[[Any], bool] | None:
    if type(field) is models.ForeignKey:
        return _is_int if type(field.target_field) in _INTEGER_IDS else None
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return None
    return _AS_IS.get(type(field))


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
    row: models.Model,
    *,
    ignore_conflicts: bool = False,
    returning: bool = True,
    encoded: JsonEncodedOnce | None = None,
) -> tuple[str, tuple[Any, ...]]:
    """The INSERT of ``row`` (every column but the generated id; ``RETURNING`` the id when
    ``returning``) and its parameters (JSON values shared with other rows: ``encoded``)."""
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
    return sql, _values(row, fields, encoded)


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
    sql, targets = update_statement(model, fields)
    values = [field.get_db_prep_save(field.pre_save(row, add=False), connection=connection) for field in targets]
    return sql, (*values, model._meta.pk.get_db_prep_value(row.pk, connection=connection))


def update_statement(model: type[models.Model], fields: Sequence[str], *, many: bool = False) -> tuple[str, list[Any]]:
    """``UPDATE`` of ``model`` setting ``fields`` (one ``%s`` each, in order) where the id is the last
    ``%s`` -- or, with ``many`` (PostgreSQL), ``= ANY(%s)`` of an array of ids -- and the fields, to
    prepare the values with; made once per model, database and fields."""
    key = (model, connection.alias, tuple(fields), many)
    compiled = _compiled_updates.get(key)
    if compiled is None:
        meta = model._meta
        concrete = {field.name: field for field in meta.concrete_fields}
        targets = [concrete[name] for name in fields]
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(field.column)} = %s" for field in targets)
        where = "= ANY(%s)" if many else "= %s"
        sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} {where}"  # noqa: S608  # nosec B608  # names from the model
        compiled = _compiled_updates.setdefault(key, (sql, targets))
    return compiled


# (model, database alias, fields, many) -> (sql, fields)
_compiled_updates: dict[tuple[type[models.Model], str, tuple[str, ...], bool], tuple[str, list[Any]]] = {}


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
    encoded = JsonEncodedOnce()  # a change's data is both its audit row's "after" and its event's payload
    for index, (sql, values) in enumerate(updates):
        parts.append(f"update{index} AS ({sql})")
        params += values
    for index, row in enumerate(rows):
        _public_id_given(row)
        sql, values = insert_sql(row, encoded=encoded)
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
