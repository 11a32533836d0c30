"""Killing the exporter: ``manage.py lake_export`` runs as a real process against this test's
database and the local S3, and is killed with SIGKILL part-way, trial after trial, each at a later
point; a final run finishes. Then the lake holds exactly the database's rows, once each, every
manifest's checksums match the objects, and every object any killed run had written is still there
with the same bytes (a redone batch writes the same keys with the same content)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from bnpl.lake import export
from bnpl.lake.models import LakeBatch
from tests.bnpl.lake.conftest import S3Lake
from tests.bnpl.lake.expectations import ALL_TABLES, database_keys, lake_keys
from tests.bnpl.lake.history import make_history
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[3]
KILL_AFTER_OBJECTS = (2, 10, 18)  # cumulative objects in the bucket at which each trial is killed


def _database_url() -> str:
    database = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    return f"sqlite:///{database['NAME']}"


def _exporter(lake: S3Lake) -> subprocess.Popen[bytes]:
    environment = {
        **os.environ,
        **lake.environment(),
        "DJANGO_SETTINGS_MODULE": "bnpl.settings.test",
        "DATABASE_URL": _database_url(),
        "LAKE_SETTLE_SECONDS": "0",
    }
    return subprocess.Popen(
        [sys.executable, "manage.py", "lake_export", "--batch-rows", "20", "--take-over"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _kill_when(process: subprocess.Popen[bytes], lake: S3Lake, objects: int) -> bool:
    """SIGKILL the exporter once the bucket holds ``objects`` objects; False if it finished first."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if len(lake.object_keys()) >= objects:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
            return True
        time.sleep(0.02)  # leave the (single-threaded) local S3 to the exporter
    process.kill()
    pytest.fail("the exporter neither progressed nor finished")


@pytest.mark.slow
def test_an_export_killed_again_and_again_then_resumed_holds_each_row_once(tenant: Tenant, s3_lake: S3Lake) -> None:
    make_history(merchant=tenant.merchant, good=4, bad=2)
    seen: dict[str, str] = {}
    interrupted = []
    for objects in KILL_AFTER_OBJECTS:
        process = _exporter(s3_lake)
        killed = _kill_when(process, s3_lake, objects)
        if not killed:
            assert process.returncode == 0, process.stderr.read() if process.stderr else ""
        interrupted.append(killed and LakeBatch.objects.filter(status=LakeBatch.Status.STARTED).exists())
        for key in s3_lake.object_keys():
            digest = s3_lake.sha256(key)
            assert seen.setdefault(key, digest) == digest, key  # rewritten with the same bytes
    assert any(interrupted)  # at least one kill landed in the middle of a batch

    export.lake_export(take_over=True, batch_rows=20)

    assert not LakeBatch.objects.filter(status=LakeBatch.Status.STARTED).exists()
    for table in ALL_TABLES:
        assert lake_keys(table) == database_keys(table), table
    final = {key: s3_lake.sha256(key) for key in s3_lake.object_keys()}
    assert all(final[key] == digest for key, digest in seen.items())  # nothing a killed run wrote changed or vanished
    from bnpl.lake import reader

    listed = set()
    for stream in export.STREAMS:
        for manifest in reader.manifests(stream=stream):
            listed |= {entry["key"] for entry in manifest["files"]}
            listed.add(export.manifest_key(stream=stream, name=manifest["batch"]))
            assert all(final[entry["key"]] == entry["sha256"] for entry in manifest["files"])
    assert set(final) == listed  # no orphan object: every file belongs to a manifest
    assert reader.manifests(stream="events")[0]["range"]["lower_exclusive"] == 0
