"""``manage.py lake_export``: what the beat tasks do, on demand (events, ledger postings and the
hour's snapshot), resuming whatever batch a dead exporter left."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bnpl.lake import export


class Command(BaseCommand):
    help = "Export the outbox events, ledger postings and the hourly table snapshot to the data lake."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stream", action="append", choices=export.STREAMS, help="only this stream (repeatable; default: all)"
        )
        parser.add_argument("--batch-rows", type=int, default=None, help="rows per batch (default LAKE_BATCH_ROWS)")
        parser.add_argument("--max-batches", type=int, default=None, help="stop after this many batches per stream")
        parser.add_argument(
            "--take-over",
            action="store_true",
            help="take the streams even if another exporter's lease has not run out (it must be dead)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        reports = export.lake_export(
            streams=tuple(options["stream"] or export.STREAMS),
            take_over=options["take_over"],
            batch_rows=options["batch_rows"],
            max_batches=options["max_batches"],
        )
        for report in reports:
            self.stdout.write(str(report))
