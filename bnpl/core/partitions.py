"""Monthly range partitions for the append-only tables whose old rows go by retention: the audit log
(by ``created_at``, kept ``AUDIT_LOG_RETENTION``) and webhook delivery attempts (by
``attempted_at``, kept ``WEBHOOK_DELIVERY_RETENTION``). PostgreSQL's declarative partitioning.

Why partitions and not row deletes: both tables refuse UPDATE and DELETE by trigger (they are the
record), and a month past retention goes with ``DETACH PARTITION`` then ``DROP TABLE``, which no
row trigger sees and which costs the same whatever the month held. Nothing references their rows,
so the composite primary key ``(id, <time column>)`` that partitioning requires costs nothing; the
ids still come from one sequence, so ``id`` stays unique and Django keeps using it as the key.

**Converting an existing table without a rewrite** (``table_partition``, run by the migrations
``core 0006`` and ``merchants 0010``): the table as it is becomes the first partition, ``_legacy``,
holding every row before a boundary a month or two ahead; new months are partitions of their own.
What would take time on a large table is done first, outside any transaction and without blocking
writes: a unique index ``(id, <time>)`` built ``CONCURRENTLY`` (the new primary key's partition
index) and a ``CHECK (<time> < boundary)`` added ``NOT VALID`` and then validated (``ATTACH``
takes it as proof and skips its scan). The swap is then one short transaction of catalogue
changes: rename, a partitioned parent with the same columns, identity and constraints, its indexes
under Django's names, ``ATTACH`` (matching indexes and foreign keys are adopted, not rebuilt), a
``DEFAULT`` partition, the trigger on the parent (cloned onto every partition). Old code keeps
working throughout: same table name, same columns.

**Keeping ahead** (``partitions_ensure``, hourly from the retention sweep): the current month and
``PARTITION_MONTHS_AHEAD`` more always exist. A row whose time has no partition (the sandbox clock
moved years ahead) lands in ``DEFAULT`` rather than failing; a month whose rows already sit there is
left to ``DEFAULT`` (PostgreSQL refuses to create it) and reported, never moved: moving would need a
DELETE the trigger refuses.

**Dropping** (``partitions_drop_before``): only a partition whose upper bound is at or before the
retention cutoff, so no row younger than the retention goes; ``DEFAULT`` never. pg_partman does the
same two jobs from its own background worker; here they are two statements run by the sweep that
already runs hourly, with no extension to install on every database (the tests' included).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.db.backends.utils import CursorWrapper

LEGACY = "legacy"
LOCK_NOT_AVAILABLE = "55P03"
DEFAULT = "default"
_BOUND = re.compile(r"FOR VALUES FROM \((?P<lower>[^)]*)\) TO \((?P<upper>[^)]*)\)")


@dataclasses.dataclass(frozen=True)
class Partition:
    name: str
    lower: dt.datetime | None  # None: MINVALUE
    upper: dt.datetime | None  # None: the DEFAULT partition
    is_default: bool = False


def month_start(moment: dt.datetime) -> dt.datetime:
    moment = moment.astimezone(dt.UTC)
    return dt.datetime(moment.year, moment.month, 1, tzinfo=dt.UTC)


def months_later(month: dt.datetime, count: int) -> dt.datetime:
    index = month.year * 12 + month.month - 1 + count
    return dt.datetime(index // 12, index % 12 + 1, 1, tzinfo=dt.UTC)


def partition_name(table: str, month: dt.datetime) -> str:
    return f"{table}_p{month:%Y_%m}"


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _bound(text: str) -> dt.datetime | None:
    text = text.strip()
    if text == "MINVALUE":
        return None
    return dt.datetime.fromisoformat(text.strip("'")).astimezone(dt.UTC)


def is_partitioned(cursor: CursorWrapper, table: str) -> bool:
    cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
    row = cursor.fetchone()
    return bool(row) and row[0] == "p"


def partitions(table: str) -> list[Partition]:
    """The partitions of ``table`` in bound order (``DEFAULT`` last); empty when not partitioned."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT child.relname, pg_get_expr(child.relpartbound, child.oid) "
            "FROM pg_inherits JOIN pg_class child ON child.oid = pg_inherits.inhrelid "
            "WHERE pg_inherits.inhparent = to_regclass(%s)",
            [table],
        )
        found = []
        for name, bound in cursor.fetchall():
            if bound == "DEFAULT":
                found.append(Partition(name=name, lower=None, upper=None, is_default=True))
                continue
            match = _BOUND.match(bound)
            if match is None:  # not a range partition of ours: leave it alone
                continue
            found.append(Partition(name=name, lower=_bound(match["lower"]), upper=_bound(match["upper"])))
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(found, key=lambda part: (part.is_default, part.upper or far))


