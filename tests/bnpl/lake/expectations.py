"""What the lake must hold, computed from the database: every table's keys, as its first column(s)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from django.db.models import F

from bnpl.checkout.models import Capture, CheckoutSession, Dispute, Order, Refund
from bnpl.collections.models import CollectionAttempt
from bnpl.core.models import Event
from bnpl.lake import reader, tables
from bnpl.lake.pseudonym import pseudonym
from bnpl.ledger.models import Posting
from bnpl.payments.models import Charge, ConsumerBalance
from bnpl.plans.models import Installment, Plan
from consumers.models import Consumer
from decisioning.models import CreditDecision
from merchants.models import Merchant, Settlement


def database_keys(table: str) -> list[Any]:
    """The keys the table must hold, once each, sorted."""
    simple = {
        "events": (Event, "public_id"),
        "merchants": (Merchant, "public_id"),
        "checkout_sessions": (CheckoutSession, "public_id"),
        "orders": (Order, "public_id"),
        "captures": (Capture, "public_id"),
        "refunds": (Refund, "public_id"),
        "disputes": (Dispute, "public_id"),
        "plans": (Plan, "public_id"),
        "charges": (Charge, "public_id"),
        "consumer_balances": (ConsumerBalance, "public_id"),
        "credit_decisions": (CreditDecision, "public_id"),
        "settlements": (Settlement, "public_id"),
        "loan_tape": (Plan, "public_id"),
        "collection_attempts": (CollectionAttempt, "charge__public_id"),
        "ledger_postings": (Posting, "pk"),
    }
    if table in simple:
        model, field = simple[table]
        return sorted(model._default_manager.values_list(field, flat=True))
    if table == "consumers":
        return sorted(pseudonym(key) for key in Consumer.objects.values_list("public_id", flat=True))
    if table == "installments":
        return sorted(Installment.objects.values_list("plan__public_id", "sequence"))
    raise KeyError(table)


def lake_keys(table: str) -> list[Any]:
    """The keys the lake holds for the table (through manifests, checksums verified), sorted."""
    data = reader.read_table(table=table)
    key_column = {"collection_attempts": "charge_id"}.get(table, data.column_names[0])
    if table == "events":
        key_column = "event_id"
    if table == "installments":
        return sorted(zip(data["plan_id"].to_pylist(), data["sequence"].to_pylist(), strict=True))
    return sorted(data[key_column].to_pylist())


def database_rows_per_day(table: str) -> Counter[str]:
    """Append tables: rows per UTC date of their partition column."""
    stamps: Any = (
        Event.objects.values_list("created_at", flat=True)
        if table == "events"
        else Posting.objects.annotate(at=F("entry__created_at")).values_list("at", flat=True)
    )
    return Counter(stamp.astimezone(dt.UTC).date().isoformat() for stamp in stamps)


def lake_rows_per_day(table: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for entry in reader.table_files(table=table):
        counts[entry["partition"]["dt"]] += reader.read_file(entry=entry).num_rows
    return counts


ALL_TABLES = [spec.name for spec in tables.TABLES]
