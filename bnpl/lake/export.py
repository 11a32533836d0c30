"""Exporting to the lake: incremental batches of the append tables and hourly snapshots of the
others, each written as Parquet, uploaded, described by a manifest, then recorded as done.

The exactly-once argument (docs/data-lake.md has the long form):

1. **A batch is fixed before anything is written.** Its range (append tables: ids in
   ``(lower_key, upper_key]``; snapshots: the hour) is committed as a ``LakeBatch`` row first. A
   dead exporter's batch is redone with the same range, never re-planned.
2. **Same range, same rows, same bytes, same keys.** Append-table rows never change, and a range is
   only planned below the *settled horizon* (below), so the rows in it are final. Rows are read in
   id order and written with fixed writer options and no wall-clock metadata; object keys are derived
   from the range. A redo overwrites identical objects: no duplicate, no gap.
3. **No partial object is visible.** S3 PUTs are atomic; the local backend renames into place.
4. **The manifest is written last, the watermark moved after it.** Readers trust manifests: a batch
   whose manifest exists has all its files. The ``LakeBatch`` is completed and the watermark advanced
   in one transaction only after the manifest upload returned.

**The settled horizon.** Ids are handed out when a row is inserted but become visible when its
transaction commits, so a transaction that commits late can make a lower id appear after a higher
one was exported. The exporter therefore *observes* the newest visible id together with (on
PostgreSQL) a transaction id above every one handed out so far (the observing statement's own) and
only exports up to an observed id once every transaction of this database older than that
observation has ended (the backends' transaction ids in ``pg_stat_activity``) and the observation is
``LAKE_SETTLE_SECONDS`` old. On SQLite writers are serialized, so ids become visible in order and
the newest id is settled at once.

Snapshot tables are read in one consistent read (``REPEATABLE READ`` on PostgreSQL, one read
transaction on SQLite), one file per table. A redone snapshot re-reads the database, so its files hold
the state at the redo (the same bytes when nothing changed); if its manifest was already uploaded, it
is only marked done.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.storage import Storage
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Model, Q

from bnpl.core import clock
from bnpl.core.context import Actor
from bnpl.core.errors import StateError
from bnpl.core.replica import reading_alias, reporting_reads
from bnpl.core.services import audit_log_record
from bnpl.lake import tables
from bnpl.lake.models import LakeBatch, LakeWatermark
from bnpl.lake.storage import lake_storage, put
from bnpl.lake.tables import Scope, TableSpec
from bnpl.lake.tables.reading import record_batches

logger = logging.getLogger(__name__)

SNAPSHOTS = "snapshots"
MANIFEST_FORMAT = 1
ACTOR = Actor(kind="system", identifier="lake_export", label="Data lake export")
# Fixed writer options: the same rows always give the same bytes.
WRITER_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
}


class LeaseLostError(StateError):
    """Another exporter took the stream over (ours was presumed dead): stop without completing."""

    default_code = "lake_lease_lost"


@dataclass(frozen=True)
class ExportedFile:
    key: str
    table: str
    partition: dict[str, str]
    rows: int
    bytes: int
    sha256: str


@dataclass
class StreamReport:
    stream: str
    batches: list[str] = field(default_factory=list)
    rows: int = 0
    skipped: str = ""  # why nothing (more) was done, when something stopped it

    def __str__(self) -> str:
        done = f"{len(self.batches)} batch(es), {self.rows} row(s)"
        return f"{self.stream}: {done}" + (f" ({self.skipped})" if self.skipped else "")


# --- Keys ----------------------------------------------------------------------------------------


def append_key(*, table: str, day: str, batch: LakeBatch) -> str:
    return f"{table}/dt={day}/part-{batch.name}.parquet"


def snapshot_stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def snapshot_key(*, table: str, snapshot_at: dt.datetime) -> str:
    day = snapshot_at.astimezone(dt.UTC).date().isoformat()
    return f"{table}/dt={day}/snapshot={snapshot_stamp(snapshot_at)}/part-0.parquet"


def manifest_key(*, stream: str, name: str) -> str:
    return f"_manifests/{stream}/{name}.json"


# --- The lease: one exporter per stream ----------------------------------------------------------


def _watermark(stream: str) -> LakeWatermark:
    try:
        return LakeWatermark.objects.get_or_create(stream=stream)[0]
    except IntegrityError:  # made at the same moment by another exporter
        return LakeWatermark.objects.get(stream=stream)


def _claim(stream: str, *, take_over: bool) -> str | None:
    """Take the stream for this exporter; None when another one holds it. ``take_over`` takes it
    regardless (an operator who knows the holder is dead)."""
    _watermark(stream)
    token = secrets.token_hex(16)
    now = clock.now()
    claimable = LakeWatermark.objects.filter(stream=stream)
    if not take_over:
        claimable = claimable.filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
    claimed = claimable.update(
        lease_token=token, leased_until=now + dt.timedelta(seconds=settings.LAKE_LEASE_SECONDS), updated_at=now
    )
    return token if claimed else None


def _renew(stream: str, token: str) -> None:
    now = clock.now()
    renewed = LakeWatermark.objects.filter(stream=stream, lease_token=token).update(
        leased_until=now + dt.timedelta(seconds=settings.LAKE_LEASE_SECONDS)
    )
    if not renewed:
        raise LeaseLostError(f"Another exporter took over the {stream} stream.")


def _release(stream: str, token: str) -> None:
    LakeWatermark.objects.filter(stream=stream, lease_token=token).update(lease_token="", leased_until=None)


# --- The settled horizon -------------------------------------------------------------------------


def _observe(model: type[Model]) -> tuple[int, int | None]:
    """The newest visible id and, on PostgreSQL, a transaction id above every one handed out before
    it, read in one statement.

    That id is the statement's own (``pg_current_xact_id()`` takes one; outside a transaction, as
    the exporter and the relay run, it ends with the statement). A snapshot's xmax would not do: it
    is one past the newest *ended* transaction, so a writer that took its id after another's and
    holds an older row while that other commits a newer one is neither below it nor in its list of
    running transactions. Inside a caller's transaction the id is that transaction's, taken at its
    first write."""
    table = connection.ops.quote_name(model._meta.db_table)
    newest = "COALESCE(MAX(id), 0)"
    horizon = "pg_current_xact_id()::text::bigint"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT {newest}, {horizon} FROM {table}")  # noqa: S608  # nosec B608  # our own table name
            position, transaction_id = cursor.fetchone()
            return int(position), int(transaction_id)
        cursor.execute(f"SELECT {newest} FROM {table}")  # noqa: S608  # nosec B608  # our own table name
        return int(cursor.fetchone()[0]), None


# Every running transaction of this database, other than the caller's, whose id is below the given
# one. pg_stat_activity lists each backend's transaction id (32 bits, without the epoch); it is widened
# to the 64-bit id around the current snapshot's xmax, within 2**31 of which PostgreSQL keeps every
# running transaction. (A snapshot's own list of running transactions would not do: it holds only
# those below its xmax, which is one past the newest *ended* transaction.)
_OLDER_TRANSACTION_RUNNING = """
SELECT EXISTS (
    SELECT 1
    FROM pg_stat_activity AS backend,
        (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS xmax) AS now
    WHERE backend.datname = current_database()
        AND COALESCE(backend.leader_pid, backend.pid) <> pg_backend_pid()
        AND backend.backend_xid IS NOT NULL
        AND now.xmax + ((backend.backend_xid::text::bigint - now.xmax %% 4294967296 + 6442450944)
            %% 4294967296 - 2147483648) < %s
)"""


def _transactions_ended(before: int | None) -> bool:
    """Whether every transaction of this database with an id below ``before`` has committed or
    rolled back (the caller's own excepted). Transaction ids are cluster-wide; those working in
    other databases, which cannot write our tables, are not waited for. Always true on SQLite (no
    observation needs it)."""
    if before is None or connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        # PostgreSQL keeps pg_stat_activity as it was at its first read in a transaction: inside one
        # (a caller's atomic block, a second call) a backend that began since would be missed.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(_OLDER_TRANSACTION_RUNNING, [int(before)])
        return not cursor.fetchone()[0]


def _store_observation(stream: str, observation: tuple[int, int | None] | None) -> None:
    position, transaction_id = observation if observation else (None, None)
    LakeWatermark.objects.filter(stream=stream).update(
        observed_position=position,
        observed_transaction=transaction_id,
        observed_at=clock.now() if observation else None,
    )


def settled_horizon(*, stream: str, model: type[Model]) -> int | None:
    """The highest id below which no row can still appear, or None while an older transaction is
    still open. Uses the observation stored by the previous run (waiting out what is left of
    ``LAKE_SETTLE_SECONDS``), then stores a fresh one for the next run."""
    watermark = _watermark(stream)
    if watermark.observed_position is None:
        _store_observation(stream, _observe(model))
        watermark.refresh_from_db()
    assert watermark.observed_at is not None and watermark.observed_position is not None
    remaining = settings.LAKE_SETTLE_SECONDS - (clock.now() - watermark.observed_at).total_seconds()
    if remaining > 0:
        time.sleep(min(remaining, settings.LAKE_SETTLE_SECONDS))
    if not _transactions_ended(watermark.observed_transaction):
        return None
    horizon = watermark.observed_position
    fresh = _observe(model)
    if settings.LAKE_SETTLE_SECONDS <= 0 and _transactions_ended(fresh[1]):
        _store_observation(stream, None)
        return max(horizon, fresh[0])
    _store_observation(stream, fresh)
    return horizon


# --- Writing Parquet -----------------------------------------------------------------------------


class PartitionedWriter:
    """Record batches of one table into one Parquet file per partition, a row group at a time. At
    most ``row_group_rows`` rows are buffered across all partitions (when full, every buffer is
    flushed), so memory is bounded by one row group whatever the table's size or its number of
    days. Row groups end after the same rows whatever the batches' sizes (the same rows give the
    same bytes)."""

    def __init__(self, *, spec: TableSpec, directory: str, row_group_rows: int) -> None:
        self.spec = spec
        self.schema = spec.schema
        self.directory = directory
        self.row_group_rows = row_group_rows
        self.buffers: dict[str, list[pa.RecordBatch]] = {}
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.paths: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self.buffered = 0

    def open(self, partition: str) -> None:
        if partition not in self.writers:
            path = os.path.join(self.directory, f"{self.spec.name}-{partition}.parquet")
            self.writers[partition] = pq.ParquetWriter(path, self.schema, **WRITER_OPTIONS)
            self.paths[partition] = path
            self.buffers[partition] = []
            self.counts[partition] = 0

    def add(self, batch: pa.RecordBatch, *, partition: str | None = None) -> None:
        """The batch's rows, in order, into ``partition`` or, when None, each into the UTC day of the
        table's partition column."""
        while batch.num_rows:
            taken = batch.slice(0, self.row_group_rows - self.buffered)
            batch = batch.slice(taken.num_rows)
            for day, rows in [(partition, taken)] if partition is not None else self._days(taken):
                self.open(day)
                self.buffers[day].append(rows)
            self.buffered += taken.num_rows
            if self.buffered >= self.row_group_rows:
                for name in self.buffers:
                    self._flush(name)
                self.buffered = 0

    def _days(self, batch: pa.RecordBatch) -> list[tuple[str, pa.RecordBatch]]:
        days = batch.column(self.spec.partition_index).cast(pa.date32())  # a UTC timestamp's UTC date
        distinct = days.unique()
        if len(distinct) == 1:
            return [(distinct[0].as_py().isoformat(), batch)]
        return [(day.as_py().isoformat(), batch.filter(pc.equal(days, day))) for day in distinct]

    def _flush(self, partition: str) -> None:
        batches = self.buffers[partition]
        if not batches:
            return
        table = pa.Table.from_batches(batches, schema=self.schema).combine_chunks()
        self.writers[partition].write_table(table)
        self.counts[partition] += table.num_rows
        self.buffers[partition] = []

    def close(self) -> dict[str, tuple[str, int]]:
        """partition -> (path, rows)."""
        written = {}
        for partition, writer in sorted(self.writers.items()):
            self._flush(partition)
            writer.close()
            written[partition] = (self.paths[partition], self.counts[partition])
        return written


