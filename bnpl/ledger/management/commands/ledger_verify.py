"""Check the ledger's invariants over every row: ``manage.py ledger_verify``.

``ledger_post`` and the append-only triggers keep these true; this command proves it, and catches
rows written around them (raw SQL, a restored backup, a bad migration). It prints the balance of each
account code per mode and currency, then either "Ledger OK: N entries, M postings" or fails with
every violation listed.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, F, Q, Sum

from bnpl.ledger.models import JournalEntry, Posting


class Command(BaseCommand):
    help = "Verify that every journal entry balances in one currency; print per-currency totals per account code."

    def handle(self, *args: Any, **options: Any) -> None:
        self._write_totals()
        violations = [
            *_unbalanced_entries(),
            *_entries_without_postings(),
            *_postings_in_another_currency(),
            *_postings_in_another_mode(),
        ]
        if violations:
            listed = "\n".join(f"  - {violation}" for violation in violations)
            raise CommandError(f"Ledger verification failed with {len(violations)} violation(s):\n{listed}")
        self.stdout.write(
            f"Ledger OK: {JournalEntry.objects.count()} entries, {Posting.objects.count()} postings",
            self.style.SUCCESS,
        )

    def _write_totals(self) -> None:
        rows = (
            Posting.objects.values("account__livemode", "currency", "account__code")
            .annotate(total=Sum("amount"))
            .order_by("account__livemode", "currency", "account__code")
        )
        self.stdout.write("Balances per account code (signed minor units, debit positive, credit negative):")
        for row in rows:
            mode = "live" if row["account__livemode"] else "test"
            self.stdout.write(f"  {mode} {row['currency']} {row['account__code']:<24} {row['total']:>20}")


def _unbalanced_entries() -> list[str]:
    rows = (
        Posting.objects.values("entry__public_id", "currency")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
        .order_by("entry__public_id", "currency")
    )
    return [f"{row['entry__public_id']}: postings in {row['currency']} sum to {row['total']}, not 0" for row in rows]


def _entries_without_postings() -> list[str]:
    entries = (
        JournalEntry.objects.annotate(posting_count=Count("postings"))
        .filter(posting_count=0)
        .order_by("public_id")
        .values_list("public_id", flat=True)
    )
    return [f"{public_id}: has no postings" for public_id in entries]


def _postings_in_another_currency() -> list[str]:
    postings = (
        Posting.objects.filter(~Q(currency=F("account__currency")) | ~Q(currency=F("entry__currency")))
        .values("pk", "currency", "entry__public_id", "entry__currency", "account_id", "account__currency")
        .order_by("entry__public_id", "pk")
    )
    return [
        f"{row['entry__public_id']}: posting {row['pk']} is in {row['currency']}, its entry in "
        f"{row['entry__currency']}, its account {row['account_id']} in {row['account__currency']}"
        for row in postings
    ]


def _postings_in_another_mode() -> list[str]:
    postings = (
        Posting.objects.exclude(account__livemode=F("entry__livemode"))
        .values("pk", "entry__public_id", "entry__livemode", "account_id")
        .order_by("entry__public_id", "pk")
    )
    return [
        f"{row['entry__public_id']}: posting {row['pk']} is on account {row['account_id']} of the other mode "
        f"(entry livemode={row['entry__livemode']})"
        for row in postings
    ]
