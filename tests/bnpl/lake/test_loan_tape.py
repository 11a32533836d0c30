"""The loan tape: one row per plan with the decision's features and the realized outcome, and
``train_model --from-lake`` closing the loop: it trains and registers a model on the matured rows."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bnpl.lake import export, reader
from bnpl.lake.tables.loan_tape import plan_outcome
from decisioning.models import ModelVersion
from tests.bnpl.lake.history import make_history
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

DUE = dt.date(2026, 1, 1)


def _installment(due: dt.date, status: str, paid_on: dt.date | None = None, fee: int = 0) -> tuple[Any, ...]:
    paid_at = dt.datetime.combine(paid_on, dt.time(12), tzinfo=dt.UTC) if paid_on else None
    amount = fee or 2_500
    paid = amount if status == "paid" else 0
    return (due, amount, 0 if fee else amount, fee, paid, status, paid_at, bool(fee))


def test_a_plan_paid_on_each_due_date_is_good_once_paid() -> None:
    items = [_installment(DUE + dt.timedelta(days=14 * n), "paid", DUE + dt.timedelta(days=14 * n)) for n in range(4)]

    outcome = plan_outcome(status="paid", standing="current", installments=items, as_of=DUE + dt.timedelta(days=50))

    assert (outcome.matured, outcome.paid_on_time, outcome.max_days_past_due, outcome.bad) == (True, True, 0, False)
    assert (outcome.principal_amount, outcome.paid_amount, outcome.maturity_date) == (
        10_000,
        10_000,
        DUE + dt.timedelta(days=42),
    )


def test_a_plan_paid_late_is_matured_not_on_time_and_bad_only_from_90_days() -> None:
    late = [_installment(DUE, "paid", DUE + dt.timedelta(days=89))]
    very_late = [_installment(DUE, "paid", DUE + dt.timedelta(days=90))]

    first = plan_outcome(status="paid", standing="current", installments=late, as_of=DUE + dt.timedelta(days=100))
    second = plan_outcome(status="paid", standing="current", installments=very_late, as_of=DUE + dt.timedelta(days=100))

    assert (first.paid_on_time, first.max_days_past_due, first.bad) == (False, 89, False)
    assert (second.max_days_past_due, second.bad) == (90, True)


def test_an_active_plan_has_no_label_until_its_outcome_window_closes() -> None:
    items = [_installment(DUE, "paid", DUE), _installment(DUE + dt.timedelta(days=30), "scheduled")]

    young = plan_outcome(status="active", standing="late", installments=items, as_of=DUE + dt.timedelta(days=40))
    old = plan_outcome(status="active", standing="delinquent", installments=items, as_of=DUE + dt.timedelta(days=120))

    assert (young.matured, young.paid_on_time, young.bad, young.max_days_past_due) == (False, None, None, 10)
    assert (old.matured, old.bad, old.max_days_past_due) == (True, True, 90)


def test_a_charged_off_plan_is_bad_and_late_fees_are_not_installments_of_the_loan() -> None:
    items = [_installment(DUE, "paid", DUE), _installment(DUE + dt.timedelta(days=14), "scheduled")]
    items.append(_installment(DUE + dt.timedelta(days=24), "scheduled", fee=1_000))

    outcome = plan_outcome(
        status="active", standing="charged_off", installments=items, as_of=DUE + dt.timedelta(days=20)
    )

    assert (outcome.matured, outcome.charged_off, outcome.bad, outcome.late_fee_amount) == (True, True, True, 1_000)
    assert outcome.max_days_past_due == 6 and outcome.principal_amount == 5_000


def test_the_tape_carries_decision_features_and_outcomes_and_training_closes_the_loop(
    tenant: Tenant, champion: ModelVersion, s3_lake: Any
) -> None:
    plans = make_history(merchant=tenant.merchant, good=21, bad=9, email_tag="+clean")
    export.lake_export(streams=("snapshots",))

    tape = {row["plan_id"]: row for row in reader.read_table(table="loan_tape").to_pylist()}
    assert set(tape) == {plan.public_id for plan in plans}
    good, bad = tape[plans[1].public_id], tape[plans[-1].public_id]
    assert (good["matured"], good["paid_on_time"], good["max_days_past_due"], good["bad"]) == (True, True, 0, False)
    assert (bad["matured"], bad["charged_off"], bad["bad"]) == (True, True, True)
    assert bad["max_days_past_due"] >= 120 and bad["paid_amount"] < bad["total_amount"]
    assert good["model_version_id"] == champion.public_id and good["score"] is not None
    assert (good["revolving_utilization"], good["monthly_income"], good["late_90_plus_count"]) == (0.05, 7500.0, 0.0)
    assert good["decision_id"].startswith("dec_") and good["consumer_key"].startswith("psn_")

    out = StringIO()
    call_command("train_model", "--from-lake", "--min-rows", "30", "--folds", "3", "--rounds", "20", stdout=out)

    trained = ModelVersion.objects.exclude(pk=champion.pk).get()
    assert trained.metrics["rows"] == 30 and trained.metrics["positive_rate"] == pytest.approx(9 / 30, abs=1e-6)
    assert "lake:loan_tape/snapshot=" in out.getvalue() and trained.status == ModelVersion.Status.CANDIDATE


def test_training_from_the_lake_refuses_too_few_matured_plans_and_an_empty_lake(tenant: Tenant, s3_lake: Any) -> None:
    with pytest.raises(CommandError, match="no loan tape yet"):
        call_command("train_model", "--from-lake", stdout=StringIO())

    make_history(merchant=tenant.merchant, good=2, bad=1)
    export.lake_export(streams=("snapshots",))

    with pytest.raises(CommandError, match=r"Only 3 matured plans in the loan tape .* at least 200"):
        call_command("train_model", "--from-lake", stdout=StringIO())
    assert not ModelVersion.objects.exists()
