"""Move the sandbox clock forward: ``manage.py advance_clock --days 14`` (sandbox mode only).

With ``--run-daily-work`` the clock moves a day at a time and each day's time-based work runs at
once, in the order the beat schedule would run it within a day: checkout sessions and
authorizations expire (with their warnings), payment reminders go out, consumers' balances (from
refunds their card refused) pay their next installments, unanswered disputes go to an operator,
late fees and delinquency are assessed, due installments are collected (with their retries),
settled payments are applied, and merchants are settled and paid out. A plan's whole
life plays out in one command instead of waiting for the beat schedule after one jump."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bnpl.core import clock
from bnpl.core.context import Actor
from bnpl.core.errors import ApplicationError
from bnpl.core.services import clock_advance


class Command(BaseCommand):
    help = "Move the project clock forward (sandbox mode only). Reminders, collections, expiry follow."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=0)
        parser.add_argument("--hours", type=int, default=0)
        parser.add_argument(
            "--run-daily-work",
            action="store_true",
            help=(
                "step a day at a time, running each day's work after it: expiry of sessions and "
                "authorizations, reminders, disputes, late fees, collections, settlements"
            ),
        )

    def handle(self, *args: Any, days: int, hours: int, run_daily_work: bool, **options: Any) -> None:
        by = dt.timedelta(days=days, hours=hours)
        actor = Actor(kind="operator", identifier="manage.py", label="advance_clock")
        steps = [dt.timedelta(days=1)] * days + ([dt.timedelta(hours=hours)] if hours else [])
        try:
            if not run_daily_work or by <= dt.timedelta(0):
                total = clock_advance(by=by, actor=actor)
            else:
                for step in steps:
                    total = clock_advance(by=step, actor=actor)
                    self._daily_work()
        except ApplicationError as error:
            raise CommandError(error.message) from error
        self.stdout.write(f"Clock moved forward by {by}; total offset {total}; now {clock.now().isoformat()}")

    def _daily_work(self) -> None:
        from bnpl.checkout.orders import orders_expire
        from bnpl.checkout.sessions import checkout_sessions_expire
        from bnpl.collections.reminders import reminders_send_upcoming
        from bnpl.collections.services import collections_daily_work
        from bnpl.servicing.balances import balances_settle
        from bnpl.servicing.services import plan_payments_apply_settled
        from merchants.settlements import settlements_run

        sessions_expired = checkout_sessions_expire()
        warned, expired = orders_expire()
        reminded = reminders_send_upcoming()
        balances = balances_settle()
        work = collections_daily_work()
        applied = plan_payments_apply_settled()
        settled = settlements_run()
        assessed, collected = work.assessed, work.collected
        parts = [
            (collected.succeeded, "collected"),
            (collected.failed, "failed"),
            (assessed.fees, "late fee(s)"),
            (assessed.standing_changes, "standing change(s)"),
            (reminded, "reminder(s)"),
            (balances, "consumer balance(s) applied or booked"),
            (warned, "authorization(s) expiring soon"),
            (expired, "authorization(s) expired"),
            (sessions_expired, "checkout session(s) expired"),
            (work.escalated, "dispute(s) escalated"),
            (applied, "late-settled payment(s) applied"),
            (settled.batches, "settlement(s)"),
            (settled.paid, "payout(s)"),
        ]
        said = [f"{count} {what}" for count, what in parts if count]
        if said:
            self.stdout.write(f"{clock.today()}: " + ", ".join(said))
