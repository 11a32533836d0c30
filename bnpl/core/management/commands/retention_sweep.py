"""Apply the retention policy once: ``manage.py retention_sweep`` (docs/operations.md, "Retention").

The same sweep beat runs hourly (``bnpl.core.tasks.retention_sweep``); run it by hand after raising
the batch limits, or repeatedly to catch up a backlog: every batch is bounded and safe to repeat."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bnpl.retention import retention_sweep


class Command(BaseCommand):
    help = (
        "Apply the retention policy: expired idempotency keys, events every reader has passed, settled "
        "webhook deliveries; monthly partitions made ahead and dropped past retention."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="rows per batch (RETENTION_BATCH_SIZE)")
        parser.add_argument("--max-batches", type=int, default=None, help="batches per table (RETENTION_MAX_BATCHES)")

    def handle(self, *args: Any, batch_size: int | None, max_batches: int | None, **options: Any) -> None:
        report = retention_sweep(batch_size=batch_size, max_batches=max_batches)
        self.stdout.write(
            f"idempotency keys: {report.idempotency_keys}, events: {report.events} "
            f"(every reader has passed event {report.event_horizon}), "
            f"webhook deliveries: {report.webhook_deliveries}"
        )
        made = ", ".join(report.partitions_created) or "none"
        dropped = ", ".join(f"{name} ({rows} rows)" for name, rows in report.partitions_dropped.items()) or "none"
        self.stdout.write(f"partitions made: {made}; dropped: {dropped}")
        if report.left_in_default:
            self.stdout.write(f"months left in the DEFAULT partition: {', '.join(report.left_in_default)}")
        if report.partitions_busy:
            self.stdout.write(f"busy, left to the next run: {', '.join(report.partitions_busy)}")
