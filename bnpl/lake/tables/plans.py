"""What consumers repay: plans, their installments, and each try at collecting one."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa

from bnpl.lake.tables.base import (
    AUDIT_TIMES,
    SNAPSHOT,
    TableSpec,
    column,
    consumer_key,
    money,
    string,
    tenant,
    timestamp,
)


def _percent(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


PLANS = TableSpec(
    name="plans",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Payment plans: what a consumer repays for one order.",
    model="plans.Plan",
    columns=(
        string("plan_id", "public id (pln_…)", source="public_id"),
        string("order_id", "the order (ord_…)", source="order__public_id"),
        *tenant(),
        consumer_key("the consumer's pseudonym (psn_…)"),
        string("product_id", "the payment product (prod_…)", source="product__public_id"),
        string("product_kind", "pay_in_4, pay_in_30 or financing", source="product__kind"),
        column(
            "installment_count",
            pa.int32(),
            "the product's number of installments",
            source="product__installment_count",
        ),
        string("currency", "ISO 4217"),
        string("status", "active, paid or canceled"),
        string("standing", "current, late, delinquent or charged_off"),
        column("apr_bps", pa.int64(), "nominal interest rate at purchase, basis points (not the disclosed APR)"),
        string(
            "disclosed_apr",
            "the APR disclosed at purchase, percent with two decimals (e.g. 9.98)",
            convert=_percent,
        ),
        money("amount_financed", "disclosed at purchase", source="disclosed_financed_amount"),
        money("finance_charge", "disclosed at purchase", source="disclosed_finance_charge_amount"),
        money("total_of_payments", "disclosed at purchase", source="disclosed_total_of_payments_amount"),
        column("collections_paused", pa.bool_(), "collections wait (hardship)"),
        column("due_date_moved", pa.bool_(), "the consumer used their one due-date move"),
        string("refund_policy", "last_first or even_spread"),
        *AUDIT_TIMES,
    ),
)

INSTALLMENTS = TableSpec(
    name="installments",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Installments of every plan (late fees are installments of their own, with fee_for_sequence).",
    model="plans.Installment",
    columns=(
        string("plan_id", "the plan (pln_…)", source="plan__public_id"),
        column("sequence", pa.int32(), "1-based position in the plan; (plan_id, sequence) is the key"),
        *tenant(via="plan__"),
        string("currency", "ISO 4217", source="plan__currency"),
        column("due_date", pa.date32(), "due date (UTC)"),
        money("amount", "owed in total: principal + interest + fee"),
        money("principal_amount", "principal part"),
        money("interest_amount", "interest part"),
        money("fee_amount", "late fee (late-fee installments only)"),
        money("paid_amount", "paid so far"),
        string("status", "scheduled, paid or canceled"),
        timestamp("paid_at", "when it was paid in full"),
        column("collect_on", pa.date32(), "when collections next charges it; null: not automatically"),
        column(
            "fee_for_sequence",
            pa.int32(),
            "for a late fee: the installment it was charged on",
            source="fee_for__sequence",
        ),
        *AUDIT_TIMES,
    ),
)

COLLECTION_ATTEMPTS = TableSpec(
    name="collection_attempts",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Each off-session try at charging a due installment.",
    model="collections.CollectionAttempt",
    columns=(
        string("plan_id", "the plan (pln_…)", source="installment__plan__public_id"),
        column(
            "installment_sequence",
            pa.int32(),
            "the installment's sequence in the plan",
            source="installment__sequence",
        ),
        column("number", pa.int32(), "attempt 1, 2, … on that installment"),
        string("status", "processing, succeeded or failed"),
        string("charge_id", "the charge it made (ch_…)", source="charge__public_id"),
        money("amount", "asked"),
        string("currency", "ISO 4217", source="installment__plan__currency"),
        string("failure_code", "why it failed"),
        column("retry_on", pa.date32(), "after a failure: when the next attempt is due"),
        timestamp("finished_at", "when the attempt settled"),
        *AUDIT_TIMES,
    ),
)
