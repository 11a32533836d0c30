"""``manage.py lake_ddl``: print every lake table's DDL for Athena / Glue (default), Spark SQL or DuckDB."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bnpl.lake.ddl import ENGINES, all_statements, glue_template, markdown_reference


class Command(BaseCommand):
    help = "Print the statements that declare every data-lake table in Athena / Glue, Spark SQL or DuckDB."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--location", help="s3://bucket/prefix of the lake (default: from LAKE_S3_BUCKET)")
        parser.add_argument("--database", default="bnpl_lake", help="database name (default: bnpl_lake)")
        parser.add_argument(
            "--engine", choices=ENGINES, default="athena", help="the engine that reads the lake (default: athena)"
        )
        parser.add_argument(
            "--markdown", action="store_true", help="print the table and column reference of docs/data-lake.md instead"
        )
        parser.add_argument(
            "--cloudformation",
            action="store_true",
            help="print the Glue tables as a CloudFormation template instead (deploy/aws/lake-tables.json)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["markdown"]:
            self.stdout.write(markdown_reference(), ending="")
            return
        if options["cloudformation"]:
            self.stdout.write(json.dumps(glue_template(), indent=2, ensure_ascii=False) + "\n", ending="")
            return
        ddl = all_statements(location=options["location"], database=options["database"], engine=options["engine"])
        self.stdout.write(ddl, ending="")
