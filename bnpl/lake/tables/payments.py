"""Money moved on cards, and money held for consumers whose card refused a refund."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from bnpl.lake.tables.base import AUDIT_TIMES, SNAPSHOT, TableSpec, column, consumer_key, money, string, timestamp


def _or_none(value: Any) -> Any:
    return value or None


CHARGES = TableSpec(
    name="charges",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Every attempt to move money on a card: payments and refunds (no card numbers, no tokens).",
    model="payments.Charge",
    columns=(
        string("charge_id", "public id (ch_…)", source="public_id"),
        consumer_key("the consumer's pseudonym (psn_…)"),
        string("plan_id", "the plan it paid (pln_…), if any", source="plan__public_id"),
        string("kind", "payment or refund"),
        string(
            "refunded_charge_id",
            "for a refund: the payment it gives money back from",
            source="refunded_charge__public_id",
        ),
        money("amount", "always positive"),
        string("currency", "ISO 4217"),
        column("livemode", pa.bool_(), "true for live mode, false for test mode"),
        string("status", "pending, succeeded or failed"),
        string("failure_code", "why it failed, e.g. insufficient_funds"),
        string("gateway", "sandbox or stripe", source="payment_method__gateway"),
        string("card_brand", "e.g. visa", source="payment_method__brand"),
        timestamp("applied_at", "when a payment was applied to its plan"),
        *AUDIT_TIMES,
    ),
)

CONSUMER_BALANCES = TableSpec(
    name="consumer_balances",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Money held for consumers whose card refused a refund: applied to installments or paid out.",
    model="payments.ConsumerBalance",
    columns=(
        string("balance_id", "public id (bal_…)", source="public_id"),
        consumer_key("the consumer's pseudonym (psn_…)"),
        column("livemode", pa.bool_(), "live or test mode"),
        string("currency", "ISO 4217"),
        money("amount", "what the refused refund should have returned"),
        money("applied_amount", "paid toward installments"),
        money("paid_out_amount", "paid out another way by an operator"),
        string("paid_out_method", "bank_transfer, check or other_card (null until paid out)", convert=_or_none),
        string("refund_failure_code", "why the card's bank refused it", source="source_charge__failure_code"),
        string("plan_id", "the plan the refund came from (null: none)", source="plan__public_id"),
        *AUDIT_TIMES,
    ),
)
