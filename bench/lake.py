"""Data-lake export throughput and memory, against a bare pyarrow write of the same rows as the ceiling.

BENCH_LAKE_ROWS events (default 1,000,000) are bulk-inserted into a fresh test database; then, each
in a fresh child process (so its peak RSS is its own):
* the ceiling: the same rows generated in memory and written with the same ParquetWriter options,
  a row group at a time, no database and no upload;
* the export of the first tenth of the rows as one batch, and of all of them as one batch
  (``lake_export_append``: the read -- COPY into Arrow columns on PostgreSQL, keyset pages on
  SQLite --, payload scrubbing, Parquet, upload to the local lake folder, manifest, watermark):
  rows per second and peak RSS. Memory must not grow with the rows.

Run: python bench/lake.py (also the last part of ``make bench``); BENCH_LAKE_ROWS=100000 for a quick one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.test")

ROWS = int(os.environ.get("BENCH_LAKE_ROWS", "1000000"))
INSERT_BATCH = 20_000
DAYS = 4  # the rows spread over this many days: one file per day per batch


def _payload(index: int) -> dict[str, object]:
    """A typical event payload: an order after a capture."""
    return {
        "id": f"ord_{index:024d}",
        "object": "order",
        "status": "captured",
        "currency": "USD",
        "authorized_amount": 10_000 + index % 9_000,
        "captured_amount": 10_000 + index % 9_000,
        "refunded_amount": 0,
        "customer_email": f"shopper{index}@example.com",  # scrubbed on export
        "created_at": "2026-11-28T10:00:00+00:00",
    }


def _insert(rows: int) -> None:
    """Straight SQL in big batches (executemany on SQLite, execute_values on PostgreSQL): the bench
    measures the export, not the ORM's inserts."""
    from django.db import connection

    from bench.common import rows_insert_sql
    from bnpl.core.models import Event

    start = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    step = dt.timedelta(days=DAYS) / rows
    table = Event._meta.db_table
    names = "created_at, updated_at, public_id, type, livemode, object_type, object_id, data, request_id"
    adapt = connection.ops.adapt_datetimefield_value
    for first in range(0, rows, INSERT_BATCH):
        values = []
        for index in range(first, min(rows, first + INSERT_BATCH)):
            moment = adapt(start + step * index)
            values.append(
                (
                    moment,
                    moment,
                    f"evt_bench{index:020d}",
                    "order.captured",
                    False,
                    "checkout.order",
                    f"ord_{index:024d}",
                    json.dumps(_payload(index)),
                    "bench",
                )
            )
        rows_insert_sql(table, names, values)


def _current_rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def child_bare(rows: int) -> dict[str, float]:
    """The ceiling: the same columns, generated in memory, written with the export's writer options."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from bnpl.lake.export import WRITER_OPTIONS
    from bnpl.lake.tables import EVENTS

    start = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    step = dt.timedelta(days=DAYS) / rows
    group = 50_000  # LAKE_ROW_GROUP_ROWS
    before = _current_rss_mb()
    with tempfile.TemporaryDirectory() as directory:
        began = time.perf_counter()
        writer = pq.ParquetWriter(os.path.join(directory, "bare.parquet"), EVENTS.schema, **WRITER_OPTIONS)
        for first in range(0, rows, group):
            indexes = range(first, min(rows, first + group))
            columns = [
                list(indexes),
                [f"evt_{index:024d}" for index in indexes],
                ["order.captured"] * len(indexes),
                [None] * len(indexes),
                [False] * len(indexes),
                ["checkout.order"] * len(indexes),
                [f"ord_{index:024d}" for index in indexes],
                ["bench"] * len(indexes),
                [json.dumps(_payload(index), sort_keys=True) for index in indexes],
                [start + step * index for index in indexes],
            ]
            arrays = [
                pa.array(values, type=column.type) for values, column in zip(columns, EVENTS.columns, strict=True)
            ]
            writer.write_table(pa.Table.from_arrays(arrays, schema=EVENTS.schema))
        writer.close()
        seconds = time.perf_counter() - began
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "start_rss_mb": before}


def child_export(rows: int) -> dict[str, float]:
    """One batch of ``rows`` events, exported to a fresh local lake folder."""
    from django.conf import settings

    from bnpl.lake.export import lake_export_append
    from bnpl.lake.models import LakeBatch, LakeWatermark
    from bnpl.lake.tables import EVENTS

    LakeBatch.objects.all().delete()
    LakeWatermark.objects.all().delete()
    before = _current_rss_mb()
    with tempfile.TemporaryDirectory() as directory:
        settings.STORAGES = {
            **settings.STORAGES,
            "lake": {"BACKEND": "bnpl.lake.storage.LakeFileSystemStorage", "OPTIONS": {"location": directory}},
        }
        began = time.perf_counter()
        report = lake_export_append(spec=EVENTS, batch_rows=rows, max_batches=1)
        seconds = time.perf_counter() - began
    assert report.rows == rows, report
    return {"rows": rows, "seconds": seconds, "peak_rss_mb": _peak_rss_mb(), "start_rss_mb": before}


def _in_child(mode: str, rows: int, database_url: str) -> dict[str, float]:
    environment = {**os.environ, "DATABASE_URL": database_url, "LAKE_SETTLE_SECONDS": "0"}
    result = subprocess.run(
        [sys.executable, __file__, mode, str(rows)], env=environment, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout.strip().splitlines()[-1])


def _database_url() -> str:
    from django.db import connection

    database = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return f"sqlite:///{database['NAME']}"


def bench_lake() -> None:
    """Called with the bench database set up (by bench/run.py, or by main() here)."""
    from django.db import connection

    began = time.perf_counter()
    _insert(ROWS)
    inserted = time.perf_counter() - began
    url = _database_url()
    tenth = max(1, ROWS // 10)  # 100,000 and 1,000,000 by default: the "flat from 100k to 1M"
    bare = _in_child("--bare", ROWS, url)
    small = _in_child("--export", tenth, url)
    full = _in_child("--export", ROWS, url)
    ceiling = bare["rows"] / bare["seconds"]
    print(f"\nlake export on {connection.vendor}: {ROWS:,} events (inserted in {inserted:.1f} s); one batch each;")
    print("rows per second, ratio to the ceiling; peak RSS of the process, and its growth over the start")
    rows = (
        (f"ceiling: bare pyarrow write, {ROWS:,} rows", bare),
        (f"lake_export_append, {tenth:,} rows", small),
        (f"lake_export_append, {ROWS:,} rows", full),
    )
    for label, figures in rows:
        rate = figures["rows"] / figures["seconds"]
        grown = figures["peak_rss_mb"] - figures["start_rss_mb"]
        print(
            f"{label:45s} {rate:9,.0f} /s  {rate / ceiling:5.2f}x   peak {figures['peak_rss_mb']:5.0f} MB"
            f" (+{grown:4.0f} MB)  {figures['seconds']:6.1f} s"
        )
    print(
        f"{'export memory growth at 10x the rows':45s} {(full['peak_rss_mb'] - full['start_rss_mb']):5.0f} MB vs "
        f"{(small['peak_rss_mb'] - small['start_rss_mb']):.0f} MB (flat: a row group at a time)"
    )


def main() -> None:
    import django

    if len(sys.argv) == 3 and sys.argv[1] in ("--bare", "--export"):
        django.setup()
        rows = int(sys.argv[2])
        figures = child_bare(rows) if sys.argv[1] == "--bare" else child_export(rows)
        print(json.dumps(figures))
        return
    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        bench_lake()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
