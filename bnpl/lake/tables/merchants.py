"""The tenants and what they are paid out."""

from __future__ import annotations

import pyarrow as pa

from bnpl.lake.tables.base import (
    AUDIT_TIMES,
    SNAPSHOT,
    TableSpec,
    column,
    money,
    sorted_list,
    string,
    tenant,
    timestamp,
)

MERCHANTS = TableSpec(
    name="merchants",
    kind=SNAPSHOT,
    stream="snapshots",
    description="The tenants. Business data only: no support email, no team members.",
    model="merchants.Merchant",
    columns=(
        string("merchant_id", "public id (mer_…)", source="public_id"),
        string("name", "the business's trading name"),
        string("status", "pending, active or suspended"),
        string("country", "ISO 3166-1 alpha-2"),
        string("default_currency", "ISO 4217"),
        column("currencies", pa.list_(pa.string()), "ISO 4217 codes it sells in", convert=sorted_list),
        timestamp("approved_at", "when an operator approved it"),
        timestamp("suspended_at", "when it was last suspended"),
        *AUDIT_TIMES,
    ),
)

SETTLEMENTS = TableSpec(
    name="settlements",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Merchant payout batches: captured - fees - refunds + fees back + carried in = net.",
    model="merchants.Settlement",
    columns=(
        string("settlement_id", "public id (stl_…)", source="public_id"),
        *tenant(),
        string("currency", "ISO 4217"),
        timestamp("cutoff", "captures and refunds before this instant are in the batch"),
        money("captured_amount", "captured"),
        money("fee_amount", "our fees"),
        money("refunded_amount", "refunded"),
        money("fee_refunded_amount", "fees given back"),
        money("carried_in_amount", "carried from the batch before"),
        money("net_amount", "paid out (or carried forward when not positive)"),
        string("status", "pending, paid, carried_forward or failed"),
        timestamp("paid_at", "when the payout was confirmed"),
        *AUDIT_TIMES,
    ),
)
