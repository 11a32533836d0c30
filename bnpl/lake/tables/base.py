"""How a lake table is declared: its columns, each once, with its name, Arrow type, description and
source, in column order; the table reads its rows from its model by keyset pagination on the primary
key, a chunk at a time (each chunk one indexed query; memory bounded by the chunk).

A column's ``source`` is a field path of the table's model as ``values_list`` takes it
(``merchant__public_id``; ``pk``), and its optional ``convert`` turns that field's value into the
column's (``pseudonym``). A source with a dot (``outcome.bad``) is not a field: it is a value the
table's ``Join`` adds to each record, from other tables, a chunk of records at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from operator import itemgetter
from typing import Any

import pyarrow as pa
from django.apps import apps
from django.db.models import Model, QuerySet

from bnpl.lake.pseudonym import pseudonym

APPEND = "append"
SNAPSHOT = "snapshot"
TIMESTAMP = pa.timestamp("us", tz="UTC")
JOINED = "."  # in a source: a value the table's join adds, not a field of its model

Row = tuple[Any, ...]
Record = Any  # a chunk's row from ``values_list`` (pk first), or, for a table with a join, a dict by source
Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    source: str = ""  # the model field it reads (values_list path; "" = the field named like the column)
    convert: Convert | None = None  # the field's value -> the column's value (None: as read)

    @property
    def field(self) -> str:
        return self.source or self.name


@dataclass(frozen=True)
class Scope:
    """What one read covers: an id range (append tables) or the snapshot's time (snapshot tables)."""

    chunk_size: int
    lower_key: int = 0  # exclusive
    upper_key: int = 0  # inclusive
    as_of: dt.datetime | None = None


@dataclass(frozen=True)
class Join:
    """Values a table takes from other tables: ``add`` puts them, under dotted names, into a chunk of
    its records (dicts by field path, ``pk`` included) with a query or two per chunk, never one per
    row; ``fields``: what else of the table's model it needs, besides the columns' sources."""

    fields: tuple[str, ...]
    add: Callable[[list[dict[str, Any]], Scope], None]


@dataclass(frozen=True)
class TableSpec:
    name: str
    kind: str  # APPEND or SNAPSHOT
    description: str
    model: str  # "app_label.ModelName": whose rows it reads, in primary-key order (an append table's batch ids)
    columns: tuple[Column, ...]
    stream: str  # the watermark it advances: its own name (append) or "snapshots"
    partition_column: str = ""  # append tables: the timestamp whose UTC date is the partition
    join: Join | None = None

    def __post_init__(self) -> None:
        names = self.column_names
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: a column is declared twice")
        if self.join is None and any(JOINED in column.field for column in self.columns):
            raise ValueError(f"{self.name}: a column reads a joined value but the table has no join")

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(column.name, column.type, metadata={"description": column.description})
                for column in self.columns
            ]
        )

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def partition_index(self) -> int:
        return self.column_names.index(self.partition_column)

    def model_class(self) -> type[Model]:
        return apps.get_model(self.model)

    def read(self, scope: Scope) -> Iterator[Row]:
        """The rows as tuples in column order, in primary-key order: an append table's rows in the
        scope's id range, a snapshot table's every row."""
        queryset: QuerySet[Any] = self.model_class()._default_manager.all()
        start_after = 0
        if self.kind == APPEND:
            queryset, start_after = queryset.filter(pk__lte=scope.upper_key), scope.lower_key
        make_row = self._row_maker
        for chunk in keyset_chunks(queryset, self._fields, chunk_size=scope.chunk_size, start_after=start_after):
            records: list[Any] = chunk
            if self.join is not None:
                names = ("pk", *self._fields)
                records = [dict(zip(names, row, strict=True)) for row in chunk]
                self.join.add(records, scope)
            for record in records:
                yield make_row(record)

    @cached_property
    def _fields(self) -> tuple[str, ...]:
        """What one query reads besides ``pk``: every column's field (once) and what the join needs."""
        wanted = [column.field for column in self.columns if JOINED not in column.field]
        wanted += self.join.fields if self.join else ()
        return tuple(dict.fromkeys(field for field in wanted if field != "pk"))

    @cached_property
    def _row_maker(self) -> Callable[[Record], Row]:
        """Record -> row: each column's value picked by its place in the query's row (or its name in a
        joined record), then converted when the column says how."""
        if self.join is None:
            keys: list[Any] = [
                0 if column.field == "pk" else 1 + self._fields.index(column.field) for column in self.columns
            ]
        else:
            keys = [column.field for column in self.columns]
        pick = itemgetter(*keys)
        converts = [(position, column.convert) for position, column in enumerate(self.columns) if column.convert]

        def make_row(record: Record) -> Row:
            values = pick(record)
            if len(keys) == 1:
                values = (values,)
            if not converts:
                return tuple(values)
            converted = list(values)
            for position, convert in converts:
                converted[position] = convert(converted[position])
            return tuple(converted)

        return make_row


def keyset_chunks(
    queryset: QuerySet[Any], fields: Iterable[str], *, chunk_size: int, start_after: int = 0
) -> Iterator[list[Row]]:
    """``queryset.values_list("pk", *fields)`` a chunk (list of rows, pk first) at a time, in primary-key
    order, by keyset pagination (each chunk one indexed query; memory bounded by the chunk)."""
    last = start_after
    names = ["pk", *fields]
    while True:
        chunk = list(queryset.filter(pk__gt=last).order_by("pk").values_list(*names)[:chunk_size])
        if not chunk:
            return
        last = chunk[-1][0]
        yield chunk
        if len(chunk) < chunk_size:
            return


# --- Declaring columns ---------------------------------------------------------------------------


def column(
    name: str, kind: pa.DataType, description: str, *, source: str = "", convert: Convert | None = None
) -> Column:
    return Column(name=name, type=kind, description=description, source=source, convert=convert)


def string(name: str, description: str, *, source: str = "", convert: Convert | None = None) -> Column:
    return column(name, pa.string(), description, source=source, convert=convert)


def money(name: str, description: str, *, source: str = "") -> Column:
    return column(name, pa.int64(), f"{description} (minor units of `currency`)", source=source)


def timestamp(name: str, description: str, *, source: str = "") -> Column:
    return column(name, TIMESTAMP, f"{description} (UTC)", source=source)


def consumer_key(description: str, *, source: str = "consumer__public_id") -> Column:
    """The consumer as its pseudonym (``psn_…``), never its id."""
    return string("consumer_key", description, source=source, convert=pseudonym)


def tenant(*, via: str = "") -> tuple[Column, ...]:
    """The merchant and mode a row belongs to; ``via``: the relation that carries them (``plan__``)."""
    return (
        string("merchant_id", "the merchant's public id (mer_…)", source=f"{via}merchant__public_id"),
        column("livemode", pa.bool_(), "true for live mode, false for test mode", source=f"{via}livemode"),
    )


AUDIT_TIMES = (
    timestamp("created_at", "when the row was created, by the project clock"),
    timestamp("updated_at", "when the row last changed, by the project clock"),
)


# --- Converting values ---------------------------------------------------------------------------


def integer(value: Any) -> int | None:
    return None if value is None else int(value)


def floating(value: Any) -> float | None:
    return None if value is None else float(value)


def boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


def is_present(value: Any) -> bool:
    return value is not None


def sorted_list(value: Any) -> list[Any]:
    return sorted(value or [])
