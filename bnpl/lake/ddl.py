"""Athena / Glue ``CREATE EXTERNAL TABLE`` statements for every lake table, from the same specs the
export writes with (so the DDL and the files cannot disagree)."""

from __future__ import annotations

import pyarrow as pa
from django.conf import settings

from bnpl.lake import tables
from bnpl.lake.tables import TableSpec


def hive_type(kind: pa.DataType) -> str:
    if pa.types.is_string(kind):
        return "STRING"
    if pa.types.is_int64(kind):
        return "BIGINT"
    if pa.types.is_int32(kind):
        return "INT"
    if pa.types.is_float64(kind):
        return "DOUBLE"
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMP"
    if pa.types.is_date32(kind):
        return "DATE"
    if pa.types.is_list(kind):
        return f"ARRAY<{hive_type(kind.value_type)}>"
    raise ValueError(f"no Hive type for {kind}")


def default_location() -> str:
    if settings.LAKE_S3_BUCKET:
        prefix = settings.LAKE_S3_PREFIX.strip("/")
        return f"s3://{settings.LAKE_S3_BUCKET}" + (f"/{prefix}" if prefix else "")
    return "s3://YOUR-BUCKET/lake"


def _quote(text: str) -> str:
    return text.replace("'", "''")


def create_table(spec: TableSpec, *, location: str, database: str) -> str:
    width = max(len(column.name) for column in spec.columns)
    columns = ",\n".join(
        f"  `{column.name}`{' ' * (width - len(column.name))} {hive_type(column.type)} "
        f"COMMENT '{_quote(column.description)}'"
        for column in spec.columns
    )
    partitions = "`dt` STRING" if spec.kind == tables.APPEND else "`dt` STRING, `snapshot` STRING"
    return (
        f"CREATE EXTERNAL TABLE IF NOT EXISTS `{database}`.`{spec.name}` (\n{columns}\n)\n"
        f"COMMENT '{_quote(spec.description)}'\n"
        f"PARTITIONED BY ({partitions})\n"
        "STORED AS PARQUET\n"
        f"LOCATION '{location.rstrip('/')}/{spec.name}/'\n"
        "TBLPROPERTIES ('parquet.compression'='ZSTD');\n"
        f"MSCK REPAIR TABLE `{database}`.`{spec.name}`;\n"
    )


def all_statements(*, location: str | None = None, database: str = "bnpl_lake") -> str:
    location = location or default_location()
    header = f"-- The BNPL data lake at {location}: one table per export (docs/data-lake.md).\n"
    header += f"CREATE DATABASE IF NOT EXISTS `{database}`;\n"
    return header + "\n".join(create_table(spec, location=location, database=database) for spec in tables.TABLES)


def markdown_reference() -> str:
    """Every table and column as Markdown (the reference section of docs/data-lake.md)."""
    parts = []
    for spec in tables.TABLES:
        layout = (
            f"`{spec.name}/dt=YYYY-MM-DD/part-<first>-<last>.parquet` (append, by `{spec.partition_column}` date)"
            if spec.kind == tables.APPEND
            else f"`{spec.name}/dt=YYYY-MM-DD/snapshot=YYYYMMDDTHHMMSSZ/part-0.parquet` (hourly snapshot)"
        )
        rows = "\n".join(
            f"| `{column.name}` | {hive_type(column.type)} | {column.description} |" for column in spec.columns
        )
        parts.append(
            f"### `{spec.name}`\n\n{spec.description}\n\n{layout}\n\n"
            f"| column | type | meaning |\n|---|---|---|\n{rows}\n"
        )
    return "\n".join(parts)
