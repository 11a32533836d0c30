"""Life after a restore, on the restored database: ``python -m tests.bnpl.ops.restored_process <lake dir>``
with DATABASE_URL naming the restored database.

It writes more activity (a new merchant's plans, captures, collections, a settlement), exports the
lake again into the same folder the original database exported to, and prints one JSON line: for
each lake table, whether the lake holds exactly the restored database's rows, each once (no
duplicate from exporting again what was exported before the backup, no gap after it), and how many
new event rows this export wrote (of how many the database holds)."""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.test")
    import django

    django.setup()

    from django.test.utils import override_settings, setup_test_environment

    setup_test_environment()
    from django.conf import settings

    lake = {"BACKEND": "bnpl.lake.storage.LakeFileSystemStorage", "OPTIONS": {"location": sys.argv[1]}}
    with override_settings(STORAGES={**settings.STORAGES, "lake": lake}):
        from bnpl.lake import export
        from tests.bnpl.lake.expectations import ALL_TABLES, database_keys, lake_keys
        from tests.bnpl.lake.history import make_history
        from tests.merchants.factories import make_tenant

        make_history(merchant=make_tenant(name="After the restore").merchant, good=1, bad=0, email_tag="-restored")
        reports = export.lake_export()
        matches = {table: lake_keys(table) == database_keys(table) for table in ALL_TABLES}
        events_written = sum(report.rows for report in reports if report.stream == "events")
        from bnpl.core.models import Event

        events_total = Event.objects.count()
    answer = {"matches": matches, "events_written": events_written, "events_total": events_total}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    # Its work is done and said. pyarrow's Parquet writer can leave a C++ thread that aborts the
    # interpreter's exit ("terminate called without an active exception", SIGABRT; apache/arrow
    # #34314, open), which would fail the test for a crash after the answer: leave without the
    # interpreter's teardown.
    os._exit(0)


if __name__ == "__main__":
    main()
