"""``manage.py lake_ddl``: print the Athena / Glue DDL of every lake table."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bnpl.lake.ddl import all_statements, markdown_reference


class Command(BaseCommand):
    help = "Print CREATE EXTERNAL TABLE statements (Athena / Glue) for every data-lake table."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--location", help="s3://bucket/prefix of the lake (default: from LAKE_S3_BUCKET)")
        parser.add_argument("--database", default="bnpl_lake", help="database name (default: bnpl_lake)")
        parser.add_argument(
            "--markdown", action="store_true", help="print the table and column reference of docs/data-lake.md instead"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["markdown"]:
            self.stdout.write(markdown_reference(), ending="")
            return
        self.stdout.write(all_statements(location=options["location"], database=options["database"]), ending="")
