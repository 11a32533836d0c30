"""A backup restores: real activity (merchants, checkouts, captures, collections, a refund, a
dispute, a settlement, their ledger entries) and a lake export to a local folder; then
``scripts/backup.sh`` (pg_dump -Fc) and ``scripts/restore.sh`` (pg_restore into a new, empty
database, then ``ledger_verify``), the commands docs/operations.md tells an operator to run. On the
restored database the ledger balances, and after more activity the lake export resumes where the
original left off: the lake holds every row of the restored database exactly once (no event
exported twice, none skipped)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from bnpl.core.models import Event
from bnpl.lake import export
from tests.bnpl.lake.expectations import ALL_TABLES, database_keys, lake_keys
from tests.bnpl.lake.history import make_history
from tests.merchants.factories import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.direct_connection, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]


def _url(name: str) -> str:
    database = connection.settings_dict
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    return f"postgres://{database['USER']}{password}@{database['HOST']}:{database['PORT']}/{name}"


def _direct_url(name: str) -> str:
    """``name`` on PostgreSQL itself: through a transaction pooler (``make test-pooled``), the dump,
    the restore and the test's own DDL go around it, as docs/operations.md tells an operator to."""
    direct = os.environ.get("DATABASE_DIRECT_URL")
    return f"{direct.rsplit('/', 1)[0]}/{name}" if direct else _url(name)


def _psql(sql: str) -> None:
    subprocess.run(
        ["psql", _direct_url("postgres"), "-q", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True, capture_output=True
    )


def _run(command: list[str], database: str, **extra: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bnpl.settings.test",
        "DATABASE_URL": _url(database),
        "DATABASE_DIRECT_URL": _direct_url(database),
        "PYTHON": sys.executable,
        **extra,
    }
    return subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_a_backup_restores_into_a_new_database_whose_ledger_balances_and_whose_lake_export_resumes(
    tenant: Tenant, settings, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    for tool in ("pg_dump", "pg_restore", "psql"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is needed for the backup and restore (postgresql-client)")
    lake_dir = tmp_path / "lake"
    settings.STORAGES = {
        **settings.STORAGES,
        "lake": {"BACKEND": "bnpl.lake.storage.LakeFileSystemStorage", "OPTIONS": {"location": str(lake_dir)}},
    }
    make_history(merchant=tenant.merchant, good=2, bad=1)
    export.lake_export()
    exported_events = Event.objects.count()
    assert lake_keys("events") == database_keys("events") and exported_events > 0

    source = str(connection.settings_dict["NAME"])
    restored = f"{source}_restored"
    dump = tmp_path / "bnpl.dump"
    backup = _run(["bash", "scripts/backup.sh", str(dump)], source)
    assert backup.returncode == 0, backup.stderr
    assert dump.stat().st_size > 0 and not (tmp_path / "bnpl.dump.partial").exists()

    _psql(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')
    _psql(f'CREATE DATABASE "{restored}"')
    try:
        restore = _run(["bash", "scripts/restore.sh", str(dump)], restored)
        assert restore.returncode == 0, restore.stderr
        assert "Ledger OK" in restore.stdout
        again = _run(["bash", "scripts/restore.sh", str(dump)], restored)  # never over a database in use
        assert again.returncode != 0 and "refusing" in again.stderr

        after = _run([sys.executable, "-m", "tests.bnpl.ops.restored_process", str(lake_dir)], restored)
        assert after.returncode == 0, after.stderr[-3000:]
        result = json.loads(after.stdout.strip().splitlines()[-1])
        assert result["matches"] == dict.fromkeys(ALL_TABLES, True)  # every row once: no duplicate, no gap
        # It exported the events made after the restore, and only those: it continued after the last one exported.
        assert result["events_written"] == result["events_total"] - exported_events > 0

        verify = _run([sys.executable, "manage.py", "ledger_verify"], restored)
        assert "Ledger OK" in verify.stdout, verify.stdout + verify.stderr
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)')

    assert Event.objects.count() == exported_events  # the original database was only read
