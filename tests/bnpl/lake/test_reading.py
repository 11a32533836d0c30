"""Reading tables into Arrow: the rows Django reads, converted as declared, exactly; on PostgreSQL the
COPY read and the keyset read give the same batches for every table; and the writer cuts row groups
after the same rows whatever the batches' sizes, so the same rows give the same bytes."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db import connection

from bnpl.core.models import Event
from bnpl.lake import tables
from bnpl.lake.export import PartitionedWriter
from bnpl.lake.pseudonym import pseudonymize_text
from bnpl.lake.tables import EVENTS, Scope, TableSpec
from bnpl.lake.tables.events import scrubbed_json
from bnpl.lake.tables.reading import (
    _copied_batches,
    _copies,
    _in_key_order,
    _keyset_batches,
    copy_wires,
    record_batches,
)
from tests.bnpl.lake.history import make_history
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

AWKWARD_PAYLOADS: list[Any] = [
    {
        "id": "ord_1",
        "customer_email": "shopper@example.com",
        "email_verified": True,
        "note": None,
        "amount": 12_345,
        "ratio": 0.1,
        "huge": 2**70,
        "tiny": 1e-7,
        "big": 1e16,
        "items": ["call +1 555 123 4567", ["x@y.example", 3], {"name": "Ann", "seen": "2026-11-28T10:00:00+00:00"}],
        "message": 'a "quoted", comma\nnewline \\ backslash, ünïcødé ✓, consumer con_Abc123',
    },
    {},
    [],
    "a bare string with a@b.example",
    ["list", {"legal_name": "Ann", "ok": False}],
    42,
]


def _events(tenant: Tenant) -> list[Event]:
    """Events with awkward values: quotes, commas, newlines, empty strings, no merchant, non-ASCII,
    times before 1970 and with microseconds, and a gap of ids wider than a chunk."""
    made = []
    for index, payload in enumerate(AWKWARD_PAYLOADS):
        made.append(
            Event.objects.create(
                type="order.captured" if index % 2 else "ünïcødé.type",
                merchant=tenant.merchant if index % 3 else None,
                livemode=bool(index % 2),
                object_type="checkout.order",
                object_id=f'ord_{index}, "quoted"\nline con_Xyz{index}' if index % 2 else f"con_Abc{index}",
                data=payload,
                request_id="" if index % 2 else f"req_{index}",
            )
        )
    gap = [Event.objects.create(type="gap", object_type="x", object_id="x", data={}) for _ in range(5)]
    Event.objects.filter(pk__in=[event.pk for event in gap[:4]]).delete()
    times = [
        dt.datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 28, 23, 59, 59, 123_456, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 29, 0, 0, tzinfo=dt.UTC),
    ]
    for index, event in enumerate([*made, gap[4]]):
        Event.objects.filter(pk=event.pk).update(created_at=times[index % len(times)])
    return [*made, gap[4]]


def _read(spec: TableSpec, scope: Scope, reader: Any = record_batches) -> pa.Table:
    return pa.Table.from_batches(list(reader(spec, scope)), schema=spec.schema)


def test_events_are_read_as_django_reads_them_then_converted_as_declared(tenant: Tenant) -> None:
    made = _events(tenant)
    newest = max(event.pk for event in made)

    read = _read(EVENTS, Scope(chunk_size=2, lower_key=0, upper_key=newest))

    expected = []
    for event in Event.objects.select_related("merchant").order_by("pk"):
        expected.append(
            {
                "event_sequence": event.pk,
                "event_id": event.public_id,
                "type": event.type,
                "merchant_id": event.merchant.public_id if event.merchant else None,
                "livemode": event.livemode,
                "object_type": event.object_type,
                "object_id": pseudonymize_text(event.object_id),
                "request_id": event.request_id,
                "data": scrubbed_json(json.dumps(event.data)),
                "created_at": event.created_at,
            }
        )
    assert read.to_pylist() == expected
    first, second = (row for row in expected if row["event_sequence"] in (made[0].pk, made[1].pk))
    assert (first["request_id"], second["request_id"]) == ("req_0", "")  # an empty string stays one
    assert first["merchant_id"] is None and first["created_at"] == dt.datetime(
        1969, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC
    )


def test_a_range_reads_only_its_ids(tenant: Tenant) -> None:
    made = _events(tenant)

    read = _read(EVENTS, Scope(chunk_size=3, lower_key=made[1].pk, upper_key=made[4].pk))

    assert read.column("event_sequence").to_pylist() == [event.pk for event in made[2:5]]


@pytest.mark.postgres
def test_on_postgresql_the_events_and_ledger_come_by_copy_and_the_loan_tape_by_pages() -> None:
    assert _copies()
    assert copy_wires(tables.EVENTS) is not None and copy_wires(tables.BY_NAME["ledger_postings"]) is not None
    assert copy_wires(tables.BY_NAME["loan_tape"]) is None  # a join adds its outcomes


@pytest.mark.postgres
def test_copy_and_keyset_reads_give_the_same_batches_for_every_table(tenant: Tenant) -> None:
    make_history(merchant=tenant.merchant, good=2, bad=1, with_balance=True)
    _events(tenant)
    newest = {
        spec.name: spec.model_class()._default_manager.order_by("-pk").values_list("pk", flat=True)[0]
        for spec in tables.APPEND_TABLES
    }
    as_of = dt.datetime(2027, 6, 1, tzinfo=dt.UTC)

    for spec in tables.TABLES:
        if copy_wires(spec) is None:
            continue
        scope = Scope(chunk_size=4, lower_key=0, upper_key=newest.get(spec.name, 0), as_of=as_of)
        copied = _read(spec, scope, _copied_batches)
        paged = _read(spec, scope, _keyset_batches)
        assert copied.num_rows == spec.model_class()._default_manager.count(), spec.name
        assert copied.equals(paged, check_metadata=True), spec.name


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_each_next_chunk_is_copied_ahead_on_a_connection_of_its_own(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The read-ahead gives the batches the keyset read gives (over a gap of ids wider than a chunk,
    and with nothing in the range), copies on its own thread, and closes that thread's connection."""
    from bnpl.lake.tables import reading

    made = _events(tenant)
    copied_on: list[str] = []
    copy = reading._copy

    def watched(spec: TableSpec, queryset: Any) -> pa.Table | None:
        copied_on.append(threading.current_thread().name)
        return copy(spec, queryset)

    monkeypatch.setattr(reading, "_copy", watched)
    scope = Scope(chunk_size=2, lower_key=0, upper_key=max(event.pk for event in made))
    before = _backends()

    ahead = _read(EVENTS, scope, _copied_batches)

    assert ahead.equals(_read(EVENTS, scope, _keyset_batches), check_metadata=True)
    assert ahead.num_rows == Event.objects.filter(pk__lte=scope.upper_key).count() >= len(made)
    assert copied_on and all(name.startswith("lake-copy") for name in copied_on), copied_on
    assert _backends() == before  # the reading thread's connection closed as the read ended
    empty = Scope(chunk_size=2, lower_key=scope.upper_key, upper_key=scope.upper_key + 10)
    assert _read(EVENTS, empty, _copied_batches).num_rows == 0


