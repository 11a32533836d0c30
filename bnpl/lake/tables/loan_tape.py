"""The loan tape, and what makes a loan bad for training: one row per plan with the features its
approving decision saw and its realized outcome as of the snapshot.

The label lives here, beside the tape that carries it, rather than in ``decisioning``: it is a fact
about how a plan was repaid (its installments, standing and status), computed from the lake's own
reads, and ``decisioning.training`` takes it as given (``SeriousDlqin2yrs``) from whatever table it
trains on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from django.db.models import Q

from bnpl.lake.tables.base import SNAPSHOT, Column, Join, Scope, TableSpec, column, consumer_key, money, string, tenant
from bnpl.lake.tables.decisions import feature_columns

# A plan's outcome is final once it is paid, cancelled or charged off, or this long after its last
# due date (so that a last installment 90 days past due can be seen): "matured".
OUTCOME_WINDOW_DAYS = 90
BAD_DAYS_PAST_DUE = 90  # Give Me Some Credit's SeriousDlqin2yrs: 90 days or more past due


@dataclass(frozen=True)
class Outcome:
    maturity_date: dt.date | None
    matured: bool
    max_days_past_due: int
    paid_on_time: bool | None
    charged_off: bool
    bad: bool | None
    principal_amount: int
    total_amount: int
    paid_amount: int
    late_fee_amount: int


def plan_outcome(*, status: str, standing: str, installments: list[tuple[Any, ...]], as_of: dt.date) -> Outcome:
    """A plan's realized outcome as of a date, from its installments
    ``(due_date, amount, principal, fee, paid_amount, status, paid_at, is_fee)``.

    Days past due of an installment: paid ones, how late they were paid; unpaid ones, how late they
    are now. ``bad`` follows Give Me Some Credit's SeriousDlqin2yrs: 90 or more days past due (or
    charged off, which comes later) within the plan's life, which for these products is well inside
    two years; it is only given once the plan has matured."""
    regular = [item for item in installments if not item[7]]
    maturity = max((item[0] for item in regular), default=None)
    lateness = [_days_past_due(item, as_of) for item in regular]
    worst = max(lateness, default=0)
    charged_off = standing == "charged_off"
    matured = (
        status in ("paid", "canceled")
        or charged_off
        or (maturity is not None and as_of >= maturity + dt.timedelta(days=OUTCOME_WINDOW_DAYS))
    )
    paid_on_time = all(item[5] in ("paid", "canceled") for item in regular) and worst == 0 if matured else None
    return Outcome(
        maturity_date=maturity,
        matured=matured,
        max_days_past_due=worst,
        paid_on_time=paid_on_time,
        charged_off=charged_off,
        bad=(charged_off or worst >= BAD_DAYS_PAST_DUE) if matured else None,
        principal_amount=sum(item[2] for item in regular),
        total_amount=sum(item[1] for item in regular),
        paid_amount=sum(item[4] for item in installments),
        late_fee_amount=sum(item[3] for item in installments if item[7]),
    )


def _days_past_due(item: tuple[Any, ...], as_of: dt.date) -> int:
    due_date, status, paid_at = item[0], item[5], item[6]
    if status == "paid" and paid_at is not None:
        return max(0, (paid_at.date() - due_date).days)
    if status == "scheduled":
        return max(0, (as_of - due_date).days)
    return 0


# --- Reading the tape: plans, joined a chunk at a time to their installments and decisions ----------

DECISION = "decision."  # the approving decision's fields, as the join names them in a plan's record
DECISION_FIELDS = ("public_id", "model_version__public_id", "score", "model_inputs", "features", "cash_flow")
NO_DECISION = {DECISION + field: None for field in DECISION_FIELDS}


def _add_outcomes_and_decisions(records: list[dict[str, Any]], scope: Scope) -> None:
    """Each plan's outcome as of the snapshot's date (``outcome.…``) and its approving decision
    (``decision.…``, all null when there is none)."""
    assert scope.as_of is not None
    as_of = scope.as_of.date()
    installments = _installments([record["pk"] for record in records])
    decisions = _approving_decisions([record["order__checkout_session_id"] for record in records])
    for record in records:
        outcome = plan_outcome(
            status=record["status"], standing=record["standing"], installments=installments[record["pk"]], as_of=as_of
        )
        record.update({f"outcome.{name}": value for name, value in vars(outcome).items()})
        record["outcome.as_of_date"] = as_of
        record.update(decisions.get(record["order__checkout_session_id"], NO_DECISION))


def _installments(plan_keys: list[int]) -> dict[int, list[tuple[Any, ...]]]:
    """Each plan's installments as ``plan_outcome`` takes them."""
    from bnpl.plans.models import Installment

    installments: dict[int, list[tuple[Any, ...]]] = {key: [] for key in plan_keys}
    for plan_key, *item in Installment.objects.filter(plan_id__in=plan_keys).values_list(
        "plan_id",
        "due_date",
        "amount",
        "principal_amount",
        "fee_amount",
        "paid_amount",
        "status",
        "paid_at",
        "fee_for",
    ):
        installments[plan_key].append((*item[:7], item[7] is not None))
    return installments


