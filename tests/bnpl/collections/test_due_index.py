"""The claim finds due installments through the partial index ``installment_due``, not by reading
every installment ever made: with a history of paid ones, a collections day would otherwise grow
with the whole table once per batch (planner choices are deterministic for the same data and
statistics, and ANALYZE reads every row of a table this small)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection

from bnpl.collections import services
from bnpl.core.services import clock_advance
from bnpl.plans.models import Installment
from tests.bnpl.checkout.factories import make_authorized_order
from tests.merchants.factories import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

HISTORY = 20_000  # paid installments beside the few due ones


def _plan_text(sql: str, params: tuple[Any, ...]) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_claim_reads_the_due_index_not_the_whole_history(tenant: Tenant) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("the query plan is PostgreSQL's")
    plans = [make_authorized_order(merchant=tenant.merchant, livemode=False).plan for _ in range(3)]
    clock_advance(by=dt.timedelta(days=14))  # pay in 4: the second installment of each is due
    template = Installment.objects.filter(plan=plans[0]).order_by("sequence").first()
    assert template is not None
    table = Installment._meta.db_table
    changed = {"id": None, "sequence": "100 + step", "paid_amount": "amount", "status": "'paid'", "collect_on": "NULL"}
    columns = [field.column for field in Installment._meta.concrete_fields]
    values = [changed.get(column, column) for column in columns if column != "id"]
    with connection.cursor() as cursor:  # a paid history on the first plan, as years of plans leave
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(column for column in columns if column != 'id')}) "  # nosec B608  # our own table and columns
            f"SELECT {', '.join(str(value) for value in values)} "
            f"FROM {table}, generate_series(1, %s) AS step WHERE id = %s",
            [HISTORY, template.pk],
        )
        cursor.execute(f"ANALYZE {table}")
    claim = services.due_installments().select_for_update(skip_locked=True, of=("self", "plan"))
    sql, params = claim.select_related("plan").order_by("collect_on", "pk")[:50].query.sql_with_params()

    plan = _plan_text(sql, params)

    assert "installment_due" in plan, plan
    assert f"Seq Scan on {table}" not in plan, plan
    assert len(services.due_installments()) == 3