def _backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def _batch(days: list[int]) -> pa.RecordBatch:
    moments = [dt.datetime(2026, 11, 28 + day, 12, tzinfo=dt.UTC) for day in days]
    count = len(days)
    columns = {
        "event_sequence": list(range(count)),
        "event_id": [f"evt_{index}" for index in range(count)],
        "type": ["order.captured"] * count,
        "merchant_id": [None] * count,
        "livemode": [False] * count,
        "object_type": ["checkout.order"] * count,
        "object_id": [f"ord_{index}" for index in range(count)],
        "request_id": [""] * count,
        "data": ["{}"] * count,
        "created_at": moments,
    }
    return pa.RecordBatch.from_pydict(columns, schema=EVENTS.schema)


def _write(directory: Path, rows: pa.RecordBatch, sizes: list[int]) -> dict[str, tuple[bytes, list[int]]]:
    directory.mkdir()
    writer = PartitionedWriter(spec=EVENTS, directory=str(directory), row_group_rows=4)
    offset = 0
    for size in sizes:
        writer.add(rows.slice(offset, size))
        offset += size
    files = {}
    for day, (path, _) in writer.close().items():
        metadata = pq.ParquetFile(path).metadata
        groups = [metadata.row_group(index).num_rows for index in range(metadata.num_row_groups)]
        files[day] = (Path(path).read_bytes(), groups)
    return files


def test_row_groups_end_after_the_same_rows_whatever_the_batch_sizes(tmp_path: Path) -> None:
    rows = _batch([0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 0])

    whole = _write(tmp_path / "whole", rows, [11])
    pieces = _write(tmp_path / "pieces", rows, [3, 1, 5, 2])

    assert whole == pieces
    assert {day: groups for day, (_, groups) in whole.items()} == {"2026-11-28": [3, 2, 2], "2026-11-29": [1, 2, 1]}


@pytest.mark.postgres
def test_a_copied_chunk_comes_in_key_order_whatever_order_the_table_holds_its_rows() -> None:
    made = [Event.objects.create(type="t", object_type="x", object_id=f"x{index}", data={}) for index in range(4)]
    Event.objects.filter(pk=made[0].pk).delete()
    Event.objects.create(pk=made[0].pk, type="t", object_type="x", object_id="again", data={})  # now stored last
    with connection.cursor() as cursor:  # what the COPY's scan meets: not key order
        cursor.execute("SELECT id FROM core_event WHERE id >= %s", [made[0].pk])
        assert [row[0] for row in cursor.fetchall()] != sorted(event.pk for event in made)

    read = _read(EVENTS, Scope(chunk_size=100, lower_key=0, upper_key=made[-1].pk), _copied_batches)

    assert read.column("event_sequence").to_pylist() == [event.pk for event in made]
    assert read.column("object_id").to_pylist() == ["again", "x1", "x2", "x3"]


def test_a_parsed_chunk_is_put_in_key_order_only_when_it_is_not() -> None:
    ordered = pa.table({"c0": [1, 2, 5], "c1": ["a", "b", "c"]})
    shuffled = pa.table({"c0": [5, 1, 2], "c1": ["c", "a", "b"]})

    assert _in_key_order(ordered) is ordered
    assert _in_key_order(shuffled).equals(ordered)
