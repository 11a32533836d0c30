"""Reading a table from the database as Arrow record batches: its rows in primary-key order, a chunk
at a time (memory bounded by the chunk whatever the table's size), each column already of its
declared type.

Two ways, the same batches:

* **COPY** (PostgreSQL; a table without a join whose fields are plain): each chunk is one
  ``COPY (SELECT …) TO STDOUT`` in CSV, parsed by pyarrow straight into columns (put in key order
  by Arrow if the scan did not give it). PostgreSQL turns times into epoch microseconds and dates
  into day numbers, so a column that converts nothing never becomes Python objects; one that
  converts its values (a pseudonym, a scrubbed payload) gets, value by value, the same Python value
  Django would have read. A chunk is an id window
  ``(low, low + chunk_size]``, so each query touches at most a chunk of rows whatever plan the
  planner picks (even on a table without statistics, right after a bulk load).
* **keyset pages** (SQLite; tables with a join): ``values_list`` tuples a chunk at a time, turned
  into columns, each converted and made an Arrow array once per chunk.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import io
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from django.db import connection, connections
from django.db.models import Field, JSONField, Max, Min, Model, QuerySet, TextField
from django.db.models.functions import Cast

from bnpl.core.replica import reading_alias
from bnpl.lake.tables.base import APPEND, JOINED, TIMESTAMP, Column, Scope, TableSpec

TEXT_PREFIX = "lake_text__"  # the annotation that reads a JSON field as its text (``Column.json_text``)


def record_batches(spec: TableSpec, scope: Scope) -> Iterator[pa.RecordBatch]:
    """The table's rows in the scope (an append table's id range, a snapshot table's every row) as
    record batches of its schema, in primary-key order."""
    if _copies() and copy_wires(spec) is not None:
        return _copied_batches(spec, scope)
    return _keyset_batches(spec, scope)


def _copies() -> bool:
    """PostgreSQL through psycopg2, whose cursor has ``copy_expert`` and ``mogrify`` (the pinned driver)."""
    if connections[reading_alias()].vendor != "postgresql":
        return False
    from django.db.backends.postgresql.psycopg_any import is_psycopg3  # imports a driver: PostgreSQL only

    return not is_psycopg3


# --- What one query selects ------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """One value a query reads: a field path (``pk``, ``merchant__public_id``), as its JSON text or not."""

    field: str
    json_text: bool = False

    @property
    def name(self) -> str:
        """Its name in ``values_list`` (an annotation when read as text)."""
        return TEXT_PREFIX + self.field if self.json_text else self.field


def _selection(column: Column) -> Selection:
    return Selection(column.field, column.json_text)


@cache
def selections(spec: TableSpec) -> tuple[Selection, ...]:
    """What one query reads, ``pk`` first: every column's field (once) and what the join needs."""
    wanted = [Selection("pk")]
    wanted += [_selection(column) for column in spec.columns if JOINED not in column.field]
    wanted += [Selection(field) for field in spec.join.fields] if spec.join else []
    return tuple(dict.fromkeys(wanted))


def _queryset(spec: TableSpec, scope: Scope) -> QuerySet[Any]:
    queryset: QuerySet[Any] = spec.model_class()._default_manager.all()
    if spec.kind == APPEND:
        queryset = queryset.filter(pk__gt=scope.lower_key, pk__lte=scope.upper_key)
    texts = {item.name: Cast(item.field, TextField()) for item in selections(spec) if item.json_text}
    return queryset.annotate(**texts) if texts else queryset


def _arrays(spec: TableSpec, columns: Iterable[tuple[Column, list[Any]]]) -> pa.RecordBatch:
    """Python values of each column, as Django reads them, converted and made one array each."""
    arrays = []
    for column, values in columns:
        convert = column.convert
        arrays.append(pa.array([convert(value) for value in values] if convert else values, type=column.type))
    return pa.RecordBatch.from_arrays(arrays, schema=spec.schema)


# --- Keyset pages (any database) -----------------------------------------------------------------


def _keyset_batches(spec: TableSpec, scope: Scope) -> Iterator[pa.RecordBatch]:
    names = [item.name for item in selections(spec)]
    position = {name: index for index, name in enumerate(names)}
    keys = [column.field if JOINED in column.field else _selection(column).name for column in spec.columns]
    for chunk in keyset_chunks(_queryset(spec, scope), names[1:], chunk_size=scope.chunk_size):
        if spec.join is None:
            values = list(zip(*chunk, strict=True))
            yield _arrays(spec, zip(spec.columns, (list(values[position[key]]) for key in keys), strict=True))
            continue
        records = [dict(zip(names, row, strict=True)) for row in chunk]
        spec.join.add(records, scope)
        yield _arrays(spec, zip(spec.columns, ([record[key] for record in records] for key in keys), strict=True))