def _approving_decisions(session_keys: list[int]) -> dict[int, dict[str, Any]]:
    """For each checkout session, the latest decision that let the plan exist: an approval, or a
    referral a person approved."""
    from decisioning.models import CreditDecision

    found: dict[int, dict[str, Any]] = {}
    rows = (
        CreditDecision.objects.filter(checkout_session_id__in=session_keys)
        .filter(Q(outcome__in=CreditDecision.APPROVALS) | Q(review_status="approved"))
        .order_by("checkout_session_id", "created_at", "pk")
        .values_list("checkout_session_id", *DECISION_FIELDS)
    )
    for session, *decision in rows:  # the latest wins
        found[session] = {DECISION + name: value for name, value in zip(DECISION_FIELDS, decision, strict=True)}
    return found


def _outcome(name: str, kind: pa.DataType, description: str) -> Column:
    """A column of the plan's ``Outcome``, named like its attribute."""
    return column(name, kind, description, source=f"outcome.{name}")


def _date(value: dt.datetime) -> dt.date:
    return value.date()


LOAN_TAPE = TableSpec(
    name="loan_tape",
    kind=SNAPSHOT,
    stream="snapshots",
    description=(
        "One row per plan: the features the decision saw and the realized outcome as of the snapshot. "
        "Train only on matured rows; `bad` is the label (SeriousDlqin2yrs semantics)."
    ),
    model="plans.Plan",
    columns=(
        string("plan_id", "public id (pln_…)", source="public_id"),
        *tenant(),
        consumer_key("the consumer's pseudonym (psn_…)"),
        string("product_kind", "pay_in_4, pay_in_30 or financing", source="product__kind"),
        column(
            "installment_count",
            pa.int32(),
            "the product's number of installments",
            source="product__installment_count",
        ),
        string("currency", "ISO 4217"),
        column("apr_bps", pa.int64(), "nominal interest rate, basis points (not the disclosed APR)"),
        money(
            "principal_amount",
            "financed (principal of the regular installments, after refunds)",
            source="outcome.principal_amount",
        ),
        money("total_amount", "owed in regular installments: principal + interest", source="outcome.total_amount"),
        string("decision_id", "the approving decision (dec_…)", source=DECISION + "public_id"),
        string(
            "model_version_id",
            "the model that scored it (mdl_…); null when the rules decided alone",
            source=DECISION + "model_version__public_id",
        ),
        column("score", pa.float64(), "its calibrated probability of default", source=DECISION + "score"),
        *feature_columns(via=DECISION),
        column("origination_date", pa.date32(), "when the plan was made", source="created_at", convert=_date),
        _outcome("maturity_date", pa.date32(), "the last regular installment's due date"),
        _outcome("as_of_date", pa.date32(), "the date the outcome columns describe (the snapshot's)"),
        string("status", "active, paid or canceled"),
        string("standing", "current, late, delinquent or charged_off"),
        money("paid_amount", "paid so far, late fees included", source="outcome.paid_amount"),
        money("late_fee_amount", "late fees charged", source="outcome.late_fee_amount"),
        _outcome(
            "matured",
            pa.bool_(),
            f"the outcome is final: paid, cancelled, charged off, or {OUTCOME_WINDOW_DAYS} days past maturity",
        ),
        _outcome("paid_on_time", pa.bool_(), "every regular installment paid by its due date (null until matured)"),
        _outcome("max_days_past_due", pa.int32(), "the worst days past due of any regular installment so far"),
        _outcome("charged_off", pa.bool_(), "written off as a credit loss"),
        _outcome(
            "bad",
            pa.bool_(),
            f"{BAD_DAYS_PAST_DUE}+ days past due or charged off (SeriousDlqin2yrs); null until matured",
        ),
    ),
    join=Join(fields=("status", "standing", "order__checkout_session_id"), add=_add_outcomes_and_decisions),
)
