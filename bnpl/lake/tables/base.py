"""How a lake table is declared: its columns, each once, with its name, Arrow type, description and
source, in column order; ``bnpl.lake.tables.reading`` reads a table's rows from its model in
primary-key order, a chunk at a time, into Arrow record batches of its schema (memory bounded by
the chunk).

A column's ``source`` is a field path of the table's model as ``values_list`` takes it
(``merchant__public_id``; ``pk``), and its optional ``convert`` turns that field's value into the
column's (``pseudonym``); a JSON field read with ``json_text`` hands ``convert`` the document as its
text, unparsed (the event payload's scrubbing parses it itself). A source with a dot
(``outcome.bad``) is not a field: it is a value the table's ``Join`` adds to each record, from
other tables, a chunk of records at a time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from django.apps import apps
from django.db.models import Model

from bnpl.lake.pseudonym import pseudonym

APPEND = "append"
SNAPSHOT = "snapshot"
TIMESTAMP = pa.timestamp("us", tz="UTC")
JOINED = "."  # in a source: a value the table's join adds, not a field of its model

Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    source: str = ""  # the model field it reads (values_list path; "" = the field named like the column)
    convert: Convert | None = None  # the field's value -> the column's value (None: as read)
    json_text: bool = False  # a JSON field read as its text: ``convert`` takes a str (or None)

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


# --- Declaring columns ---------------------------------------------------------------------------


def column(
    name: str,
    kind: pa.DataType,
    description: str,
    *,
    source: str = "",
    convert: Convert | None = None,
    json_text: bool = False,
) -> Column:
    return Column(name=name, type=kind, description=description, source=source, convert=convert, json_text=json_text)


def string(
    name: str, description: str, *, source: str = "", convert: Convert | None = None, json_text: bool = False
) -> Column:
    return column(name, pa.string(), description, source=source, convert=convert, json_text=json_text)


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