def keyset_chunks(
    queryset: QuerySet[Any], fields: Iterable[str], *, chunk_size: int
) -> Iterator[list[tuple[Any, ...]]]:
    """``queryset.values_list("pk", *fields)`` a chunk (list of rows, pk first) at a time, in primary-key
    order, by keyset pagination (each chunk one indexed query; memory bounded by the chunk)."""
    last: Any = None
    names = ["pk", *fields]
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        chunk = list(page.order_by("pk").values_list(*names)[:chunk_size])
        if not chunk:
            return
        last = chunk[-1][0]
        yield chunk
        if len(chunk) < chunk_size:
            return


# --- COPY (PostgreSQL) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """How a field travels in the COPY's CSV: the SQL around its column, the Arrow type pyarrow parses
    it as, the Arrow type it then is (a plain cast), and -- for a column that converts or a field
    Arrow cannot hold as is -- how the Python value Django would read is made from the parsed one."""

    sql: str  # "{}" stands for the column
    parsed: pa.DataType
    arrow: pa.DataType
    python: Callable[[Any], Any] | None = None  # None: ``to_pylist`` already gives Django's value
    native: bool = True  # a column that converts nothing can stay an Arrow array


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    """As Django reads a time: aware, in ``datetime.UTC`` (pyarrow's own is a zoneinfo)."""
    return None if value is None else value.replace(tzinfo=dt.UTC)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


INTEGER = Wire("{}", pa.int64(), pa.int64())
TEXT = Wire("{}", pa.string(), pa.string())
WIRES: dict[str, Wire] = {
    **dict.fromkeys(
        (
            "AutoField",
            "BigAutoField",
            "SmallAutoField",
            "IntegerField",
            "BigIntegerField",
            "SmallIntegerField",
            "PositiveIntegerField",
            "PositiveBigIntegerField",
            "PositiveSmallIntegerField",
        ),
        INTEGER,
    ),
    **dict.fromkeys(("CharField", "TextField", "SlugField", "EmailField", "URLField"), TEXT),
    "BooleanField": Wire("{}", pa.bool_(), pa.bool_()),
    "FloatField": Wire("{}", pa.float64(), pa.float64()),
    # EXTRACT gives exact numeric seconds (PostgreSQL 14+): the microseconds Django's datetime holds.
    "DateTimeField": Wire("(EXTRACT(EPOCH FROM {}) * 1000000)::bigint", pa.int64(), TIMESTAMP, python=_utc),
    "DateField": Wire("({} - DATE '1970-01-01')", pa.int32(), pa.date32()),
    "DecimalField": Wire("{}", pa.string(), pa.string(), python=_decimal, native=False),
}
# A JSON field arrives as jsonb's text, which is what psycopg2 hands Django before it parses it.
JSON_TEXT = Wire("{}::text", pa.string(), pa.string(), native=False)
CSV_PARSE = pa_csv.ParseOptions(newlines_in_values=True)  # PostgreSQL's CSV: "" quotes, "" inside doubled


def _model_field(model: type[Model], path: str) -> Field[Any, Any]:
    *relations, name = path.split("__")
    for relation in relations:
        related = model._meta.get_field(relation).related_model
        assert isinstance(related, type)
        model = related
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    assert isinstance(field, Field)
    if field.is_relation and field.concrete:  # ``plan_id``: the key it holds
        return _model_field(field.related_model, "pk")  # type: ignore[arg-type]
    return field


def _wire(model: type[Model], item: Selection) -> Wire | None:
    field = _model_field(model, item.field)
    if isinstance(field, JSONField):
        if item.json_text:
            return JSON_TEXT
        return Wire(JSON_TEXT.sql, pa.string(), pa.string(), python=_json_reader(field), native=False)
    if item.json_text or hasattr(field, "from_db_value"):  # a field that reads itself: Django's way only
        return None
    return WIRES.get(field.get_internal_type())


def _json_reader(field: JSONField[Any]) -> Callable[[Any], Any]:
    def read(text: str | None) -> Any:
        return field.from_db_value(text, None, connection)  # type: ignore[arg-type]  # not a key lookup

    return read


@cache
def copy_wires(spec: TableSpec) -> tuple[Wire, ...] | None:
    """Each selection's wire, or None when the table is read by keyset pages only: it has a join, a
    field whose value Django reads in its own way, or a column that neither converts nor is already of
    its declared type (after a safe integer narrowing)."""
    if spec.join is not None:
        return None
    model = spec.model_class()
    wires = tuple(_wire(model, item) for item in selections(spec))
    if any(wire is None for wire in wires):
        return None
    by_selection = dict(zip(selections(spec), wires, strict=True))
    for column in spec.columns:
        wire = by_selection[_selection(column)]
        assert wire is not None
        if column.convert is None and wire.native and not _castable(wire.arrow, column.type):
            return None
    return wires  # type: ignore[return-value]


def _castable(arrow: pa.DataType, kind: pa.DataType) -> bool:
    """A plain cast gives what ``pa.array`` of Django's values gave (a too big integer fails in both)."""
    return arrow == kind or (pa.types.is_integer(arrow) and pa.types.is_integer(kind))


def _copied_batches(spec: TableSpec, scope: Scope) -> Iterator[pa.RecordBatch]:
    """Outside a transaction, the next chunk's COPY runs on a thread of its own (its own connection,
    the same reading server) while this one's columns are typed: PostgreSQL makes the CSV on one core
    while Python scrubs the chunk before on the other. Each chunk is its own statement, and so its own
    snapshot, either way. Inside a transaction (a snapshot's ``consistent_read``, or a test's), every
    chunk is read here: another connection would see another snapshot."""
    queryset = _queryset(spec, scope)
    low, high = (scope.lower_key, scope.upper_key) if spec.kind == APPEND else (0, _newest(queryset))

    def chunk(low: int) -> tuple[pa.Table | None, int | None]:
        """The chunk above ``low``, and the key the next one starts above (None: nothing is left)."""
        top = min(high, low + scope.chunk_size)
        parsed = _copy(spec, queryset.filter(pk__gt=low, pk__lte=top))
        if parsed is not None:
            return parsed, top
        following = queryset.filter(pk__gt=top).aggregate(first=Min("pk"))["first"]  # past a gap of ids
        return None, None if following is None else following - 1

    if connections[reading_alias()].in_atomic_block:
        following: int | None = low
        while following is not None and following < high:
            parsed, following = chunk(following)
            if parsed is not None:
                yield _typed(spec, parsed)
        return
    if low >= high:
        return
    context = contextvars.copy_context()  # the reading server's choice (``reporting_reads``) goes along
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lake-copy") as ahead:
        try:
            pending: Future[tuple[pa.Table | None, int | None]] | None = ahead.submit(context.run, chunk, low)
            while pending is not None:
                parsed, following = pending.result()
                pending = (
                    ahead.submit(context.run, chunk, following) if following is not None and following < high else None
                )
                if parsed is not None:
                    yield _typed(spec, parsed)
        finally:
            ahead.submit(connections.close_all).result()  # the thread's own connection, before it ends


def _newest(queryset: QuerySet[Any]) -> int:
    return int(queryset.aggregate(newest=Max("pk"))["newest"] or 0)


def _copy(spec: TableSpec, queryset: QuerySet[Any]) -> pa.Table | None:
    """One COPY of the queryset's rows in primary-key order, parsed: a column per selection."""
    items = selections(spec)
    wires = copy_wires(spec)
    assert wires is not None
    inner, params = queryset.order_by().values_list(*(item.name for item in items)).query.sql_with_params()
    names = [f"c{index}" for index in range(len(items))]
    select = ", ".join(wire.sql.format(name) for wire, name in zip(wires, names, strict=True))
    query = f"SELECT {select} FROM ({inner}) AS lake_rows ({', '.join(names)})"  # noqa: S608  # nosec B608  # our own SQL; values are parameters
    buffer = io.BytesIO()
    with connections[reading_alias()].cursor() as cursor:  # the server the ORM reads from here
        statement = cursor.mogrify(query, params).decode()
        cursor.copy_expert(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv)", buffer)
    if not buffer.tell():
        return None
    parsed = pa_csv.read_csv(
        pa.py_buffer(buffer.getvalue()),
        read_options=pa_csv.ReadOptions(column_names=names),
        parse_options=CSV_PARSE,
        convert_options=pa_csv.ConvertOptions(
            column_types={name: wire.parsed for wire, name in zip(wires, names, strict=True)},
            null_values=[""],  # NULL is an unquoted empty field; an empty string is quoted
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    )
    return _in_key_order(parsed)


def _in_key_order(parsed: pa.Table) -> pa.Table:
    """The chunk in primary-key order (its first column). The COPY leaves the order to the scan the
    planner picks -- the table's, in key order, almost always -- rather than sorting the chunk's
    wide rows in PostgreSQL: checked here, and sorted by Arrow only when the scan was not."""
    keys = parsed.column(0)
    if len(keys) < 2 or pc.all(pc.less(keys[:-1], keys[1:])).as_py():
        return parsed
    return parsed.take(pc.sort_indices(keys))


def _typed(spec: TableSpec, parsed: pa.Table) -> pa.RecordBatch:
    """The parsed columns as the table's: cast, or through Python values where a column converts."""
    items = selections(spec)
    wires = copy_wires(spec)
    assert wires is not None
    position = {item: index for index, item in enumerate(items)}
    arrays = []
    for column in spec.columns:
        index = position[_selection(column)]
        wire = wires[index]
        array = parsed.column(index).combine_chunks().cast(wire.arrow)
        if column.convert is None and wire.native:
            arrays.append(array.cast(column.type))
            continue
        values = array.to_pylist()
        if wire.python is not None:
            values = [wire.python(value) for value in values]
        convert = column.convert
        arrays.append(pa.array([convert(value) for value in values] if convert else values, type=column.type))
    return pa.RecordBatch.from_arrays(arrays, schema=spec.schema)
