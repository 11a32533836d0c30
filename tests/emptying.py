"""How the test database is emptied after a test that commits (``transactional_db``, live servers,
``django_db(transaction=True)``).

Django's ``flush`` truncates every table. On PostgreSQL a TRUNCATE gives each table and each of its
indexes a new file, so emptying ~90 tables with ~440 indexes cost the server a quarter of a second
of CPU after every such test, most of the tables already empty (a few seconds each on a busy CI
machine, where a few hundred of these tests run). Here one transaction deletes every table's rows
instead, which costs next to nothing for an empty table. The tables that refuse a DELETE (the
append-only audit log, ledger and webhook attempts: a trigger raises) are truncated, with the
tables that reference them, as TRUNCATE requires. Every foreign key is checked at the commit (all
are deferrable), so the order of the statements does not matter. Then, as after ``flush``, the
post_migrate signal makes the content types and permissions again.

What is emptied is what ``flush`` empties (the models' tables, not ``django_migrations`` nor
anything outside the project's schema), and sequences go on as they do after ``flush`` without
``reset_sequences``. On another engine, or for a test that names ``available_apps``, Django's own
``flush`` runs as before.
"""

from __future__ import annotations

from typing import Any

from django.core.management.sql import emit_post_migrate_signal
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.test import TransactionTestCase

# Tables with a trigger that fires on DELETE (the append-only ones), and every table referencing
# one of them, however indirectly: TRUNCATE must name a table's referrers with it.
_TRUNCATED = """
WITH RECURSIVE guarded(relation) AS (
    SELECT tgrelid FROM pg_trigger WHERE NOT tgisinternal AND (tgtype & 8) <> 0
    UNION
    SELECT constraints.conrelid
    FROM pg_constraint AS constraints JOIN guarded ON constraints.confrelid = guarded.relation
    WHERE constraints.contype = 'f'
)
SELECT DISTINCT relname FROM guarded JOIN pg_class ON pg_class.oid = guarded.relation
"""


def database_empty(connection: BaseDatabaseWrapper) -> None:
    """Delete every row of the models' tables in one transaction (PostgreSQL), truncating those
    that refuse a DELETE."""
    tables = set(connection.introspection.django_table_names(only_existing=True, include_views=False))
    quote = connection.ops.quote_name
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute(_TRUNCATED)
        truncated = sorted(tables & {name for (name,) in cursor.fetchall()})
        statements = ["SET CONSTRAINTS ALL DEFERRED"]
        if truncated:
            statements.append(f"TRUNCATE {', '.join(quote(name) for name in truncated)}")
        statements += [f"DELETE FROM {quote(name)}" for name in sorted(tables.difference(truncated))]
        cursor.execute("; ".join(statements))


_django_fixture_teardown = TransactionTestCase._fixture_teardown  # type: ignore[attr-defined]


def _fixture_teardown(self: TransactionTestCase) -> None:
    """``TransactionTestCase._fixture_teardown`` with ``database_empty`` in place of ``flush`` when
    every database is PostgreSQL and the test names no ``available_apps`` (then the same signal
    afterwards, under the same condition); Django's own otherwise."""
    aliases = self._databases_names(include_mirrors=False)  # type: ignore[attr-defined]
    if self.available_apps is not None or any(connections[alias].vendor != "postgresql" for alias in aliases):
        _django_fixture_teardown(self)
        return
    for alias in aliases:
        database_empty(connections[alias])
        if not (self.serialized_rollback and hasattr(connections[alias], "_test_serialized_contents")):
            emit_post_migrate_signal(verbosity=0, interactive=False, db=alias)


def install() -> None:
    """Empty committed tests' databases with ``database_empty`` (tests/conftest.py, once)."""
    target: Any = TransactionTestCase
    target._fixture_teardown = _fixture_teardown
