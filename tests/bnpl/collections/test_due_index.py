"""The periodic jobs find their rows through partial indexes, not by reading every row ever made:
collections' claim (``installment_due``), lateness (``installment_open_by_due``) and the
every-minute pending-charge sweep (``charge_pending``). With a history of paid installments and
settled charges beside a few open ones, each plan must use its index. (Planner choices are
deterministic for the same data and statistics, and ANALYZE reads every row of tables this small.)"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection, models
from django.test.utils import CaptureQueriesContext

from bnpl.collections import lateness, services
from bnpl.core import clock
from bnpl.core.services import clock_advance
from bnpl.payments.models import Charge
from bnpl.plans.models import Installment
from tests.bnpl.checkout.factories import make_authorized_order
from tests.merchants.factories import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

HISTORY = 20_000  # closed rows beside the few open ones


def _plan_text(queryset: models.QuerySet[Any]) -> str:
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())


def _history(model: type[models.Model], template_pk: int, changed: dict[str, str]) -> None:
    """``HISTORY`` copies of one row, with ``changed`` columns set by SQL expressions of ``step``."""
    table = model._meta.db_table
    columns = [field.column for field in model._meta.concrete_fields if field.column != "id"]
    values = ", ".join(changed.get(column, column) for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} "  # nosec B608  # our own table and columns
            f"FROM {table}, generate_series(1, %s) AS step WHERE id = %s",
            [HISTORY, template_pk],
        )
        cursor.execute(f"ANALYZE {table}")


@pytest.fixture
def history(tenant: Tenant) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("query plans are PostgreSQL's")
    plans = [make_authorized_order(merchant=tenant.merchant, livemode=False).plan for _ in range(3)]
    clock_advance(by=dt.timedelta(days=14))  # pay in 4: the second installment of each is due
    first = Installment.objects.filter(plan=plans[0]).order_by("sequence").first()
    charge = Charge.objects.order_by("pk").first()
    assert first is not None and charge is not None
    closed = {"sequence": "100 + step", "paid_amount": "amount", "status": "'paid'", "collect_on": "NULL"}
    _history(Installment, first.pk, closed)
    _history(
        Charge,
        charge.pk,
        {"public_id": "'ch_history' || step", "idempotency_key": "'history:' || step", "status": "'succeeded'"},
    )


@pytest.mark.usefixtures("history")
def test_the_collections_claim_reads_the_due_index() -> None:
    claim = services.due_installments().select_for_update(skip_locked=True, of=("self", "plan"))
    plan = _plan_text(claim.select_related("plan").order_by("collect_on", "pk")[:50])
    sql, params = services.claim_statement(50).statement(clock.today())  # the one statement the worker runs
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)  # not run: EXPLAIN without ANALYZE clears nothing
        worker = "\n".join(row[0] for row in cursor.fetchall())

    for text in (plan, worker):
        assert "installment_due" in text, text
        assert "Seq Scan on plans_installment" not in text, text
    assert len(services.due_installments()) == 3


@pytest.mark.usefixtures("history")
def test_lateness_reads_the_open_installments_by_due_date() -> None:
    behind = Installment.objects.filter(status=Installment.Status.SCHEDULED, due_date__lt=clock.today())

    plan = _plan_text(behind.values("plan_id"))

    assert "installment_open_by_due" in plan, plan


@pytest.mark.usefixtures("history")
def test_the_pending_charge_sweep_reads_the_pending_index() -> None:
    pending = Charge.objects.filter(status=Charge.Status.PENDING, created_at__lt=clock.now())

    plan = _plan_text(pending)

    assert "charge_pending" in plan, plan
    assert "Seq Scan on payments_charge" not in plan, plan


@pytest.mark.usefixtures("history")
def test_lateness_finds_its_plans_by_joins_not_a_subplan_per_plan() -> None:
    """Inside an OR, ``id IN (overdue installments)`` cannot become a join: PostgreSQL checks each
    plan against a list of every overdue installment (a hash while it fits ``work_mem``, a scan per
    plan once it does not). Charged-off plans keep their unpaid installments scheduled, so the list
    grows with the history: at a million plans that one query ran for minutes (docs/scaling.md)."""
    with CaptureQueriesContext(connection) as queries:
        result = lateness.plans_assess_lateness()

    plans = [_plan_text_of(query["sql"]) for query in queries.captured_queries]
    assert result.plans == 0 and plans
    assert not [plan for plan in plans if "SubPlan" in plan], plans


def _plan_text_of(sql: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())
