"""The lake read by the engines people query it with, through the DDL ``lake_ddl`` prints for each:
Spark SQL (pyspark in local mode, a JVM of its own) and DuckDB. After a platform history is exported,
every table, partition by partition, holds in each engine the rows and money totals the database
holds (append tables by their ``dt`` partition; snapshot tables in their one snapshot), and the
ledger read by the engine balances per currency and matches the database's accounts."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from django.db.models import Count, Sum
from django.db.models.functions import TruncDate
from pyspark.sql import SparkSession

from bnpl.lake import export, tables
from bnpl.lake.ddl import all_statements, statements
from bnpl.lake.tables.base import JOINED, TableSpec
from bnpl.ledger.models import Posting
from tests.bnpl.lake.history import make_history
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

Query = Callable[[str], list[tuple[Any, ...]]]


def _money_columns(spec: TableSpec) -> list[str]:
    """The columns that are amounts read straight from a field of the table's model."""
    return [
        column.name
        for column in spec.columns
        if "(minor units of" in column.description and column.convert is None and JOINED not in column.field
    ]


def _database(spec: TableSpec) -> dict[str, tuple[int, ...]]:
    """Per partition (``dt`` of an append table; ``*`` for a snapshot's only one): the row count and
    each money column's sum, as the database holds them."""
    fields = {column.name: column.field for column in spec.columns}
    money = _money_columns(spec)
    rows = spec.model_class()._default_manager.all()
    sums = {f"sum_{name}": Sum(fields[name]) for name in money}
    if spec.kind == tables.APPEND:
        per_day = (
            rows.annotate(day=TruncDate(fields[spec.partition_column], tzinfo=dt.UTC))
            .values("day")
            .annotate(rows=Count("pk"), **sums)
        )
        return {row["day"].isoformat(): (row["rows"], *(row[f"sum_{name}"] or 0 for name in money)) for row in per_day}
    total = rows.aggregate(rows=Count("pk"), **sums)
    return {"*": (total["rows"], *(total[f"sum_{name}"] or 0 for name in money))} if total["rows"] else {}


def _engine(spec: TableSpec, query: Query, table: str) -> dict[str, tuple[int, ...]]:
    money = "".join(f", coalesce(sum({name}), 0)" for name in _money_columns(spec))
    partition = "dt" if spec.kind == tables.APPEND else "snapshot"
    result = {
        str(row[0]): tuple(int(value) for value in row[1:])
        for row in query(f"SELECT {partition}, count(*){money} FROM {table} GROUP BY {partition}")
    }
    if spec.kind == tables.SNAPSHOT:
        assert len(result) <= 1, f"{spec.name}: one export, one snapshot: {sorted(result)}"
        return {"*": next(iter(result.values()))} if result else {}
    return result


def _ledger_by_account() -> dict[tuple[str, str, bool], int]:
    balances = Posting.objects.values("account__code", "currency", "entry__livemode").annotate(total=Sum("amount"))
    return {(row["account__code"], row["currency"], row["entry__livemode"]): row["total"] for row in balances}


def _assert_the_engine_reads_what_the_database_holds(query: Query, database: str) -> None:
    held = set()
    for spec in tables.TABLES:
        expected = _database(spec)
        assert _engine(spec, query, f"{database}.{spec.name}") == expected, spec.name
        held |= {spec.name} if expected else set()
    assert {"events", "ledger_postings", "orders", "captures", "installments", "charges", "loan_tape"} <= held
    by_account = query(
        f"SELECT account_code, currency, livemode, sum(amount) FROM {database}.ledger_postings "
        "GROUP BY account_code, currency, livemode"
    )
    assert {(code, currency, bool(live)): int(total) for code, currency, live, total in by_account} == (
        _ledger_by_account()
    )
    per_book = query(f"SELECT currency, livemode, sum(amount) FROM {database}.ledger_postings GROUP BY 1, 2")
    assert per_book and all(int(total) == 0 for _, _, total in per_book)  # double entry: every book balances


@pytest.fixture
def exported_lake(tenant: Tenant, settings: Any, tmp_path: Path) -> Path:
    lake = tmp_path / "lake"
    settings.STORAGES = {
        **settings.STORAGES,
        "lake": {"BACKEND": "bnpl.lake.storage.LakeFileSystemStorage", "OPTIONS": {"location": str(lake)}},
    }
    make_history(merchant=tenant.merchant, good=2, bad=1)
    export.lake_export()
    return lake


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """Spark in local mode: a JVM of its own, one core, no UI, an in-memory catalog, on 127.0.0.1."""
    warehouse = tmp_path_factory.mktemp("spark-warehouse")
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    session = (
        SparkSession.builder.master("local[1]")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .appName("bnpl-lake-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.driver.memory", "768m")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        session.stop()


@pytest.mark.slow
def test_spark_sql_reads_every_table_and_partition_as_the_database_holds_them(
    exported_lake: Path, spark: SparkSession
) -> None:
    database = "lake_under_test"
    spark.sql(f"DROP DATABASE IF EXISTS {database} CASCADE")
    for statement in statements(all_statements(location=exported_lake.as_uri(), database=database, engine="spark")):
        spark.sql(statement)

    _assert_the_engine_reads_what_the_database_holds(
        lambda sql: [tuple(row) for row in spark.sql(sql).collect()], database
    )


def test_duckdb_reads_every_table_and_partition_as_the_database_holds_them(exported_lake: Path) -> None:
    connection = duckdb.connect()
    database = "lake_under_test"
    for statement in statements(all_statements(location=str(exported_lake), database=database, engine="duckdb")):
        connection.execute(statement)

    _assert_the_engine_reads_what_the_database_holds(lambda sql: connection.execute(sql).fetchall(), database)
