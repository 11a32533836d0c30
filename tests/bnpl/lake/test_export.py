"""Exports to a local S3 (moto server, real boto3 HTTP): every table holds exactly the database's
rows, once, in files whose checksums match their manifests; partitions hold their days' rows; runs
are incremental and idempotent; one exporter works a stream at a time."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
from collections.abc import Callable

import pyarrow.parquet as pq
import pytest
from django.db import connection, connections, transaction

from bnpl.core.models import AuditLogEntry, Event
from bnpl.core.services import clock_advance
from bnpl.lake import export, reader, tables
from bnpl.lake.models import LakeBatch, LakeWatermark
from tests.bnpl.lake.conftest import S3Lake
from tests.bnpl.lake.expectations import (
    ALL_TABLES,
    database_keys,
    database_rows_per_day,
    lake_keys,
    lake_rows_per_day,
)
from tests.bnpl.lake.history import make_history
from tests.merchants.factories import Tenant, make_webhook_endpoint

pytestmark = pytest.mark.django_db


def _assert_lake_matches_database(lake: S3Lake) -> None:
    for table in ALL_TABLES:
        expected = database_keys(table)
        assert expected, table
        assert lake_keys(table) == expected, table  # the same rows, each once
    for table in ("events", "ledger_postings"):
        assert lake_rows_per_day(table) == database_rows_per_day(table), table
    objects = set(lake.object_keys())
    listed = set()
    for stream in export.STREAMS:
        for manifest in reader.manifests(stream=stream):
            for entry in manifest["files"]:
                assert lake.sha256(entry["key"]) == entry["sha256"], entry["key"]
                listed.add(entry["key"])
            listed.add(export.manifest_key(stream=stream, name=manifest["batch"]))
    assert objects == listed  # nothing in the bucket that no manifest vouches for


def test_every_table_holds_exactly_the_database_rows_with_checksums_matching(tenant: Tenant, s3_lake: S3Lake) -> None:
    make_history(merchant=tenant.merchant, with_balance=True)

    reports = export.lake_export()

    assert [report.skipped for report in reports] == ["", "", ""]
    _assert_lake_matches_database(s3_lake)
    snapshot = reader.latest_snapshot()
    assert snapshot is not None
    assert set(snapshot["tables"]) == {spec.name for spec in tables.SNAPSHOT_TABLES}
    assert all(LakeBatch.objects.values_list("status", flat=True)) and not LakeBatch.objects.filter(status="started")
    assert LakeWatermark.objects.get(stream="events").position == Event.objects.latest("pk").pk
    assert AuditLogEntry.objects.filter(action="lake.batch_exported").count() == LakeBatch.objects.count() == 3


def test_files_are_hive_partitioned_and_typed_as_declared(tenant: Tenant, s3_lake: S3Lake) -> None:
    make_history(merchant=tenant.merchant, good=1, bad=1)

    export.lake_export()

    keys = s3_lake.object_keys()
    events = [key for key in keys if key.startswith("events/")]
    assert events and all(key.split("/")[1].startswith("dt=") for key in events)
    stamp = reader.latest_snapshot()["batch"]  # type: ignore[index]
    assert f"plans/dt={stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}/snapshot={stamp}/part-0.parquet" in keys
    for spec in tables.TABLES:
        for entry in reader.table_files(table=spec.name):
            schema = pq.read_schema(io.BytesIO(s3_lake.body(entry["key"])))
            assert schema.remove_metadata() == spec.schema.remove_metadata(), spec.name
    plans = reader.read_table(table="orders")
    assert str(plans.schema.field("authorized_amount").type) == "int64"
    assert str(plans.schema.field("created_at").type) == "timestamp[us, tz=UTC]"


def test_a_second_run_exports_only_what_is_new_and_the_hour_is_snapshotted_once(
    tenant: Tenant, s3_lake: S3Lake
) -> None:
    make_history(merchant=tenant.merchant, good=1, bad=0, with_balance=True)
    first = export.lake_export()
    make_webhook_endpoint(merchant=tenant.merchant, livemode=False)  # one more event

    second = export.lake_export()

    assert [report.rows for report in second] == [1, 0, 0]
    assert second[2].skipped.endswith("is done")
    assert len(reader.manifests(stream="events")) == 2
    assert first[0].batches[0].split("-")[1] < second[0].batches[0].split("-")[0]  # ranges follow each other
    _assert_lake_matches_database(s3_lake)

    clock_advance(by=dt.timedelta(hours=1))
    third = export.lake_export(streams=("snapshots",))
    assert third[0].batches and len(reader.manifests(stream="snapshots")) == 2


def test_batches_are_cut_at_the_batch_size_and_name_their_range(tenant: Tenant, s3_lake: S3Lake) -> None:
    make_history(merchant=tenant.merchant, good=1, bad=0)
    total = Event.objects.count()

    report = export.lake_export(streams=("events",), batch_rows=10)

    assert len(report[0].batches) == -(-total // 10)
    for manifest in reader.manifests(stream="events"):
        lower, upper = manifest["range"]["lower_exclusive"], manifest["range"]["upper_inclusive"]
        assert manifest["batch"] == f"{lower + 1:020d}-{upper:020d}"
        assert manifest["row_count"] == Event.objects.filter(pk__gt=lower, pk__lte=upper).count() <= 10
    assert lake_keys("events") == database_keys("events")


def test_batches_hold_the_batch_size_in_rows_where_ids_are_missing(tenant: Tenant, s3_lake: S3Lake) -> None:
    made = [Event.objects.create(type="gap", object_type="x", object_id="x", data={}) for _ in range(12)]
    Event.objects.filter(pk__in=[made[2].pk, made[3].pk, made[7].pk]).delete()  # rolled back, say
    total = Event.objects.count()

    export.lake_export(streams=("events",), batch_rows=4)

    documents = reader.manifests(stream="events")
    assert [document["row_count"] for document in documents] == [4] * (total // 4) + ([total % 4] if total % 4 else [])
    uppers = [document["range"]["upper_inclusive"] for document in documents]
    assert [document["range"]["lower_exclusive"] for document in documents] == [0, *uppers[:-1]]
    assert lake_keys("events") == database_keys("events")


def test_the_manifest_lists_files_rows_checksums_and_range(tenant: Tenant, s3_lake: S3Lake) -> None:
    make_webhook_endpoint(merchant=tenant.merchant, livemode=False)

    export.lake_export(streams=("events",))

    [key] = [key for key in s3_lake.object_keys() if key.startswith("_manifests/events/")]
    manifest = json.loads(s3_lake.body(key))
    assert manifest["stream"] == "events" and manifest["kind"] == "append"
    assert manifest["range"] == {"lower_exclusive": 0, "upper_inclusive": Event.objects.latest("pk").pk}
    assert manifest["row_count"] == Event.objects.count() == sum(entry["rows"] for entry in manifest["files"])
    for entry in manifest["files"]:
        assert set(entry) == {"key", "table", "partition", "rows", "bytes", "sha256"}
        assert len(s3_lake.body(entry["key"])) == entry["bytes"]


def test_a_stream_held_by_another_exporter_is_left_alone(tenant: Tenant, s3_lake: S3Lake) -> None:
    make_webhook_endpoint(merchant=tenant.merchant, livemode=False)
    holder = export._claim("events", take_over=False)
    assert holder is not None

    report = export.lake_export(streams=("events",))

    assert report[0].skipped == "another exporter holds the stream" and report[0].rows == 0
    assert s3_lake.object_keys() == [] and not LakeBatch.objects.exists()
    assert export.lake_export(streams=("events",), take_over=True)[0].rows == Event.objects.count()


def test_the_local_folder_backend_writes_the_same_layout(tenant: Tenant, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.STORAGES = {
        **settings.STORAGES,
        "lake": {"BACKEND": "bnpl.lake.storage.LakeFileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    make_history(merchant=tenant.merchant, good=1, bad=1)

    export.lake_export()

    for table in ALL_TABLES:
        assert lake_keys(table) == database_keys(table), table
    assert not list(tmp_path.rglob(".incoming-*"))  # no temporary file left behind
    assert (tmp_path / "_manifests" / "snapshots").is_dir()


def _hold_open(release: threading.Event, *steps: Callable[[], object]) -> tuple[threading.Thread, threading.Event]:
    """A thread that runs ``steps`` in one transaction of its own connection, then sets the event
    returned and keeps the transaction open until ``release`` is set; then commits."""
    done = threading.Event()

    def run() -> None:
        try:
            with transaction.atomic():
                for step in steps:
                    step()
                done.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, done


def _take_transaction_id() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()")  # what a transaction's first write does


def _event() -> None:
    Event.objects.create(type="test.late", object_type="test", object_id="1", data={})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_whose_transaction_commits_late_is_not_skipped(tenant: Tenant, s3_lake: S3Lake) -> None:
    """A transaction takes an event id, then a later one commits a higher id first: the export waits
    for the open transaction instead of moving the watermark past the id it holds."""
    release = threading.Event()
    thread, opened = _hold_open(release, lambda: make_webhook_endpoint(merchant=tenant.merchant, livemode=False))
    assert opened.wait(30)
    make_webhook_endpoint(merchant=tenant.merchant, livemode=False)  # a higher id, committed first

    held = export.lake_export(streams=("events",))

    assert held[0].skipped == "waiting for older transactions to end" and not held[0].batches
    release.set()
    thread.join(30)
    export.lake_export(streams=("events",))
    assert lake_keys("events") == database_keys("events")  # the late one is there, once


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_writer_that_began_after_another_still_holds_the_horizon(s3_lake: S3Lake) -> None:
    """Writer A takes its transaction id; writer B takes a later one and an event id; A takes a
    higher event id and commits. B's event must hold the export back, though a snapshot's xmax (one
    past the newest *ended* transaction, A's here) is not above B's transaction id and its list of
    running transactions leaves B out. (The xmax is the cluster's: run beside other tests, one of
    theirs ending meanwhile can lift it past B and hide the gap from the old marker; alone, this
    test fails on it.)"""
    a_took_id, a_may_write = threading.Event(), threading.Event()
    a_release, b_release = threading.Event(), threading.Event()
    a, _ = _hold_open(a_release, _take_transaction_id, a_took_id.set, lambda: a_may_write.wait(30), _event)
    b = None
    try:
        assert a_took_id.wait(30)
        b, b_wrote = _hold_open(b_release, _event)
        assert b_wrote.wait(30)
        a_may_write.set()
        a_release.set()
        a.join(30)  # A's newer event committed; B's older one still open
        assert list(Event.objects.values_list("type", flat=True)) == ["test.late"]  # A's only, so far

        # Observed at once: lake_export below observes after its lease write, a transaction newer
        # than B's that raises the xmax past B and so hid the gap from this test's export alone
        _, marker = export._observe(Event)
        assert not export._transactions_ended(marker)
        held = export.lake_export(streams=("events",))

        assert held[0].skipped == "waiting for older transactions to end" and not held[0].batches
    finally:
        a_may_write.set()
        a_release.set()
        b_release.set()
        a.join(30)
        if b is not None:
            b.join(30)
    export.lake_export(streams=("events",))
    assert lake_keys("events") == database_keys("events")  # B's event is there, once


@pytest.mark.postgres
def test_a_second_look_in_one_transaction_sees_a_writer_that_began_after_the_first() -> None:
    """PostgreSQL keeps pg_stat_activity as it was at its first read in a transaction. The check for
    older transactions clears that copy, so a look taken after another writer began waits for it,
    whatever transaction the caller is in (this test runs in one)."""
    every_transaction = 2**63 - 1  # a marker above any transaction id: is anything else running?
    assert export._transactions_ended(every_transaction)  # the first look, which PostgreSQL would keep
    release = threading.Event()
    writer, started = _hold_open(release, _take_transaction_id)
    try:
        assert started.wait(30)
        assert not export._transactions_ended(every_transaction)
    finally:
        release.set()
        writer.join(30)
    assert export._transactions_ended(every_transaction)
