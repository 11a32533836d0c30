"""The double-entry ledger as an append table: one row per posting."""

from __future__ import annotations

from functools import cache

import pyarrow as pa

from bnpl.lake.pseudonym import pseudonymize_text
from bnpl.lake.tables.base import APPEND, TableSpec, column, consumer_key, money, string, timestamp


@cache  # a handful of codes, read for every posting
def account_kind(code: str) -> str:
    """asset, liability, income or expense: what the account's code is."""
    from bnpl.ledger.models import ACCOUNT_KINDS, AccountCode

    return str(ACCOUNT_KINDS[AccountCode(code)])


LEDGER_POSTINGS = TableSpec(
    name="ledger_postings",
    kind=APPEND,
    stream="ledger_postings",
    description=(
        "Every line of the double-entry ledger (append-only): debit positive, credit negative; "
        "each journal entry's lines sum to zero in its currency."
    ),
    model="ledger.Posting",
    columns=(
        column(
            "posting_sequence", pa.int64(), "the posting's position in the ledger (increasing; unique)", source="pk"
        ),
        string("entry_id", "the journal entry's public id (je_…)", source="entry__public_id"),
        string("entry_type", "the business event that posted it, e.g. order.captured", source="entry__entry_type"),
        string("account_code", "the account, e.g. consumer_receivable (bnpl/ledger/models.py)", source="account__code"),
        string("account_kind", "asset, liability, income or expense", source="account__code", convert=account_kind),
        string("currency", "ISO 4217 code"),
        money("amount", "signed: debit positive, credit negative"),
        column("livemode", pa.bool_(), "true for live mode, false for test mode", source="entry__livemode"),
        string("merchant_id", "the account's merchant (mer_…), if any", source="account__merchant__public_id"),
        consumer_key("the account's consumer, as a pseudonym (psn_…), if any", source="account__consumer__public_id"),
        string("reference_type", "app_label.model of the business object", source="entry__reference_type"),
        string("reference_id", "its public id", source="entry__reference_id", convert=pseudonymize_text),
        timestamp("created_at", "when the entry was posted; its date is the partition", source="entry__created_at"),
    ),
    partition_column="created_at",
)
