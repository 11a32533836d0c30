"""Every new migration is safe for a rolling deploy (docs/operations.md, "Expand and contract"):
while the new release rolls out, the old code still runs against the migrated schema, so a migration
may not drop or rename a column or table the old code reads, add a NOT NULL column without a
database default, or add a constraint the old code's writes could break. django-migration-linter
reads the SQL each migration runs (``sqlmigrate``, PostgreSQL's) and flags those operations.

The migrations below were released before this rule; each is applied in every database, so
changing them would change nothing. They are named one by one with what the linter finds: a
migration that is not in this list is checked, and one that is flagged fails this test."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_migration_linter import MigrationLinter

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

# The project's own apps (third-party apps' migrations are their maintainers' business).
PROJECT_APPS = [
    "accounts",
    "checkout",
    "collections",
    "core",
    "lake",
    "ledger",
    "notifications",
    "payments",
    "plans",
    "tenancy",
    "consumers",
    "decisioning",
    "merchants",
    "partners",
]

RELEASED_BEFORE_THE_RULE = "released before the expand/contract rule (issue 18); applied everywhere"
GRANDFATHERED: dict[tuple[str, str], str] = {
    ("checkout", "0002_product_limits_and_fee_terms"): f"NOT NULL columns; {RELEASED_BEFORE_THE_RULE}",
    ("checkout", "0007_card_network_disputes"): f"NOT NULL columns, a unique constraint; {RELEASED_BEFORE_THE_RULE}",
    ("core", "0007_idempotency_key_owner"): (
        "a unique index, built CONCURRENTLY, over rows (merchant_id IS NULL) that no earlier release writes: "
        "no existing row can break it and no write waits for it (the linter flags every unique addition)"
    ),
    ("consumers", "0005_reminders"): f"NOT NULL columns; {RELEASED_BEFORE_THE_RULE}",
    ("consumers", "0006_one_time_code_bound_to_requester"): f"drops a table, NOT NULL; {RELEASED_BEFORE_THE_RULE}",
    ("consumers", "0009_sandbox_message_html"): f"NOT NULL columns; {RELEASED_BEFORE_THE_RULE}",
    ("decisioning", "0003_decision_model_fields"): f"NOT NULL columns; {RELEASED_BEFORE_THE_RULE}",
    ("decisioning", "0004_manual_review"): f"NOT NULL columns; {RELEASED_BEFORE_THE_RULE}",
    ("decisioning", "0005_bank_data_and_limits"): f"a data migration without reverse; {RELEASED_BEFORE_THE_RULE}",
    (
        "decisioning",
        "0006_bank_data_attributed_to_sources",
    ): f"drops columns, NOT NULL, unique; {RELEASED_BEFORE_THE_RULE}",
    ("merchants", "0004_payout_account"): f"NOT NULL columns; {RELEASED_BEFORE_THE_RULE}",
    ("merchants", "0006_api_key_hash_secret_fingerprint"): f"NOT NULL columns; {RELEASED_BEFORE_THE_RULE}",
    ("merchants", "0008_settlement_line_reason"): f"NOT NULL columns; {RELEASED_BEFORE_THE_RULE}",
    ("payments", "0007_per_mode_required"): f"NOT NULL columns, a unique constraint; {RELEASED_BEFORE_THE_RULE}",
    ("plans", "0006_late_fees_and_standing"): f"NOT NULL columns; {RELEASED_BEFORE_THE_RULE}",
    ("plans", "0007_hardship_and_due_date_moves"): f"NOT NULL columns; {RELEASED_BEFORE_THE_RULE}",
}


class _RecordingLinter(MigrationLinter):
    """Notes which migrations the linter finds backward incompatible (it only counts them)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.flagged: list[tuple[str, str]] = []

    def lint_migration(self, migration: object) -> None:
        before = self.nb_erroneous
        super().lint_migration(migration)  # type: ignore[arg-type]
        if self.nb_erroneous > before:
            self.flagged.append((migration.app_label, migration.name))  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def linter(django_db_setup: None, django_db_blocker: Any) -> _RecordingLinter:
    """Lints once for both tests (``sqlmigrate`` for every migration takes seconds)."""
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            pytest.skip("the linter reads PostgreSQL's SQL for each migration")
        linted = _RecordingLinter(
            include_apps=PROJECT_APPS, no_cache=True, no_output=True, analyser_string="postgresql"
        )
        linted.lint_all_migrations()
    return linted


def test_no_migration_outside_the_grandfathered_list_breaks_a_rolling_deploy(linter: _RecordingLinter) -> None:
    new_offenders = [name for name in linter.flagged if name not in GRANDFATHERED]
    assert not new_offenders, (
        f"{new_offenders}: backward incompatible for a rolling deploy. Split it (docs/operations.md, "
        "'Expand and contract'): add the column nullable or with db_default, backfill, constrain in a later release."
    )
    assert linter.nb_total > 50  # it did read the project's migrations


def test_the_grandfathered_list_names_only_migrations_the_linter_still_flags(linter: _RecordingLinter) -> None:
    """A migration fixed or removed leaves the list, so the list never hides more than it must."""
    assert set(GRANDFATHERED) <= set(linter.flagged)
