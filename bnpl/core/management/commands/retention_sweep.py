"""Apply the retention policy once: ``manage.py retention_sweep`` (docs/operations.md, "Retention").

The same sweep beat runs hourly (``bnpl.core.tasks.retention_sweep``); run it by hand after raising
the batch limits, or repeatedly to catch up a backlog: every batch is bounded and safe to repeat."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bnpl.retention import retention_sweep


class Command(BaseCommand):
    help = "Delete what the retention policy lets go: expired idempotency keys, events every reader has passed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="rows per batch (RETENTION_BATCH_SIZE)")
        parser.add_argument("--max-batches", type=int, default=None, help="batches per table (RETENTION_MAX_BATCHES)")

    def handle(self, *args: Any, batch_size: int | None, max_batches: int | None, **options: Any) -> None:
        report = retention_sweep(batch_size=batch_size, max_batches=max_batches)
        self.stdout.write(
            f"idempotency keys: {report.idempotency_keys}, events: {report.events} "
            f"(every reader has passed event {report.event_horizon})"
        )