def _default_holds(cursor: CursorWrapper, table: str, column: str, lower: dt.datetime, upper: dt.datetime) -> bool:
    default = _quote(f"{table}_{DEFAULT}")
    cursor.execute(
        f"SELECT EXISTS (SELECT 1 FROM {default} WHERE {_quote(column)} >= %s AND {_quote(column)} < %s)",  # noqa: S608  # nosec B608  # our own table and column
        [lower, upper],
    )
    return bool(cursor.fetchone()[0])


@dataclasses.dataclass
class Ensured:
    created: list[str] = dataclasses.field(default_factory=list)
    left_in_default: list[str] = dataclasses.field(default_factory=list)
    busy: list[str] = dataclasses.field(default_factory=list)  # the table's lock not had in time: next run


@contextmanager
def _brief_lock(name: str, busy: list[str]) -> Iterator[CursorWrapper]:
    """A transaction for one partition's DDL that gives up instead of queueing: creating or
    detaching a partition takes the parent's ACCESS EXCLUSIVE lock, which waits for every running
    read of the table, and every write arriving meanwhile would queue behind it. After
    ``PARTITION_LOCK_TIMEOUT_MS`` the change is left to the next hourly run and ``name`` noted."""
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('lock_timeout', %s, true)", [f"{settings.PARTITION_LOCK_TIMEOUT_MS}ms"])
            yield cursor
    except OperationalError as error:
        if getattr(error.__cause__, "pgcode", None) != LOCK_NOT_AVAILABLE:
            raise
        busy.append(name)


def partitions_ensure(table: str, column: str, *, now: dt.datetime, months_ahead: int) -> Ensured:
    """Make sure the partitions for the month of ``now`` and ``months_ahead`` more exist."""
    ensured = Ensured()
    existing = partitions(table)
    if not existing:
        return ensured
    first = month_start(now)
    for offset in range(months_ahead + 1):
        lower, upper = months_later(first, offset), months_later(first, offset + 1)
        if any(
            not part.is_default and (part.lower is None or part.lower < upper) and part.upper and part.upper > lower
            for part in existing
        ):
            continue  # covered (by its own month, or by the legacy partition)
        name = partition_name(table, lower)
        with _brief_lock(name, ensured.busy) as cursor:
            if _default_holds(cursor, table, column, lower, upper):
                ensured.left_in_default.append(name)
                continue
            cursor.execute(
                f"CREATE TABLE {_quote(name)} PARTITION OF {_quote(table)} FOR VALUES FROM (%s) TO (%s)",
                [lower, upper],
            )
            ensured.created.append(name)
    return ensured


@dataclasses.dataclass
class Dropped:
    rows: dict[str, int] = dataclasses.field(default_factory=dict)  # each partition dropped: the rows it held
    busy: list[str] = dataclasses.field(default_factory=list)


def partitions_drop_before(table: str, *, cutoff: dt.datetime) -> Dropped:
    """Detach and drop every partition of ``table`` whose rows are all older than ``cutoff`` (its
    upper bound at or before it). ``DETACH … CONCURRENTLY`` is not allowed beside a DEFAULT
    partition, so each goes in a short transaction that gives up rather than queue (``_brief_lock``)."""
    dropped = Dropped()
    for part in partitions(table):
        if part.is_default or part.upper is None or part.upper > cutoff:
            continue
        with _brief_lock(part.name, dropped.busy) as cursor:
            cursor.execute(f"ALTER TABLE {_quote(table)} DETACH PARTITION {_quote(part.name)}")
            cursor.execute(f"SELECT count(*) FROM {_quote(part.name)}")  # noqa: S608  # nosec B608  # a partition name we read from the catalogue
            rows = int(cursor.fetchone()[0])
            cursor.execute(f"DROP TABLE {_quote(part.name)}")
            dropped.rows[part.name] = rows
    return dropped


# --- Converting a plain table (the migrations) --------------------------------------------------


