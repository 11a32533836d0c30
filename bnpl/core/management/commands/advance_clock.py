"""Move the sandbox clock forward: ``manage.py advance_clock --days 14`` (sandbox mode only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bnpl.core import clock
from bnpl.core.context import Actor
from bnpl.core.errors import ApplicationError


class Command(BaseCommand):
    help = "Move the project clock forward (sandbox mode only). Reminders, collections, expiry follow."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=0)
        parser.add_argument("--hours", type=int, default=0)

    def handle(self, *args: Any, days: int, hours: int, **options: Any) -> None:
        by = dt.timedelta(days=days, hours=hours)
        try:
            total = clock.advance(by=by, actor=Actor(kind="operator", identifier="manage.py", label="advance_clock"))
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Clock moved forward by {by}; total offset {total}; now {clock.now().isoformat()}")
