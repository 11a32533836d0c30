"""Close today's settlement batches and pay them out (what the beat schedule does hourly)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from merchants.settlements import settlements_run


class Command(BaseCommand):
    help = "Batch captures and refunds before midnight UTC per merchant and currency, and pay the batches out."

    def handle(self, *args: Any, **options: Any) -> None:
        run = settlements_run()
        self.stdout.write(
            f"{run.batches} batch(es): {run.paid} paid ({run.paid_amount} minor units), "
            f"{run.carried_forward} carried forward, {run.failed} failed"
        )
