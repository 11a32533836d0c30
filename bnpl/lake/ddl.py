"""The lake's tables as each engine that reads it declares them, from the same specs the export
writes with (so the DDL and the files cannot disagree):

* ``athena``: Athena / Glue (Hive) ``CREATE EXTERNAL TABLE`` on ``s3://``, partitions loaded by
  ``MSCK REPAIR TABLE`` (the Glue tables of ``deploy/aws/lake-tables.json`` project them instead);
* ``spark``: Spark SQL data-source tables (``USING PARQUET``) on ``s3a://`` (or any Hadoop path),
  partitions recovered by ``MSCK REPAIR TABLE``;
* ``duckdb``: views over ``read_parquet`` with Hive partitioning, on ``s3://`` (httpfs) or a folder.

Partition columns are strings in every engine: ``dt`` (``YYYY-MM-DD``) and, for snapshot tables,
``snapshot`` (``YYYYMMDDTHHMMSSZ``; the latest one is the table as of that hour)."""

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


def default_location(*, scheme: str = "s3") -> str:
    """The lake's S3 location from the settings (Spark's Hadoop connector names it ``s3a://``)."""
    if settings.LAKE_S3_BUCKET:
        prefix = settings.LAKE_S3_PREFIX.strip("/")
        return f"{scheme}://{settings.LAKE_S3_BUCKET}" + (f"/{prefix}" if prefix else "")
    return f"{scheme}://YOUR-BUCKET/lake"


def _quote(text: str) -> str:
    """A string literal's body in Hive, Athena and DuckDB (a quote doubled)."""
    return text.replace("'", "''")


def _spark_quote(text: str) -> str:
    """A string literal's body in Spark SQL (backslash escapes)."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


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


def _partitions(spec: TableSpec) -> list[str]:
    return ["dt"] if spec.kind == tables.APPEND else ["dt", "snapshot"]


def spark_create_table(spec: TableSpec, *, location: str, database: str) -> str:
    columns = [
        f"  `{column.name}` {hive_type(column.type)} COMMENT '{_spark_quote(column.description)}'"
        for column in spec.columns
    ]
    columns += [f"  `{name}` STRING COMMENT 'partition'" for name in _partitions(spec)]
    partitions = ", ".join(f"`{name}`" for name in _partitions(spec))
    return (
        f"CREATE TABLE IF NOT EXISTS `{database}`.`{spec.name}` (\n" + ",\n".join(columns) + "\n)\n"
        "USING PARQUET\n"
        f"PARTITIONED BY ({partitions})\n"
        f"LOCATION '{_spark_quote(location.rstrip('/'))}/{spec.name}/'\n"
        f"COMMENT '{_spark_quote(spec.description)}';\n"
        f"MSCK REPAIR TABLE `{database}`.`{spec.name}`;\n"
    )


def duckdb_create_view(spec: TableSpec, *, location: str, database: str) -> str:
    depth = "/".join("*" for _ in _partitions(spec))
    types = ", ".join(f"'{name}': VARCHAR" for name in _partitions(spec))
    files = _quote(f"{location.rstrip('/')}/{spec.name}/{depth}/*.parquet")
    return (  # printed for an operator's DuckDB, never run against our database
        f"CREATE OR REPLACE VIEW {database}.{spec.name} AS\n"  # noqa: S608  # nosec B608
        f"  SELECT * FROM read_parquet('{files}',\n"
        f"    hive_partitioning = true, hive_types = {{{types}}});\n"
    )


ENGINES = ("athena", "spark", "duckdb")


def all_statements(*, location: str | None = None, database: str = "bnpl_lake", engine: str = "athena") -> str:
    """Every table's statement for ``engine`` (one of ``ENGINES``), each ending with ``;`` and a newline."""
    location = location or default_location(scheme="s3a" if engine == "spark" else "s3")
    header = f"-- The BNPL data lake at {location} for {engine}: one table per export (docs/data-lake.md).\n"
    if engine == "athena":
        header += f"CREATE DATABASE IF NOT EXISTS `{database}`;\n"
        body = [create_table(spec, location=location, database=database) for spec in tables.TABLES]
    elif engine == "spark":
        header += f"CREATE DATABASE IF NOT EXISTS `{database}`;\n"
        body = [spark_create_table(spec, location=location, database=database) for spec in tables.TABLES]
    elif engine == "duckdb":
        header += f"CREATE SCHEMA IF NOT EXISTS {database};\n"
        body = [duckdb_create_view(spec, location=location, database=database) for spec in tables.TABLES]
    else:
        raise ValueError(f"no DDL for {engine!r}: choose one of {', '.join(ENGINES)}")
    return header + "\n".join(body)


def statements(ddl: str) -> list[str]:
    """``ddl`` as the statements an engine's API takes one at a time (comments and ``;`` dropped)."""
    lines = [line for line in ddl.splitlines() if not line.startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";\n") if statement.strip().rstrip(";")]


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


# --- The same tables as CloudFormation (deploy/aws/lake-tables.json) ---------------------------------

GLUE_PARQUET: dict[str, object] = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
}


def _resource_name(table: str) -> str:
    return "".join(part.capitalize() for part in table.split("_")) + "Table"


def glue_table(spec: TableSpec) -> dict[str, object]:
    """One ``AWS::Glue::Table``: the columns, types and partitions of ``create_table``. Append
    tables project their ``dt`` partitions (no partition to load); snapshot tables need ``MSCK
    REPAIR TABLE`` after each snapshot, as the DDL says."""
    partitions = [{"Name": "dt", "Type": "string"}]
    parameters: dict[str, str] = {"classification": "parquet", "parquet.compression": "ZSTD", "EXTERNAL": "TRUE"}
    if spec.kind == tables.APPEND:
        parameters |= {
            "projection.enabled": "true",
            "projection.dt.type": "date",
            "projection.dt.format": "yyyy-MM-dd",
            "projection.dt.range": "2020-01-01,NOW",
            "projection.dt.interval": "1",
            "projection.dt.interval.unit": "DAYS",
        }
    else:
        partitions.append({"Name": "snapshot", "Type": "string"})
    storage: dict[str, object] = {
        "Columns": [
            {"Name": column.name, "Type": hive_type(column.type).lower(), "Comment": column.description}
            for column in spec.columns
        ],
        "Location": {"Fn::Sub": f"${{LakeLocation}}/{spec.name}/"},
        **GLUE_PARQUET,
    }
    return {
        "Type": "AWS::Glue::Table",
        "Properties": {
            "CatalogId": {"Ref": "AWS::AccountId"},
            "DatabaseName": {"Ref": "DatabaseName"},
            "TableInput": {
                "Name": spec.name,
                "Description": spec.description,
                "TableType": "EXTERNAL_TABLE",
                "Parameters": parameters,
                "PartitionKeys": partitions,
                "StorageDescriptor": storage,
            },
        },
    }


def glue_template() -> dict[str, object]:
    """The nested stack of every lake table (``manage.py lake_ddl --cloudformation``)."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "The BNPL data lake's Glue tables, generated by `manage.py lake_ddl --cloudformation` "
        "from bnpl/lake/tables: do not edit by hand (tests/deploy checks they match).",
        "Parameters": {
            "DatabaseName": {"Type": "String", "Description": "The Glue database of the lake"},
            "LakeLocation": {"Type": "String", "Description": "s3://bucket/prefix of the lake, no trailing slash"},
        },
        "Resources": {_resource_name(spec.name): glue_table(spec) for spec in tables.TABLES},
    }
