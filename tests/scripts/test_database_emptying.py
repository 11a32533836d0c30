"""What a test that commits leaves behind is emptied as Django's ``flush`` would (tests/emptying.py):
every model's table, the append-only ones included, which still refuse a DELETE afterwards."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import TransactionTestCase

from bnpl.core.models import AuditLogEntry
from bnpl.ledger.models import Posting
from tests import emptying
from tests.bnpl.checkout.factories import make_order
from tests.merchants.factories import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _rows() -> dict[str, int]:
    tables = connection.introspection.django_table_names(only_existing=True, include_views=False)
    with connection.cursor() as cursor:
        cursor.execute(
            " UNION ALL ".join(f"SELECT '{name}', count(*) FROM {connection.ops.quote_name(name)}" for name in tables)
        )
        return dict(cursor.fetchall())


def test_every_table_is_emptied_the_append_only_ones_by_truncation(tenant: Tenant) -> None:
    make_order(merchant=tenant.merchant, livemode=False)  # an order, its plan, ledger entries, audit rows
    filled = {name for name, count in _rows().items() if count}
    assert {"checkout_order", "plans_installment", "ledger_posting", "core_auditlogentry", "core_event"} <= filled
    for append_only in (Posting, AuditLogEntry):  # a DELETE is refused: these must be truncated
        with pytest.raises(DatabaseError), transaction.atomic():
            append_only.objects.all().delete()

    emptying.database_empty(connection)

    assert {name: count for name, count in _rows().items() if count} == {}


def test_the_teardown_of_a_test_that_commits_is_this_one() -> None:
    assert TransactionTestCase._fixture_teardown is emptying._fixture_teardown  # type: ignore[attr-defined]