def _digest(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _upload(*, storage: Storage, key: str, path: str, table: str, partition: dict[str, str], rows: int) -> ExportedFile:
    sha256, size = _digest(path)
    with open(path, "rb") as source:
        put(storage=storage, key=key, source=source)
    return ExportedFile(key=key, table=table, partition=partition, rows=rows, bytes=size, sha256=sha256)


def _manifest(batch: LakeBatch, kind: str, files: list[ExportedFile]) -> bytes:
    """Deterministic for the same batch and files: no wall-clock time (the batch's planned time is
    fixed in the database)."""
    row_counts: dict[str, int] = {}
    for exported in files:
        row_counts[exported.table] = row_counts.get(exported.table, 0) + exported.rows
    document = {
        "format": MANIFEST_FORMAT,
        "stream": batch.stream,
        "batch": batch.name,
        "kind": kind,
        "range": None
        if batch.snapshot_at
        else {"lower_exclusive": batch.lower_key, "upper_inclusive": batch.upper_key},
        "snapshot_at": batch.snapshot_at.isoformat() if batch.snapshot_at else None,
        "planned_at": batch.created_at.isoformat(),
        "row_count": sum(row_counts.values()),
        "tables": dict(sorted(row_counts.items())),
        "files": [asdict(exported) for exported in files],
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


# --- Completing a batch --------------------------------------------------------------------------


def _complete(*, batch: LakeBatch, token: str, rows: int, files: int, key: str) -> None:
    now = clock.now()
    with transaction.atomic():
        watermark = LakeWatermark.objects.select_for_update().get(stream=batch.stream)
        if watermark.lease_token != token:
            raise LeaseLostError(f"Another exporter took over the {batch.stream} stream.")
        before = {"status": batch.status, "position": watermark.position}
        LakeBatch.objects.filter(pk=batch.pk, status=LakeBatch.Status.STARTED).update(
            status=LakeBatch.Status.COMPLETED,
            row_count=rows,
            file_count=files,
            manifest_key=key,
            completed_at=now,
            updated_at=now,
        )
        if batch.snapshot_at is not None:
            if watermark.last_snapshot_at is None or watermark.last_snapshot_at < batch.snapshot_at:
                watermark.last_snapshot_at = batch.snapshot_at
        else:
            watermark.position = max(watermark.position, batch.upper_key)
        watermark.leased_until = now + dt.timedelta(seconds=settings.LAKE_LEASE_SECONDS)
        watermark.updated_at = now
        watermark.save(update_fields=["position", "last_snapshot_at", "leased_until", "updated_at"])
        audit_log_record(
            action="lake.batch_exported",
            instance=batch,
            before=before,
            after={"status": LakeBatch.Status.COMPLETED, "position": watermark.position, "rows": rows, "manifest": key},
            actor=ACTOR,
        )


def _manifest_rows(storage: Storage, key: str) -> tuple[int, int] | None:
    """(rows, files) of an already uploaded manifest, or None when there is none."""
    if not storage.exists(key):
        return None
    with storage.open(key, "rb") as source:
        document = json.loads(source.read())
    return int(document["row_count"]), len(document["files"])


# --- Append tables -------------------------------------------------------------------------------


def _plan_append_batch(
    *, spec: TableSpec, position: int, horizon: int, batch_rows: int, token: str
) -> LakeBatch | None:
    """The next batch after ``position``: the next ``batch_rows`` rows, or up to the horizon. A
    stretch with no row at all (ids of rolled-back transactions) just moves the watermark."""
    model = tables.append_model(spec)
    upper = _batch_upper(model, position=position, horizon=horizon, batch_rows=batch_rows)
    if not model._default_manager.filter(pk__gt=position, pk__lte=upper).exists():
        with transaction.atomic():
            watermark = LakeWatermark.objects.select_for_update().get(stream=spec.stream)
            if watermark.lease_token != token:
                raise LeaseLostError(f"Another exporter took over the {spec.stream} stream.")
            watermark.position = max(watermark.position, upper)
            watermark.save(update_fields=["position"])
        return None
    with transaction.atomic():
        return LakeBatch.objects.create(
            stream=spec.stream, name=f"{position + 1:020d}-{upper:020d}", lower_key=position, upper_key=upper
        )


def _batch_upper(model: type[Model], *, position: int, horizon: int, batch_rows: int) -> int:
    """The id of the ``batch_rows``-th row after ``position``, or ``horizon`` when fewer are left.
    Ids are mostly dense, so the window of exactly ``batch_rows`` ids is counted first: that query
    reads no row beyond the batch whatever plan the planner picks (a table without statistics, just
    bulk-loaded, otherwise has every row up to the horizon read and sorted). Only when ids are
    missing from the window is the row found by an offset."""
    rows = model._default_manager.filter(pk__gt=position)
    if horizon - position <= batch_rows:
        return horizon
    if rows.filter(pk__lte=position + batch_rows).count() == batch_rows:
        return position + batch_rows
    in_range = rows.filter(pk__lte=horizon).order_by("pk")
    last_of_full_batch = list(in_range.values_list("pk", flat=True)[batch_rows - 1 : batch_rows])
    return int(last_of_full_batch[0]) if last_of_full_batch else horizon


def _run_append_batch(*, spec: TableSpec, batch: LakeBatch, token: str, storage: Storage) -> int:
    key = manifest_key(stream=spec.stream, name=batch.name)
    uploaded = _manifest_rows(storage, key)
    if uploaded is not None:  # the exporter died after the manifest: the batch is whole
        _complete(batch=batch, token=token, rows=uploaded[0], files=uploaded[1], key=key)
        return uploaded[0]
    scope = Scope(chunk_size=settings.LAKE_FETCH_ROWS, lower_key=batch.lower_key, upper_key=batch.upper_key)
    with tempfile.TemporaryDirectory(prefix="bnpl-lake-") as directory:
        writer = PartitionedWriter(spec=spec, directory=directory, row_group_rows=settings.LAKE_ROW_GROUP_ROWS)
        for rows in record_batches(spec, scope):
            writer.add(rows)
        files = [
            _upload(
                storage=storage,
                key=append_key(table=spec.name, day=day, batch=batch),
                path=path,
                table=spec.name,
                partition={"dt": day},
                rows=rows,
            )
            for day, (path, rows) in writer.close().items()
        ]
    _renew(spec.stream, token)
    put(storage=storage, key=key, source=io.BytesIO(_manifest(batch, tables.APPEND, files)))
    rows = sum(exported.rows for exported in files)
    _complete(batch=batch, token=token, rows=rows, files=len(files), key=key)
    return rows


def lake_export_append(
    *, spec: TableSpec, take_over: bool = False, batch_rows: int | None = None, max_batches: int | None = None
) -> StreamReport:
    """Export an append table up to its settled horizon, batch by batch (a batch a dead exporter
    left is finished first)."""
    report = StreamReport(stream=spec.stream)
    token = _claim(spec.stream, take_over=take_over)
    if token is None:
        report.skipped = "another exporter holds the stream"
        return report
    try:
        storage = lake_storage()
        batch_rows = batch_rows or settings.LAKE_BATCH_ROWS
        unfinished = LakeBatch.objects.filter(stream=spec.stream, status=LakeBatch.Status.STARTED).first()
        if unfinished is not None:
            report.rows += _run_append_batch(spec=spec, batch=unfinished, token=token, storage=storage)
            report.batches.append(unfinished.name)
        horizon = settled_horizon(stream=spec.stream, model=tables.append_model(spec))
        if horizon is None:
            report.skipped = "waiting for older transactions to end"
            return report
        while max_batches is None or len(report.batches) < max_batches:
            position = LakeWatermark.objects.get(stream=spec.stream).position
            if position >= horizon:
                break
            batch = _plan_append_batch(
                spec=spec, position=position, horizon=horizon, batch_rows=batch_rows, token=token
            )
            if batch is not None:
                report.rows += _run_append_batch(spec=spec, batch=batch, token=token, storage=storage)
                report.batches.append(batch.name)
        return report
    finally:
        _release(spec.stream, token)


# --- Snapshots -----------------------------------------------------------------------------------


@contextmanager
def consistent_read() -> Iterator[None]:
    """One snapshot of the database for every table read inside: REPEATABLE READ, read only, on
    PostgreSQL; one read transaction on SQLite (WAL keeps its snapshot until it ends). Inside a
    caller's transaction the caller's snapshot rules apply. On the server reads go to here: the
    read replica inside ``reporting_reads()`` when it serves them (a hot standby runs REPEATABLE
    READ read-only transactions)."""
    alias = reading_alias()
    reading = connections[alias]
    if reading.in_atomic_block:
        yield
        return
    with transaction.atomic(using=alias):
        if reading.vendor == "postgresql":
            with reading.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def _run_snapshot(*, batch: LakeBatch, token: str, storage: Storage) -> int:
    assert batch.snapshot_at is not None
    snapshot_at = batch.snapshot_at
    key = manifest_key(stream=SNAPSHOTS, name=batch.name)
    uploaded = _manifest_rows(storage, key)
    if uploaded is not None:
        _complete(batch=batch, token=token, rows=uploaded[0], files=uploaded[1], key=key)
        return uploaded[0]
    scope = Scope(chunk_size=settings.LAKE_FETCH_ROWS, as_of=snapshot_at)
    day = snapshot_at.astimezone(dt.UTC).date().isoformat()
    partition = {"dt": day, "snapshot": snapshot_stamp(snapshot_at)}
    with tempfile.TemporaryDirectory(prefix="bnpl-lake-") as directory:
        written: list[tuple[TableSpec, str, int]] = []
        # The hour's state of every snapshot table, from the read replica when it serves (its own
        # claim and batch rows are not what it reads).
        with reporting_reads(reads_own_writes=False), consistent_read():
            for spec in tables.SNAPSHOT_TABLES:
                writer = PartitionedWriter(spec=spec, directory=directory, row_group_rows=settings.LAKE_ROW_GROUP_ROWS)
                writer.open(day)
                for rows in record_batches(spec, scope):
                    writer.add(rows, partition=day)
                path, rows = writer.close()[day]
                written.append((spec, path, rows))
        files = []
        for spec, path, rows in written:
            files.append(
                _upload(
                    storage=storage,
                    key=snapshot_key(table=spec.name, snapshot_at=snapshot_at),
                    path=path,
                    table=spec.name,
                    partition=partition,
                    rows=rows,
                )
            )
            _renew(SNAPSHOTS, token)
    put(storage=storage, key=key, source=io.BytesIO(_manifest(batch, tables.SNAPSHOT, files)))
    rows = sum(exported.rows for exported in files)
    _complete(batch=batch, token=token, rows=rows, files=len(files), key=key)
    return rows


def lake_export_snapshot(*, take_over: bool = False, at: dt.datetime | None = None) -> StreamReport:
    """The hour's full snapshot of every snapshot table, once per hour (a snapshot a dead exporter
    left is finished first, under its own hour)."""
    report = StreamReport(stream=SNAPSHOTS)
    token = _claim(SNAPSHOTS, take_over=take_over)
    if token is None:
        report.skipped = "another exporter holds the stream"
        return report
    try:
        storage = lake_storage()
        batch = LakeBatch.objects.filter(stream=SNAPSHOTS, status=LakeBatch.Status.STARTED).first()
        if batch is None:
            hour = (at or clock.now()).astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
            last = LakeWatermark.objects.get(stream=SNAPSHOTS).last_snapshot_at
            if last is not None and last >= hour:
                report.skipped = f"the snapshot of {snapshot_stamp(hour)} is done"
                return report
            with transaction.atomic():
                batch = LakeBatch.objects.create(stream=SNAPSHOTS, name=snapshot_stamp(hour), snapshot_at=hour)
        report.rows += _run_snapshot(batch=batch, token=token, storage=storage)
        report.batches.append(batch.name)
        return report
    finally:
        _release(SNAPSHOTS, token)


STREAMS = ("events", "ledger_postings", SNAPSHOTS)


def lake_export(
    *,
    streams: tuple[str, ...] = STREAMS,
    take_over: bool = False,
    batch_rows: int | None = None,
    max_batches: int | None = None,
) -> list[StreamReport]:
    """Every named stream in turn: the work of ``manage.py lake_export`` and the beat tasks."""
    reports = []
    for stream in streams:
        if stream == SNAPSHOTS:
            reports.append(lake_export_snapshot(take_over=take_over))
        else:
            reports.append(
                lake_export_append(
                    spec=tables.BY_NAME[stream], take_over=take_over, batch_rows=batch_rows, max_batches=max_batches
                )
            )
        logger.info("lake export %s", reports[-1])
    return reports
