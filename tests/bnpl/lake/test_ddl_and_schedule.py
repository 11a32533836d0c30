"""``manage.py lake_ddl`` describes every table with every column in Athena's types; the beat
schedule runs the exports (events every minute, tables hourly) through tasks that really export."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from bnpl.core.models import Event
from bnpl.lake import tables
from bnpl.lake.models import LakeWatermark
from bnpl.lake.tasks import lake_export_events, lake_export_tables
from tests.merchants.factories import Tenant, make_webhook_endpoint


def test_the_ddl_creates_every_table_with_every_column_and_its_partitions() -> None:
    out = StringIO()
    call_command("lake_ddl", "--location", "s3://acme-lake/prod", "--database", "risk", stdout=out)
    text = out.getvalue()

    types: dict[tuple[str, str], str] = {}
    for spec in tables.TABLES:
        block = text.split(f"CREATE EXTERNAL TABLE IF NOT EXISTS `risk`.`{spec.name}` (")[1].split("\nMSCK")[0]
        declared = re.findall(r"^  `(\w+)`\s+(\S+)", block, re.MULTILINE)
        assert [name for name, _ in declared] == spec.column_names, spec.name
        assert f"LOCATION 's3://acme-lake/prod/{spec.name}/'" in block
        partitions = "(`dt` STRING)" if spec.kind == tables.APPEND else "(`dt` STRING, `snapshot` STRING)"
        assert f"PARTITIONED BY {partitions}" in block
        types |= {(spec.name, name): kind for name, kind in declared}
    assert types[("orders", "authorized_amount")] == "BIGINT" and types[("installments", "due_date")] == "DATE"
    assert (
        types[("events", "created_at")] == "TIMESTAMP"
        and types[("credit_decisions", "reason_codes")] == "ARRAY<STRING>"
    )
    assert types[("loan_tape", "bad")] == "BOOLEAN" and types[("loan_tape", "score")] == "DOUBLE"


def test_beat_exports_events_every_minute_and_tables_every_hour() -> None:
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["lake-export-events"] == {
        "task": "bnpl.lake.tasks.lake_export_events",
        "schedule": dt.timedelta(minutes=1),
    }
    assert schedule["lake-export-tables"]["task"] == "bnpl.lake.tasks.lake_export_tables"
    assert schedule["lake-export-tables"]["schedule"] == dt.timedelta(hours=1)


@pytest.mark.django_db
def test_the_tasks_export(tenant: Tenant, s3_lake: object) -> None:
    make_webhook_endpoint(merchant=tenant.merchant, livemode=False)

    assert lake_export_events.apply().get() == [f"events: 1 batch(es), {Event.objects.count()} row(s)"]
    assert lake_export_tables.apply().get()[1].startswith("snapshots: 1 batch(es)")
    assert LakeWatermark.objects.get(stream="snapshots").last_snapshot_at is not None


def test_the_docs_describe_every_table_and_column_as_the_code_declares_them() -> None:
    from pathlib import Path

    from bnpl.lake.ddl import markdown_reference

    document = (Path(__file__).resolve().parents[3] / "docs" / "data-lake.md").read_text()
    assert markdown_reference() in document  # regenerate with: manage.py lake_ddl --markdown
