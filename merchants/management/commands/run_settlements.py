"""Close the settlement batches and pay them out (what the beat schedule does hourly).

By default a batch takes what was captured or refunded before midnight UTC today. ``--cutoff`` closes
it at another moment, no later than now: to catch up on a day a run missed, or to pay a merchant
out before the day ends (what a live check of a deployment does). The batch is the same either way:
everything unsettled before the cutoff, once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from bnpl.core import clock
from merchants.settlements import settlements_run


class Command(BaseCommand):
    help = "Batch captures and refunds before midnight UTC (or --cutoff) per merchant and currency, and pay them out."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cutoff",
            help="an ISO 8601 time with its offset (2026-12-06T12:00:00+00:00), or 'now'; not in the future",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        run = settlements_run(cutoff=_cutoff(options["cutoff"]))
        self.stdout.write(
            f"{run.batches} batch(es): {run.paid} paid ({run.paid_amount} minor units), "
            f"{run.carried_forward} carried forward, {run.failed} failed"
        )


def _cutoff(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    now = clock.now()
    if value == "now":
        return now
    try:
        cutoff = parse_datetime(value)
    except ValueError:
        cutoff = None
    if cutoff is None or cutoff.tzinfo is None:
        raise CommandError(f"--cutoff: {value!r} is not an ISO 8601 time with an offset, nor 'now'")
    if cutoff > now:
        raise CommandError(f"--cutoff: {value} is in the future; a batch closes on what has happened")
    return cutoff
