"""Collect what is due now: finish attempts a dead worker left behind, assess late fees and
delinquency, then charge every due installment (the work the Celery beat schedule does)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from bnpl.collections import services


class Command(BaseCommand):
    help = "Charge due installments off-session (retries included) and finish stuck attempts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=None, help="installments claimed per transaction")
        parser.add_argument(
            "--stuck-after-seconds",
            type=int,
            default=None,
            help="finish attempts in processing at least this old (default COLLECTION_STUCK_AFTER)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        seconds = options["stuck_after_seconds"]
        work = services.collections_daily_work(
            stuck_after=None if seconds is None else dt.timedelta(seconds=seconds), batch_size=options["batch_size"]
        )
        swept, assessed, ran = work.swept, work.assessed, work.collected
        self.stdout.write(
            f"swept {swept.claimed} stuck attempt(s): {swept.succeeded} succeeded, {swept.failed} failed, "
            f"{swept.pending} still pending\n"
            f"assessed {assessed.plans} late plan(s): {assessed.fees} late fee(s), "
            f"{assessed.standing_changes} standing change(s), {assessed.charged_off} charged off\n"
            f"collected {ran.claimed} installment(s): {ran.succeeded} succeeded, {ran.failed} failed, "
            f"{ran.pending} pending"
        )
