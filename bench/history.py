"""Synthetic platform histories for bench/scale.py: a few plans made by the project's own services
(the *templates*), then copied by set-based SQL, as many times as a size needs.

Why copies of service-made rows rather than rows invented in SQL: every row a copy holds was
written by the services once (order, plan, installments, charges, captures, settlements, the
consumer's accounts, journal entries and their postings, decisions, collection attempts), so the
copies have the shapes, states and ledger movements the platform really makes, and a journal entry's
copy balances because its original does. Each copy ``k`` of a template group:

* gets new primary keys past the table's current maximum (``base + k * span + offset``);
* points its foreign keys at the same copy's rows when they point inside the group, at the
  original row otherwise (the merchant, its product, its merchant-level accounts, the model version);
* makes every unique text value unique (a public id of the table's prefix and the new key; other
  values get ``~<new key>`` at their end);
* may move every date and time back by ``shift(k)`` days, all columns of a row alike, so the
  history spreads over past years while each row's own order of events holds.

Tables left out (``SKIPPED``) are the append-only trails that none of the measured operations
reads: outbox events and the audit log (kept 7 years; read by position, never scanned, by the lake's
append stream and the webhook fan-out; the audit log is partitioned by month), webhook deliveries,
notifications and sandbox messages, idempotency keys (about a day of them), and the sandbox
gateway's own record. A history with them is larger on disk, not slower for this work.

The copies are inserted with ``session_replication_role = replica`` (no per-row foreign-key
triggers: at a million plans they would cost more than the inserts); ``dangling_references``
checks every foreign key afterwards with one anti-join each, and the tests run it with
``ledger_verify``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.apps import apps
from django.db import connection, models, transaction

SKIPPED = frozenset(
    {
        "core.auditlogentry",
        "core.event",
        "core.idempotencykey",
        "merchants.webhookdelivery",
        "merchants.webhookdeliveryattempt",
        "payments.sandboxgatewaycharge",
        "consumers.sandboxmessage",
    }
)
SKIPPED_APPS = frozenset({"notifications", "lake", "sessions", "admin", "contenttypes", "auth", "accounts"})
COPIES_PER_STATEMENT = 2_000
STASH = "scale_template"


def _models() -> list[type[models.Model]]:
    """Every concrete table the copies may touch: integer primary keys, not skipped."""
    chosen = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed or meta.app_label in SKIPPED_APPS or meta.label_lower in SKIPPED:
            continue
        if not isinstance(meta.pk, (models.AutoField, models.BigAutoField, models.OneToOneField)):
            continue
        chosen.append(model)
    return chosen


def high_water() -> dict[str, int]:
    """Each table's largest primary key now (0 when empty): rows made after this are a group."""
    marks = {}
    with connection.cursor() as cursor:
        for model in _models():
            table = model._meta.db_table
            cursor.execute(f'SELECT COALESCE(MAX("{model._meta.pk.column}"), 0) FROM "{table}"')  # nosec B608  # our table
            marks[model._meta.label_lower] = int(cursor.fetchone()[0])
    return marks


@dataclass(frozen=True)
class Group:
    """Template rows: per table, the primary keys in ``(low, high]`` (made between two high waters)."""

    ranges: dict[str, tuple[int, int]]

    @classmethod
    def between(cls, before: dict[str, int], after: dict[str, int]) -> Group:
        return cls({label: (before[label], after[label]) for label in after if after[label] > before[label]})

    def rows(self) -> dict[str, int]:
        """How many template rows each table holds (an upper bound where keys have gaps)."""
        return {label: high - low for label, (low, high) in self.ranges.items()}


def _target(field: models.Field[object, object]) -> str:
    """The label of the model a foreign key points at."""
    related = field.related_model
    assert related is not None and not isinstance(related, str), related
    return related._meta.label_lower


def _unique_text_columns(model: type[models.Model], grouped: set[str]) -> set[str]:
    """Text columns that a unique rule holds without a foreign key into the group beside them."""
    meta = model._meta
    columns: set[str] = set()
    rules: list[list[str]] = [[field.name] for field in meta.concrete_fields if field.unique and not field.primary_key]
    rules += [  # a partial rule is left to the database: a copy it refuses fails loudly
        list(constraint.fields)
        for constraint in meta.constraints
        if isinstance(constraint, models.UniqueConstraint) and constraint.condition is None
    ]
    rules += [list(fields) for fields in meta.unique_together]
    for names in rules:
        fields = [meta.get_field(name) for name in names]
        inside = any(isinstance(field, models.ForeignKey) and _target(field) in grouped for field in fields)
        if inside:
            continue
        columns |= {
            field.column
            for field in fields
            if isinstance(field, (models.CharField, models.TextField))  # type: ignore[union-attr]
        }
    return columns


