"""Checkout: sessions, the orders they authorize, and what happens to an order afterwards (captures,
refunds, returns and disputes)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from bnpl.lake.tables.base import (
    AUDIT_TIMES,
    SNAPSHOT,
    TableSpec,
    column,
    consumer_key,
    money,
    sorted_list,
    string,
    tenant,
    timestamp,
)


def _count(items: Any) -> int:
    return len(items or [])


CHECKOUT_SESSIONS = TableSpec(
    name="checkout_sessions",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Checkout sessions: a merchant sending a shopper to pay later. No customer contact details.",
    model="checkout.CheckoutSession",
    columns=(
        string("checkout_session_id", "public id (cs_…)", source="public_id"),
        *tenant(),
        consumer_key("the signed-in consumer's pseudonym (psn_…), once known"),
        money("amount", "the order amount"),
        string("currency", "ISO 4217"),
        string("status", "open, complete, declined, in_review, canceled or expired"),
        column(
            "product_kinds",
            pa.list_(pa.string()),
            "product kinds offered ([] = every enabled one)",
            convert=sorted_list,
        ),
        column("line_item_count", pa.int32(), "how many line items the order had", source="line_items", convert=_count),
        timestamp("expires_at", "when the session expires"),
        timestamp("completed_at", "when the shopper was approved and the order authorized"),
        *AUDIT_TIMES,
    ),
)

ORDERS = TableSpec(
    name="orders",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Orders: authorizations the merchant captures, voids and refunds.",
    model="checkout.Order",
    columns=(
        string("order_id", "public id (ord_…)", source="public_id"),
        string("checkout_session_id", "the session it came from (cs_…)", source="checkout_session__public_id"),
        *tenant(),
        consumer_key("the consumer's pseudonym (psn_…)"),
        string("currency", "ISO 4217"),
        money("authorized_amount", "authorized"),
        money("captured_amount", "captured so far"),
        money("voided_amount", "released without capture"),
        money("refunded_amount", "refunded so far"),
        money("merchant_fee_amount", "fees kept so far, net of fees refunded"),
        column("merchant_fee_bps", pa.int64(), "the fee rate at purchase, basis points of each capture"),
        money("merchant_fee_fixed_amount", "the fixed fee at purchase, charged at the first capture"),
        string("status", "authorized, part_captured, captured, voided, expired or refunded"),
        timestamp("authorization_expires_at", "when the authorization lapses"),
        *AUDIT_TIMES,
    ),
)

CAPTURES = TableSpec(
    name="captures",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Captures: what the merchant drew on an order as it shipped.",
    model="checkout.Capture",
    columns=(
        string("capture_id", "public id (cap_…)", source="public_id"),
        string("order_id", "the order (ord_…)", source="order__public_id"),
        *tenant(),
        string("currency", "ISO 4217", source="order__currency"),
        money("amount", "captured"),
        money("merchant_fee_amount", "our fee on it"),
        string(
            "settlement_id", "the settlement that paid it out (stl_…), once settled", source="settlement__public_id"
        ),
        timestamp("created_at", "when it was captured"),
    ),
)

REFUNDS = TableSpec(
    name="refunds",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Refunds of captured amounts (the free-text reason is not exported).",
    model="checkout.Refund",
    columns=(
        string("refund_id", "public id (re_…)", source="public_id"),
        string("order_id", "the order (ord_…)", source="order__public_id"),
        *tenant(),
        string("currency", "ISO 4217", source="order__currency"),
        money("amount", "refunded"),
        money("merchant_fee_refunded_amount", "our fee given back"),
        money("applied_to_plan_amount", "taken off installments still to pay"),
        money("returned_to_card_amount", "already paid, so sent back to the card"),
        string(
            "settlement_id", "the settlement that deducted it (stl_…), once settled", source="settlement__public_id"
        ),
        timestamp("created_at", "when it was refunded"),
    ),
)

DISPUTES = TableSpec(
    name="disputes",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Returns and disputes consumers opened (the consumer's and merchant's words are not exported).",
    model="checkout.Dispute",
    columns=(
        string("dispute_id", "public id (dp_…)", source="public_id"),
        string("order_id", "the order (ord_…)", source="order__public_id"),
        *tenant(),
        string("kind", "return or dispute"),
        string("source", "consumer (the portal) or card_network (a chargeback)"),
        string("reason", "returned, not_received, not_as_described, canceled_order, incorrect_amount, other"),
        string("currency", "ISO 4217", source="order__currency"),
        money("amount", "in question"),
        string("status", "needs_response, under_review, refunded, won, lost, withdrawn"),
        timestamp("respond_by", "the merchant's deadline"),
        timestamp("created_at", "when it was opened"),
        timestamp("closed_at", "when it closed (null while open)"),
    ),
)
