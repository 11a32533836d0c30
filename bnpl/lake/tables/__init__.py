"""What the lake holds: one declarative spec per exported table.

Each spec declares its columns once, in order, each with its Arrow type, description and source
(``manage.py lake_ddl`` and docs/data-lake.md are generated from the same declarations; see
``bnpl.lake.tables.base``); ``bnpl.lake.tables.reading`` reads its rows from the database in key
order, a chunk at a time, as Arrow record batches (never a whole table in memory).

Conventions, as in the database and the API: money is int64 minor units beside a ``currency``
string (ISO 4217); timestamps are ``timestamp[us, tz=UTC]``; due dates are ``date32``; objects are
named by their public ids (``ord_…``); consumers by their pseudonym (``psn_…``, see
``bnpl.lake.pseudonym``). Direct identifiers (names, emails, phone numbers, national ids,
addresses) and free text (refund reasons, review notes, line item names, merchant references) are
never read, so they cannot be written.

Two kinds of table:
* ``append``: rows that never change once committed (the outbox events, ledger postings), exported
  incrementally by id ranges, partitioned by the UTC date of ``partition_column``;
* ``snapshot``: rows that change (orders, plans, …), exported whole, every hour, partitioned by the
  snapshot's date and time (``dt=…/snapshot=…``), all from one consistent read of the database.
"""

from __future__ import annotations

from django.db.models import Model

from bnpl.lake.tables.base import APPEND, SNAPSHOT, Column, Scope, TableSpec
from bnpl.lake.tables.consumers import CONSUMERS
from bnpl.lake.tables.decisions import CREDIT_DECISIONS, MODEL_FEATURE_COLUMNS
from bnpl.lake.tables.events import EVENTS, scrub
from bnpl.lake.tables.ledger import LEDGER_POSTINGS
from bnpl.lake.tables.loan_tape import LOAN_TAPE
from bnpl.lake.tables.merchants import MERCHANTS, SETTLEMENTS
from bnpl.lake.tables.orders import CAPTURES, CHECKOUT_SESSIONS, DISPUTES, ORDERS, REFUNDS
from bnpl.lake.tables.payments import CHARGES, CONSUMER_BALANCES
from bnpl.lake.tables.plans import COLLECTION_ATTEMPTS, INSTALLMENTS, PLANS

__all__ = [
    "APPEND",
    "APPEND_TABLES",
    "BY_NAME",
    "EVENTS",
    "MODEL_FEATURE_COLUMNS",
    "SNAPSHOT",
    "SNAPSHOT_TABLES",
    "TABLES",
    "Column",
    "Scope",
    "TableSpec",
    "append_model",
    "scrub",
]

TABLES: tuple[TableSpec, ...] = (  # the order of the DDL, the docs and a snapshot's tables
    EVENTS,
    LEDGER_POSTINGS,
    MERCHANTS,
    CONSUMERS,
    CHECKOUT_SESSIONS,
    ORDERS,
    CAPTURES,
    REFUNDS,
    DISPUTES,
    PLANS,
    INSTALLMENTS,
    CHARGES,
    CONSUMER_BALANCES,
    COLLECTION_ATTEMPTS,
    CREDIT_DECISIONS,
    SETTLEMENTS,
    LOAN_TAPE,
)
BY_NAME = {spec.name: spec for spec in TABLES}
APPEND_TABLES = tuple(spec for spec in TABLES if spec.kind == APPEND)
SNAPSHOT_TABLES = tuple(spec for spec in TABLES if spec.kind == SNAPSHOT)


def append_model(spec: TableSpec) -> type[Model]:
    """The model whose ids make an append table's batch ranges."""
    return spec.model_class()