def _expressions(
    model: type[models.Model], group: Group, bases: dict[str, int], shifted: bool
) -> list[tuple[str, str]]:
    """(column, SQL expression over the template row ``t`` and the copy number ``k``)."""
    meta = model._meta
    grouped = set(group.ranges)

    def remapped(column: str, label: str) -> str:
        low, high = group.ranges[label]
        return (
            f'CASE WHEN t."{column}" > {low} AND t."{column}" <= {high} '
            f'THEN t."{column}" - {low} + {bases[label]} + k * {high - low} ELSE t."{column}" END'
        )

    unique_text = _unique_text_columns(model, grouped)
    new_key = remapped(meta.pk.column, meta.label_lower)
    chosen = []
    for field in meta.concrete_fields:
        column = field.column
        if field.primary_key and not isinstance(field, models.ForeignKey):
            expression = new_key
        elif isinstance(field, models.ForeignKey) and _target(field) in grouped:
            expression = remapped(column, _target(field))
        elif column == "public_id":
            prefix = getattr(model, "PUBLIC_ID_PREFIX", "x")
            expression = f"'{prefix}_s' || lpad(({new_key})::text, 22, '0')"
        elif column in unique_text:
            length = getattr(field, "max_length", None) or 255
            suffix = f"'~' || ({new_key})::text"
            kept = f'left(t."{column}", {length} - length({suffix}))'
            expression = f'CASE WHEN t."{column}" IS NULL THEN NULL ELSE {kept} || {suffix} END'
        elif shifted and isinstance(field, (models.DateTimeField, models.DateField)):
            expression = f't."{column}" - make_interval(days => ((k * 7) % 730)::int)'
            if not isinstance(field, models.DateTimeField):
                expression = f"({expression})::date"
        else:
            expression = f't."{column}"'
        chosen.append((column, expression))
    return chosen


def stash(group: Group) -> None:
    """Move the group's rows out of the live tables into schema ``STASH`` (whole rows, every
    entry with all its postings): copies are made from there, and the originals do no work."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {STASH}")
        for label in _labels(group):
            model = apps.get_model(label)
            low, high = group.ranges[label]
            table, pk = model._meta.db_table, model._meta.pk.column
            where = f'WHERE "{pk}" > {low} AND "{pk}" <= {high}'
            cursor.execute(f'CREATE TABLE {STASH}."{table}" AS SELECT * FROM "{table}" {where}')  # nosec B608
            cursor.execute(f'DELETE FROM "{table}" {where}')  # nosec B608  # our tables


def _labels(group: Group) -> list[str]:
    chosen = {model._meta.label_lower for model in _models()}
    return [label for label in group.ranges if label in chosen]


def copies_insert(
    group: Group,
    *,
    copies: int,
    shifted: bool,
    source: str = "public",
    progress: Callable[[str], None] | None = None,
) -> None:
    """``copies`` copies of every row of ``group`` (see the module's docstring), then each
    table's key sequence moved past them."""
    if copies <= 0:
        return
    labels = _labels(group)
    for first in range(0, copies, COPIES_PER_STATEMENT):
        count = min(COPIES_PER_STATEMENT, copies - first)
        bases = high_water()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            for label in labels:
                model = apps.get_model(label)
                low, high = group.ranges[label]
                chosen = _expressions(model, group, bases, shifted)
                names = ", ".join(f'"{column}"' for column, _ in chosen)
                values = ", ".join(expression for _, expression in chosen)
                pk = model._meta.pk.column
                cursor.execute(
                    f'INSERT INTO "{model._meta.db_table}" ({names}) SELECT {values} '  # nosec B608  # our tables
                    f'FROM "{source}"."{model._meta.db_table}" t, generate_series(0, {count - 1}) k '
                    f'WHERE t."{pk}" > {low} AND t."{pk}" <= {high}'
                )
        if progress:
            progress(f"{first + count:,} of {copies:,} copies")
    sequences_reset(labels)


def sequences_reset(labels: Iterable[str]) -> None:
    with connection.cursor() as cursor:
        for label in labels:
            model = apps.get_model(label)
            if isinstance(model._meta.pk, models.ForeignKey):
                continue
            table, column = model._meta.db_table, model._meta.pk.column
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "  # nosec B608  # our tables
                f'(SELECT GREATEST(MAX("{column}"), 1) FROM "{table}"))'
            )


def dangling_references() -> list[str]:
    """Every foreign key of the copied tables whose row is missing: one anti-join per key."""
    found = []
    with connection.cursor() as cursor:
        for model in _models():
            for field in model._meta.concrete_fields:
                if not isinstance(field, models.ForeignKey):
                    continue
                target = apps.get_model(_target(field))._meta
                cursor.execute(
                    f'SELECT COUNT(*) FROM "{model._meta.db_table}" t WHERE t."{field.column}" IS NOT NULL '  # nosec B608
                    f'AND NOT EXISTS (SELECT 1 FROM "{target.db_table}" r '
                    f'WHERE r."{field.target_field.column}" = t."{field.column}")'
                )
                missing = int(cursor.fetchone()[0])
                if missing:
                    found.append(f"{model._meta.label}.{field.name}: {missing} rows point nowhere")
    return found