def _rows(cursor: CursorWrapper, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    cursor.execute(sql, list(params))
    return cursor.fetchall()


def table_partition(table: str, column: str, *, months_ahead: int = 3) -> None:
    """Turn the plain ``table`` into one partitioned by month on ``column`` (see the module's
    docstring). Safe to run again: a partitioned table is left as it is. Must run outside a
    transaction (the index is built concurrently); the swap is its own transaction."""
    with connection.cursor() as cursor:
        if is_partitioned(cursor, table):
            return
        cursor.execute(f"SELECT max({_quote(column)}) FROM {_quote(table)}")  # noqa: S608  # nosec B608  # our own table and column
        latest = cursor.fetchone()[0]
        cursor.execute("SELECT now()")
        now = cursor.fetchone()[0]
        boundary = months_later(month_start(max(filter(None, [latest, now]))), 2)
        legacy = f"{table}_{LEGACY}"
        key_index, bound_check = f"{legacy}_pkey", f"{legacy}_bound"
        # 1. What would take long on a large table, without blocking its writers.
        cursor.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {_quote(key_index)} "
            f"ON {_quote(table)} (id, {_quote(column)})"
        )
        found = _rows(
            cursor,
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
            table,
            bound_check,
        )
        if not found:
            cursor.execute(
                f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(bound_check)} "
                f"CHECK ({_quote(column)} < %s) NOT VALID",
                [boundary],
            )
        else:  # a run that stopped after adding it: keep its boundary
            boundary = _bound(re.search(r"'([^']*)'", found[0][0])[1])  # type: ignore[index, assignment]
        cursor.execute(f"ALTER TABLE {_quote(table)} VALIDATE CONSTRAINT {_quote(bound_check)}")
    # 2. The swap: catalogue changes only.
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {_quote(table)} IN ACCESS EXCLUSIVE MODE")
        primary = _rows(
            cursor, "SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'p'", table
        )
        indexes = _rows(
            cursor,
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            "WHERE indrelid = %s::regclass AND NOT indisprimary AND indexrelid <> to_regclass(%s)",
            table,
            key_index,
        )
        foreign_keys = _rows(
            cursor,
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f'",
            table,
        )
        triggers = _rows(
            cursor,
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
            table,
        )
        [(sequence,)] = _rows(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", table)
        [(last_value, is_called)] = _rows(cursor, f"SELECT last_value, is_called FROM {sequence}")  # noqa: S608  # nosec B608  # the catalogue's name for it

        cursor.execute(f"ALTER TABLE {_quote(table)} RENAME TO {_quote(legacy)}")
        for (name,) in primary:  # the key becomes (id, time), on the index built beforehand
            cursor.execute(f"ALTER TABLE {_quote(legacy)} DROP CONSTRAINT {_quote(name)}")
        key = _quote(key_index)
        cursor.execute(f"ALTER TABLE {_quote(legacy)} ADD CONSTRAINT {key} PRIMARY KEY USING INDEX {key}")
        for name, _ in triggers:
            cursor.execute(f"DROP TRIGGER {_quote(name)} ON {_quote(legacy)}")
        for number, (name, _) in enumerate(indexes):
            cursor.execute(f"ALTER INDEX {_quote(name)} RENAME TO {_quote(f'{legacy}_{number}')}")
        cursor.execute(
            f"CREATE TABLE {_quote(table)} (LIKE {_quote(legacy)} INCLUDING DEFAULTS INCLUDING IDENTITY "
            f"INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMPRESSION) PARTITION BY RANGE ({_quote(column)})"
        )
        cursor.execute(f"ALTER TABLE {_quote(table)} DROP CONSTRAINT IF EXISTS {_quote(bound_check)}")
        cursor.execute(f"ALTER TABLE {_quote(legacy)} ALTER COLUMN id DROP IDENTITY")  # drops the old sequence
        [(new_sequence,)] = _rows(cursor, "SELECT pg_get_serial_sequence(%s, 'id')", table)
        cursor.execute(f"ALTER SEQUENCE {new_sequence} RENAME TO {_quote(f'{table}_id_seq')}")
        cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)", [table, last_value, is_called])
        for (name,) in primary:
            cursor.execute(
                f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(name)} PRIMARY KEY (id, {_quote(column)})"
            )
        for _, definition in indexes:
            cursor.execute(definition)  # Django's names, on the new parent: ATTACH adopts the old ones
        for name, definition in foreign_keys:  # the partition keeps its validated copy, adopted too
            cursor.execute(f"ALTER TABLE {_quote(table)} ADD CONSTRAINT {_quote(name)} {definition}")
        cursor.execute(
            f"ALTER TABLE {_quote(table)} ATTACH PARTITION {_quote(legacy)} FOR VALUES FROM (MINVALUE) TO (%s)",
            [boundary],
        )
        cursor.execute(f"ALTER TABLE {_quote(legacy)} DROP CONSTRAINT {_quote(bound_check)}")
        cursor.execute(f"CREATE TABLE {_quote(f'{table}_{DEFAULT}')} PARTITION OF {_quote(table)} DEFAULT")
        for offset in range(months_ahead):
            lower = months_later(boundary, offset)
            cursor.execute(
                f"CREATE TABLE {_quote(partition_name(table, lower))} PARTITION OF {_quote(table)} "
                "FOR VALUES FROM (%s) TO (%s)",
                [lower, months_later(lower, 1)],
            )
        for _, definition in triggers:
            cursor.execute(definition)  # on the parent: cloned onto every partition, now and later
