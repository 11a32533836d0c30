"""Credit decisions, with the feature snapshot each one saw as columns of its own."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from bnpl.lake.tables.base import (
    SNAPSHOT,
    Column,
    Convert,
    TableSpec,
    boolean,
    column,
    consumer_key,
    floating,
    integer,
    money,
    string,
    tenant,
    timestamp,
)

# The model's inputs (bureau + platform): the lake's column and the Give Me Some Credit spec's name,
# which is also the key in the decision's stored ``model_inputs``. Age is neither exported nor a
# model input (a protected characteristic).
MODEL_FEATURE_COLUMNS: dict[str, str] = {
    "revolving_utilization": "RevolvingUtilizationOfUnsecuredLines",
    "late_30_59_count": "NumberOfTime30-59DaysPastDueNotWorse",
    "late_60_89_count": "NumberOfTime60-89DaysPastDueNotWorse",
    "late_90_plus_count": "NumberOfTimes90DaysLate",
    "debt_ratio": "DebtRatio",
    "monthly_income": "MonthlyIncome",
    "open_credit_lines": "NumberOfOpenCreditLinesAndLoans",
    "real_estate_loans": "NumberRealEstateLoansOrLines",
}


def _scalar(kind: pa.DataType) -> Convert:
    if pa.types.is_boolean(kind):
        return boolean
    if pa.types.is_integer(kind):
        return integer
    return floating


def _stored(name: str, kind: pa.DataType, description: str, *, field: str, key: str) -> Column:
    """A column read from ``key`` of a JSON field the decision stored (null when the key is absent)."""
    scalar = _scalar(kind)

    def convert(document: Any) -> Any:
        return scalar((document or {}).get(key))

    return column(name, kind, description, source=field, convert=convert)


def feature_columns(*, via: str = "") -> tuple[Column, ...]:
    """The decision's feature snapshot: the model's inputs, the policy's features and the bank cash
    flow; ``via``: where the decision's fields are (``decision.`` when a join adds them)."""
    inputs, policy, cash_flow = f"{via}model_inputs", f"{via}features", f"{via}cash_flow"
    return (
        *(
            _stored(
                name,
                pa.float64(),
                f"model input {key} at decision time (null: unknown)",
                field=inputs,
                key=key,
            )
            for name, key in MODEL_FEATURE_COLUMNS.items()
        ),
        _stored(
            "identity_verified",
            pa.bool_(),
            "policy: the identity basics were complete",
            field=policy,
            key="identity_verified",
        ),
        _stored(
            "plans_in_arrears",
            pa.int64(),
            "policy: the consumer's plans behind at decision time",
            field=policy,
            key="plans_in_arrears",
        ),
        _stored(
            "installments_past_due",
            pa.int64(),
            "policy: their installments past due",
            field=policy,
            key="installments_past_due",
        ),
        _stored(
            "outstanding_amount",
            pa.int64(),
            "policy: owed across active plans (minor units)",
            field=policy,
            key="outstanding_amount",
        ),
        _stored(
            "exposure_limit_amount",
            pa.int64(),
            "policy: most one consumer may owe (minor units)",
            field=policy,
            key="exposure_limit_amount",
        ),
        _stored(
            "cash_flow_months_observed",
            pa.int64(),
            "bank data: months in the window",
            field=cash_flow,
            key="months_observed",
        ),
        _stored(
            "cash_flow_monthly_income_amount",
            pa.int64(),
            "bank data: income per month (minor units)",
            field=cash_flow,
            key="monthly_income",
        ),
        _stored(
            "cash_flow_income_regularity",
            pa.float64(),
            "bank data: 1 - CV of monthly income",
            field=cash_flow,
            key="income_regularity",
        ),
        _stored(
            "cash_flow_average_balance_amount",
            pa.int64(),
            "bank data: mean balance (minor units)",
            field=cash_flow,
            key="average_balance",
        ),
        _stored(
            "cash_flow_net_flow_volatility",
            pa.float64(),
            "bank data: volatility of net flow",
            field=cash_flow,
            key="net_flow_volatility",
        ),
        _stored(
            "cash_flow_nsf_overdraft_events",
            pa.int64(),
            "bank data: NSF/overdraft events, 3 months",
            field=cash_flow,
            key="nsf_overdraft_events",
        ),
        _stored(
            "cash_flow_debt_to_income",
            pa.float64(),
            "bank data: debt repayments over income",
            field=cash_flow,
            key="debt_to_income",
        ),
        _stored(
            "cash_flow_free_cash_flow_amount",
            pa.int64(),
            "bank data: free cash flow (minor units)",
            field=cash_flow,
            key="free_cash_flow",
        ),
    )


def _reason_codes(reasons: Any) -> list[str]:
    return [str(reason.get("code", "")) for reason in (reasons or []) if isinstance(reason, dict)]


CREDIT_DECISIONS = TableSpec(
    name="credit_decisions",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Every credit decision with the features it saw, the model version and its score.",
    model="decisioning.CreditDecision",
    columns=(
        string("decision_id", "public id (dec_…)", source="public_id"),
        *tenant(),
        consumer_key("the consumer's pseudonym (psn_…)"),
        string("checkout_session_id", "the checkout session (cs_…)", source="checkout_session__public_id"),
        string("product_kind", "pay_in_4, pay_in_30 or financing"),
        money("amount", "asked for"),
        string("currency", "ISO 4217"),
        string("outcome", "approved, approved_with_down_payment, declined or referred"),
        money("spending_limit_amount", "the consumer's limit for this product", source="spending_limit"),
        money("approved_amount", "lent (approvals only)"),
        money("down_payment_amount", "due today on top of the product's own"),
        column(
            "reason_codes",
            pa.list_(pa.string()),
            "principal reasons, first first (codes only)",
            source="reasons",
            convert=_reason_codes,
        ),
        string("policy_version", "rules version"),
        string("model_version_id", "the champion model that scored it (mdl_…)", source="model_version__public_id"),
        string("model_name", "its registry name", source="model_version__name"),
        column("model_version", pa.int64(), "its version number", source="model_version__version"),
        column("score", pa.float64(), "calibrated probability of default"),
        column("cutoff_probability", pa.float64(), "declined at or above"),
        string(
            "challenger_version_id",
            "the challenger scored in shadow (mdl_…)",
            source="challenger_version__public_id",
        ),
        column("challenger_score", pa.float64(), "its probability of default (never acted on)"),
        column("latency_ms", pa.float64(), "features + policy + model + reasons, milliseconds"),
        string("review_status", "for referrals: approved or declined by a person"),
        timestamp("reviewed_at", "when the review happened"),
        timestamp("created_at", "when the decision was made"),
        *feature_columns(),
    ),
)
