"""Reporting reads on a real PostgreSQL streaming replica (bnpl.core.replica).

A private primary and a hot standby streaming from it (tests/bnpl/ops/instances.py) and a process
whose settings name both (tests/bnpl/ops/replica_process.py), checking the replica afresh for every
block (REPLICA_CHECK_SECONDS=0). Where a block's reads land is read through the routed connection
itself (``inet_server_port()``, ``pg_is_in_recovery()``), and each command reports the SQL each
alias ran. Replication is held still with ``pg_wal_replay_pause()`` on the standby, never by waiting.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bnpl.core.replica import PRIMARY, REPLICA, ReplicaRouter, reporting_reads
from tests.bnpl.ops.instances import PrivatePostgres, private_postgres_with_replica
from tests.bnpl.ops.web_process import LineProcess
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[3]
WRITES = ("INSERT", "UPDATE", "DELETE")


class ReplicaProcess(LineProcess):
    def __init__(self, primary: PrivatePostgres, replica: PrivatePostgres, lake_root: str) -> None:
        super().__init__(
            "tests.bnpl.ops.replica_process",
            {
                "DATABASE_URL": primary.url("bnpl"),
                "REPLICA_DATABASE_URL": replica.url("bnpl"),
                "REPLICA_CHECK_SECONDS": "0",
                "REPLICA_MAX_LAG_SECONDS": "3600",
                # A loaded CI machine can take over the default 2 s to connect; a stopped replica refuses at once.
                "REPLICA_CONNECT_TIMEOUT_SECONDS": "15",
                "LAKE_ROOT": lake_root,
                "LAKE_S3_BUCKET": "",  # the lake in LAKE_ROOT, whatever the environment names
            },
        )
        self.order = self.ready["order"]


def _replayed_everything(primary: PrivatePostgres, replica: PrivatePostgres) -> bool:
    position = primary.query("SELECT pg_current_wal_lsn()")
    return replica.query(f"SELECT pg_last_wal_replay_lsn() >= '{position}'::pg_lsn") == "t"


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    with private_postgres_with_replica() as (primary, replica):
        primary.database_create("bnpl")
        assert wait_until(lambda: _replayed_everything(primary, replica), timeout=30)
        yield primary, replica


@pytest.fixture(scope="module")
def app(clusters: tuple[PrivatePostgres, PrivatePostgres]) -> Iterator[ReplicaProcess]:
    primary, replica = clusters
    with tempfile.TemporaryDirectory(prefix="bnpl-replica-lake-") as lake_root:
        process = ReplicaProcess(primary, replica, lake_root)
        try:
            assert wait_until(lambda: _replayed_everything(primary, replica), timeout=30)
            yield process
        finally:
            process.close()


@pytest.fixture
def paused(clusters: tuple[PrivatePostgres, PrivatePostgres]) -> Iterator[None]:
    """The standby receives WAL but replays none of it until the test ends."""
    primary, replica = clusters
    replica.query("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        replica.query("SELECT pg_wal_replay_resume()")
        assert wait_until(lambda: _replayed_everything(primary, replica), timeout=30)


def _writes(statements: list[str]) -> list[str]:
    return [sql for sql in statements if sql.lstrip().upper().startswith(WRITES)]


def test_reporting_reads_go_to_the_replica_and_every_other_read_stays_on_the_primary(
    clusters: tuple[PrivatePostgres, PrivatePostgres], app: ReplicaProcess
) -> None:
    _, replica = clusters

    reporting = app.ask(where={})
    page = app.ask(page="/merchant/")
    export = app.ask(page="/merchant/orders/export.csv")
    report = app.ask(monitoring=True)
    snapshot = app.ask(lake_snapshot=True)

    assert (reporting["alias"], reporting["port"], reporting["in_recovery"]) == (REPLICA, replica.port, True)
    assert page["status"] == 200
    assert "$123.45" in page["body"]  # the authorized order, as the replica has it
    figures_on_replica = [sql for sql in page["queries"]["replica"] if "SUM(" in sql.upper()]
    assert figures_on_replica and not [sql for sql in page["queries"]["default"] if "SUM(" in sql.upper()]
    assert export["status"] == 200 and app.order in export["body"]
    assert any('FROM "checkout_order"' in sql for sql in export["queries"]["replica"])
    assert report["days"] == 31  # the 30 days back from now touch 31 UTC days
    assert any("decisioning_creditdecision" in sql for sql in report["queries"]["replica"])
    assert snapshot["rows"] > 0
    assert "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY" in snapshot["queries"]["replica"], snapshot[
        "fallbacks"
    ]
    for answer in (reporting, page, export, report, snapshot):
        assert _writes(answer["queries"]["replica"]) == []
    assert snapshot["fallbacks"] == reporting["fallbacks"]  # none of these stayed on the primary
    # The session and sign-in reads of the page, and the exporter's bookkeeping, stayed on the primary.
    assert any("django_session" in sql for sql in page["queries"]["default"])
    assert _writes(snapshot["queries"]["default"])  # its batch row and watermark


def test_a_write_inside_a_reporting_block_goes_to_the_primary_and_the_block_then_reads_there(
    clusters: tuple[PrivatePostgres, PrivatePostgres], app: ReplicaProcess
) -> None:
    primary, _ = clusters

    answer = app.ask(write_in_block="Renamed in a block")

    assert answer["alias_before"] == REPLICA
    assert (answer["alias_after"], answer["port_after"]) == (PRIMARY, primary.port)
    assert len(_writes(answer["queries"]["default"])) == 1 and _writes(answer["queries"]["replica"]) == []
    assert primary.query("SELECT count(*) FROM merchants_merchant WHERE name = 'Renamed in a block'", "bnpl") == "1"


def test_a_unit_that_wrote_reads_from_the_primary_until_the_replica_has_replayed_its_write(
    clusters: tuple[PrivatePostgres, PrivatePostgres], app: ReplicaProcess, paused: None
) -> None:
    primary, replica = clusters
    before = app.ask(where={}).get("fallbacks", {}).get("own_writes", 0)

    writer = app.ask(where={"write_first": True})
    reader = app.ask(where={})  # another unit, which wrote nothing: a replica within the lag allowed

    assert (writer["alias"], writer["port"]) == (PRIMARY, primary.port)
    assert writer["fallbacks"]["own_writes"] == before + 1
    assert (reader["alias"], reader["port"]) == (REPLICA, replica.port)

    replica.query("SELECT pg_wal_replay_resume()")
    assert wait_until(lambda: _replayed_everything(primary, replica), timeout=30)
    same_writer = app.ask(where={"new_unit": False})  # its write is on the replica now
    assert (same_writer["alias"], same_writer["port"]) == (REPLICA, replica.port)


def test_a_replica_lagging_beyond_the_setting_leaves_reporting_reads_and_pages_on_the_primary(
    clusters: tuple[PrivatePostgres, PrivatePostgres], app: ReplicaProcess, paused: None
) -> None:
    primary, replica = clusters
    primary.query("CREATE TABLE written_while_paused (id int)", "bnpl")  # WAL the standby receives, unreplayed
    assert wait_until(
        lambda: replica.query("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()") == "t", timeout=30
    )
    within = app.ask(where={})
    app.ask(set={"REPLICA_MAX_LAG_SECONDS": 0})
    try:
        beyond = app.ask(where={})
        page = app.ask(page="/merchant/")
    finally:
        app.ask(set={"REPLICA_MAX_LAG_SECONDS": 3600})

    assert (within["alias"], within["port"]) == (REPLICA, replica.port)
    assert (beyond["alias"], beyond["port"], beyond["in_recovery"]) == (PRIMARY, primary.port, False)
    assert beyond["fallbacks"]["lagging"] == within["fallbacks"].get("lagging", 0) + 1
    assert page["status"] == 200 and "$123.45" in page["body"]
    only_checked = page["queries"]["replica"]  # the replica was asked its lag, and nothing else
    assert only_checked and all("pg_last_xact_replay_timestamp" in sql for sql in only_checked)


def test_a_stopped_replica_leaves_reporting_reads_and_pages_on_the_primary_until_it_is_back(
    clusters: tuple[PrivatePostgres, PrivatePostgres], app: ReplicaProcess
) -> None:
    primary, replica = clusters
    replica.stop()
    try:
        reporting = app.ask(where={})
        page = app.ask(page="/merchant/")
        export = app.ask(page="/merchant/orders/export.csv")
    finally:
        replica.start()

    assert (reporting["alias"], reporting["port"]) == (PRIMARY, primary.port)
    assert page["status"] == 200 and "$123.45" in page["body"]  # no 500: the figures come from the primary
    assert export["status"] == 200 and app.order in export["body"]
    assert export["fallbacks"]["unreachable"] == reporting["fallbacks"]["unreachable"] + 2
    back = app.ask(where={})  # nothing told the process: the next check finds the replica again
    assert (back["alias"], back["port"]) == (REPLICA, replica.port)


def test_migrations_never_run_on_the_replica() -> None:
    router = ReplicaRouter()

    assert router.allow_migrate(REPLICA, "checkout", model_name="order") is False
    assert router.allow_migrate(PRIMARY, "checkout", model_name="order") is None


def test_without_a_replica_reporting_reads_use_the_primary() -> None:
    with reporting_reads() as alias:
        assert alias == PRIMARY


def test_a_replica_that_stops_between_two_checks_fails_one_page_and_the_next_reads_the_primary(
    clusters: tuple[PrivatePostgres, PrivatePostgres], app: ReplicaProcess
) -> None:
    primary, replica = clusters
    app.ask(set={"REPLICA_CHECK_SECONDS": 3600})  # the check below is trusted for the rest of the test
    try:
        checked = app.ask(where={})
        replica.stop()
        try:
            failed = app.ask(page="/merchant/")
            next_page = app.ask(page="/merchant/")
            reporting = app.ask(where={})
        finally:
            replica.start()
    finally:
        app.ask(set={"REPLICA_CHECK_SECONDS": 0})

    assert (checked["alias"], checked["port"]) == (REPLICA, replica.port)
    assert failed["status"] == 503 and "Traceback" not in failed["body"]  # the page for an outage, not a 500
    assert next_page["status"] == 200 and "$123.45" in next_page["body"]
    assert next_page["fallbacks"]["unreachable"] == failed["fallbacks"].get("unreachable", 0) + 1
    assert (reporting["alias"], reporting["port"]) == (PRIMARY, primary.port)  # the failed check is trusted now
