"""What the lake holds: one declarative spec per exported table.

Each spec names its columns with an explicit Arrow type and a description (``manage.py lake_ddl``
and docs/data-lake.md are generated from the same list), and reads its rows from the database in
key order, a chunk at a time (keyset pagination on the primary key: never a whole table in memory).

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

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyarrow as pa
from django.db.models import Model, Q, QuerySet

from bnpl.lake.pseudonym import pseudonym, pseudonymize_text

APPEND = "append"
SNAPSHOT = "snapshot"
TIMESTAMP = pa.timestamp("us", tz="UTC")
# A plan's outcome is final once it is paid, cancelled or charged off, or this long after its last
# due date (so that a last installment 90 days past due can be seen): "matured".
OUTCOME_WINDOW_DAYS = 90
BAD_DAYS_PAST_DUE = 90  # Give Me Some Credit's SeriousDlqin2yrs: 90 days or more past due


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str


@dataclass(frozen=True)
class Scope:
    """What one read covers: an id range (append tables) or the snapshot's time (snapshot tables)."""

    chunk_size: int
    lower_key: int = 0  # exclusive
    upper_key: int = 0  # inclusive
    as_of: dt.datetime | None = None


Row = tuple[Any, ...]


@dataclass(frozen=True)
class TableSpec:
    name: str
    kind: str  # APPEND or SNAPSHOT
    description: str
    columns: tuple[Column, ...]
    read: Callable[[Scope], Iterator[Row]]  # rows as tuples in column order, in key order
    stream: str  # the watermark it advances: its own name (append) or "snapshots"
    partition_column: str = ""  # append tables: the timestamp whose UTC date is the partition

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field(column.name, column.type, metadata={"description": column.description})
                for column in self.columns
            ]
        )

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    @property
    def partition_index(self) -> int:
        return self.column_names.index(self.partition_column)


def keyset(queryset: QuerySet[Any], fields: Iterable[str], *, chunk_size: int, start_after: int = 0) -> Iterator[Row]:
    """``queryset.values_list("pk", *fields)`` a chunk at a time, in primary-key order, by keyset
    pagination (each chunk one indexed query; memory bounded by the chunk). Yields rows without pk."""
    last = start_after
    names = ["pk", *fields]
    while True:
        chunk = list(queryset.filter(pk__gt=last).order_by("pk").values_list(*names)[:chunk_size])
        if not chunk:
            return
        last = chunk[-1][0]
        for row in chunk:
            yield row[1:]
        if len(chunk) < chunk_size:
            return


def keyset_chunks(queryset: QuerySet[Any], fields: Iterable[str], *, chunk_size: int) -> Iterator[list[Row]]:
    """Like ``keyset`` but a chunk (list of rows, pk first) at a time, for joins done per chunk."""
    last = 0
    names = ["pk", *fields]
    while True:
        chunk = list(queryset.filter(pk__gt=last).order_by("pk").values_list(*names)[:chunk_size])
        if not chunk:
            return
        last = chunk[-1][0]
        yield chunk
        if len(chunk) < chunk_size:
            return


# --- Privacy: what an event's payload may carry --------------------------------------------------

# Keys whose values are personal or free text, dropped from event payloads wherever they appear.
PERSONAL_KEY = re.compile(
    r"(email|phone|legal_name|first_name|last_name|full_name|address|city|region|postal_code|zip|"
    r"date_of_birth|birth|national_id|ssn|ip_address|user_agent|description|note|reason$|merchant_reference|"
    r"^name$|line_items|evidence)",
    re.IGNORECASE,
)
EMAIL_LIKE = re.compile(r"[^\s@\"']+@[^\s@\"']+\.[A-Za-z]{2,}")
PHONE_LIKE = re.compile(r"\+\d[\d ().-]{6,18}\d")  # E.164 as stored; "+00:00" in timestamps is not
REDACTED = "[redacted]"


def scrub(value: Any) -> Any:
    """An event payload without personal data: personal and free-text keys dropped (booleans such as
    ``email_verified`` stay: they identify nobody), anything shaped like an email address or a phone
    number redacted wherever it is, and consumer ids replaced by their pseudonyms."""
    if isinstance(value, dict):
        return {
            key: scrub(item)
            for key, item in value.items()
            if isinstance(item, bool) or item is None or not _is_personal_key(str(key))
        }
    if isinstance(value, list):
        return [scrub(item) for item in value]
    if isinstance(value, str):
        if "@" in value:
            value = EMAIL_LIKE.sub(REDACTED, value)
        if "+" in value:
            value = PHONE_LIKE.sub(REDACTED, value)
        if "con_" in value:
            value = pseudonymize_text(value)
        return value
    return value


@lru_cache(maxsize=4096)
def _is_personal_key(key: str) -> bool:
    return PERSONAL_KEY.search(key) is not None


# --- Column helpers ------------------------------------------------------------------------------


def _column(name: str, kind: pa.DataType, description: str) -> Column:
    return Column(name=name, type=kind, description=description)


def _string(name: str, description: str) -> Column:
    return _column(name, pa.string(), description)


def _money(name: str, description: str) -> Column:
    return _column(name, pa.int64(), f"{description} (minor units of `currency`)")


def _time(name: str, description: str) -> Column:
    return _column(name, TIMESTAMP, f"{description} (UTC)")


def _integer(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _boolean(value: Any) -> bool | None:
    return None if value is None else bool(value)


AUDIT_TIMES = (
    _time("created_at", "when the row was created, by the project clock"),
    _time("updated_at", "when the row last changed, by the project clock"),
)
TENANT = (
    _string("merchant_id", "the merchant's public id (mer_…)"),
    _column("livemode", pa.bool_(), "true for live mode, false for test mode"),
)


# --- Append tables -------------------------------------------------------------------------------


def _read_events(scope: Scope) -> Iterator[Row]:
    from bnpl.core.models import Event

    queryset = Event.objects.filter(pk__lte=scope.upper_key)
    fields: tuple[str, ...] = ("pk", "public_id", "type", "merchant__public_id", "livemode", "object_type", "object_id")
    fields += ("request_id", "data", "created_at")
    for key, public_id, kind, merchant, livemode, object_type, object_id, request_id, data, created in keyset(
        queryset, fields, chunk_size=scope.chunk_size, start_after=scope.lower_key
    ):
        yield (
            key,
            public_id,
            kind,
            merchant,
            livemode,
            object_type,
            pseudonymize_text(object_id),
            request_id,
            json.dumps(scrub(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False),
            created,
        )


EVENTS = TableSpec(
    name="events",
    kind=APPEND,
    stream="events",
    description="The outbox: every state change the platform recorded, as committed, in id order.",
    columns=(
        _column("event_sequence", pa.int64(), "the event's position in the outbox (increasing; unique)"),
        _string("event_id", "the event's public id (evt_…)"),
        _string("type", "what happened, e.g. order.captured (see bnpl/core/event_types.py)"),
        _string("merchant_id", "the merchant it concerns (mer_…), null for platform events"),
        _column("livemode", pa.bool_(), "true for live mode, false for test mode"),
        _string("object_type", "app_label.model of the object that changed"),
        _string("object_id", "the object's public id; a consumer's is its pseudonym (psn_…)"),
        _string("request_id", "the request or task that made the change"),
        _string(
            "data",
            "the object's representation after the change, as JSON, without personal data or free text "
            "(consumer ids pseudonymized)",
        ),
        _time("created_at", "when the event was written, by the project clock; its date is the partition"),
    ),
    read=_read_events,
    partition_column="created_at",
)


def _read_postings(scope: Scope) -> Iterator[Row]:
    from bnpl.ledger.models import ACCOUNT_KINDS, AccountCode, Posting

    queryset = Posting.objects.filter(pk__lte=scope.upper_key)
    fields: tuple[str, ...] = (
        "pk",
        "entry__public_id",
        "entry__entry_type",
        "account__code",
        "currency",
        "amount",
        "entry__livemode",
        "account__merchant__public_id",
        "account__consumer__public_id",
        "entry__reference_type",
        "entry__reference_id",
        "entry__created_at",
    )
    for row in keyset(queryset, fields, chunk_size=scope.chunk_size, start_after=scope.lower_key):
        key, entry, entry_type, code, currency, amount, livemode, merchant, consumer, ref_type, ref_id, created = row
        yield (
            key,
            entry,
            entry_type,
            code,
            str(ACCOUNT_KINDS[AccountCode(code)]),
            currency,
            amount,
            livemode,
            merchant,
            pseudonym(consumer),
            ref_type,
            pseudonymize_text(ref_id),
            created,
        )


def _posting_model() -> type[Model]:
    from bnpl.ledger.models import Posting

    return Posting


LEDGER_POSTINGS = TableSpec(
    name="ledger_postings",
    kind=APPEND,
    stream="ledger_postings",
    description=(
        "Every line of the double-entry ledger (append-only): debit positive, credit negative; "
        "each journal entry's lines sum to zero in its currency."
    ),
    columns=(
        _column("posting_sequence", pa.int64(), "the posting's position in the ledger (increasing; unique)"),
        _string("entry_id", "the journal entry's public id (je_…)"),
        _string("entry_type", "the business event that posted it, e.g. order.captured"),
        _string("account_code", "the account, e.g. consumer_receivable (bnpl/ledger/models.py)"),
        _string("account_kind", "asset, liability, income or expense"),
        _string("currency", "ISO 4217 code"),
        _money("amount", "signed: debit positive, credit negative"),
        _column("livemode", pa.bool_(), "true for live mode, false for test mode"),
        _string("merchant_id", "the account's merchant (mer_…), if any"),
        _string("consumer_key", "the account's consumer, as a pseudonym (psn_…), if any"),
        _string("reference_type", "app_label.model of the business object"),
        _string("reference_id", "its public id"),
        _time("created_at", "when the entry was posted; its date is the partition"),
    ),
    read=_read_postings,
    partition_column="created_at",
)


# --- Snapshot tables -----------------------------------------------------------------------------


def _read_merchants(scope: Scope) -> Iterator[Row]:
    from merchants.models import Merchant

    fields: tuple[str, ...] = (
        "public_id",
        "name",
        "status",
        "country",
        "default_currency",
        "currencies",
        "approved_at",
    )
    fields += ("suspended_at", "created_at", "updated_at")
    for public_id, name, status, country, currency, currencies, approved, suspended, created, updated in keyset(
        Merchant.objects.all(), fields, chunk_size=scope.chunk_size
    ):
        yield (
            public_id,
            name,
            status,
            country,
            currency,
            sorted(currencies or []),
            approved,
            suspended,
            created,
            updated,
        )


MERCHANTS = TableSpec(
    name="merchants",
    kind=SNAPSHOT,
    stream="snapshots",
    description="The tenants. Business data only: no support email, no team members.",
    columns=(
        _string("merchant_id", "public id (mer_…)"),
        _string("name", "the business's trading name"),
        _string("status", "pending, active or suspended"),
        _string("country", "ISO 3166-1 alpha-2"),
        _string("default_currency", "ISO 4217"),
        _column("currencies", pa.list_(pa.string()), "ISO 4217 codes it sells in"),
        _time("approved_at", "when an operator approved it"),
        _time("suspended_at", "when it was last suspended"),
        *AUDIT_TIMES,
    ),
    read=_read_merchants,
)


def _read_consumers(scope: Scope) -> Iterator[Row]:
    from consumers.models import Consumer

    fields: tuple[str, ...] = ("public_id", "status", "email", "phone", "email_verified_at", "phone_verified_at")
    fields += ("identity__verified_at", "identity__country", "last_sign_in_at", "created_at", "updated_at")
    for row in keyset(Consumer.objects.all(), fields, chunk_size=scope.chunk_size):
        (
            public_id,
            status,
            email,
            phone,
            email_verified,
            phone_verified,
            verified,
            country,
            signed_in,
            created,
            updated,
        ) = row
        yield (
            pseudonym(public_id),
            status,
            email is not None,
            phone is not None,
            email_verified is not None,
            phone_verified is not None,
            verified is not None,
            country,
            signed_in,
            created,
            updated,
        )


CONSUMERS = TableSpec(
    name="consumers",
    kind=SNAPSHOT,
    stream="snapshots",
    description=(
        "Consumers under their pseudonym. No name, email, phone, address, date of birth or national id: "
        "only whether they exist and are verified, and the country of residence."
    ),
    columns=(
        _string("consumer_key", "HMAC pseudonym of the consumer (psn_…): stable across exports"),
        _string("status", "active or blocked"),
        _column("has_email", pa.bool_(), "an email address is on file"),
        _column("has_phone", pa.bool_(), "a phone number is on file"),
        _column("email_verified", pa.bool_(), "the email address was confirmed by a one-time code"),
        _column("phone_verified", pa.bool_(), "the phone number was confirmed by a one-time code"),
        _column("identity_verified", pa.bool_(), "the identity basics (KYC) were completed"),
        _string("country", "country of residence, ISO 3166-1 alpha-2 (from KYC)"),
        _time("last_sign_in_at", "last sign-in"),
        *AUDIT_TIMES,
    ),
    read=_read_consumers,
)


def _read_checkout_sessions(scope: Scope) -> Iterator[Row]:
    from bnpl.checkout.models import CheckoutSession

    fields: tuple[str, ...] = (
        "public_id",
        "merchant__public_id",
        "livemode",
        "consumer__public_id",
        "amount",
        "currency",
    )
    fields += ("status", "product_kinds", "line_items", "expires_at", "completed_at", "created_at", "updated_at")
    for row in keyset(CheckoutSession.objects.all(), fields, chunk_size=scope.chunk_size):
        public_id, merchant, livemode, consumer, amount, currency, status, kinds, items, expires, done, created, up = (
            row
        )
        yield (
            public_id,
            merchant,
            livemode,
            pseudonym(consumer),
            amount,
            currency,
            status,
            sorted(kinds or []),
            len(items or []),
            expires,
            done,
            created,
            up,
        )


CHECKOUT_SESSIONS = TableSpec(
    name="checkout_sessions",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Checkout sessions: a merchant sending a shopper to pay later. No customer contact details.",
    columns=(
        _string("checkout_session_id", "public id (cs_…)"),
        *TENANT,
        _string("consumer_key", "the signed-in consumer's pseudonym (psn_…), once known"),
        _money("amount", "the order amount"),
        _string("currency", "ISO 4217"),
        _string("status", "open, complete, declined, in_review, canceled or expired"),
        _column("product_kinds", pa.list_(pa.string()), "product kinds offered ([] = every enabled one)"),
        _column("line_item_count", pa.int32(), "how many line items the order had"),
        _time("expires_at", "when the session expires"),
        _time("completed_at", "when the shopper was approved and the order authorized"),
        *AUDIT_TIMES,
    ),
    read=_read_checkout_sessions,
)


def _read_orders(scope: Scope) -> Iterator[Row]:
    from bnpl.checkout.models import Order

    fields: tuple[str, ...] = (
        "public_id",
        "checkout_session__public_id",
        "merchant__public_id",
        "livemode",
        "consumer__public_id",
        "currency",
        "authorized_amount",
        "captured_amount",
        "voided_amount",
        "refunded_amount",
        "merchant_fee_amount",
        "merchant_fee_bps",
        "merchant_fee_fixed_amount",
        "status",
        "authorization_expires_at",
        "created_at",
        "updated_at",
    )
    for row in keyset(Order.objects.all(), fields, chunk_size=scope.chunk_size):
        yield (*row[:4], pseudonym(row[4]), *row[5:])


ORDERS = TableSpec(
    name="orders",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Orders: authorizations the merchant captures, voids and refunds.",
    columns=(
        _string("order_id", "public id (ord_…)"),
        _string("checkout_session_id", "the session it came from (cs_…)"),
        *TENANT,
        _string("consumer_key", "the consumer's pseudonym (psn_…)"),
        _string("currency", "ISO 4217"),
        _money("authorized_amount", "authorized"),
        _money("captured_amount", "captured so far"),
        _money("voided_amount", "released without capture"),
        _money("refunded_amount", "refunded so far"),
        _money("merchant_fee_amount", "fees kept so far, net of fees refunded"),
        _column("merchant_fee_bps", pa.int64(), "the fee rate at purchase, basis points of each capture"),
        _money("merchant_fee_fixed_amount", "the fixed fee at purchase, charged at the first capture"),
        _string("status", "authorized, part_captured, captured, voided, expired or refunded"),
        _time("authorization_expires_at", "when the authorization lapses"),
        *AUDIT_TIMES,
    ),
    read=_read_orders,
)


def _read_captures(scope: Scope) -> Iterator[Row]:
    from bnpl.checkout.models import Capture

    fields: tuple[str, ...] = (
        "public_id",
        "order__public_id",
        "merchant__public_id",
        "livemode",
        "order__currency",
        "amount",
    )
    fields += ("merchant_fee_amount", "settlement__public_id", "created_at")
    yield from keyset(Capture.objects.all(), fields, chunk_size=scope.chunk_size)


CAPTURES = TableSpec(
    name="captures",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Captures: what the merchant drew on an order as it shipped.",
    columns=(
        _string("capture_id", "public id (cap_…)"),
        _string("order_id", "the order (ord_…)"),
        *TENANT,
        _string("currency", "ISO 4217"),
        _money("amount", "captured"),
        _money("merchant_fee_amount", "our fee on it"),
        _string("settlement_id", "the settlement that paid it out (stl_…), once settled"),
        _time("created_at", "when it was captured"),
    ),
    read=_read_captures,
)


def _read_refunds(scope: Scope) -> Iterator[Row]:
    from bnpl.checkout.models import Refund

    fields: tuple[str, ...] = (
        "public_id",
        "order__public_id",
        "merchant__public_id",
        "livemode",
        "order__currency",
        "amount",
    )
    fields += ("merchant_fee_refunded_amount", "applied_to_plan_amount", "returned_to_card_amount")
    fields += ("settlement__public_id", "created_at")
    yield from keyset(Refund.objects.all(), fields, chunk_size=scope.chunk_size)


REFUNDS = TableSpec(
    name="refunds",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Refunds of captured amounts (the free-text reason is not exported).",
    columns=(
        _string("refund_id", "public id (re_…)"),
        _string("order_id", "the order (ord_…)"),
        *TENANT,
        _string("currency", "ISO 4217"),
        _money("amount", "refunded"),
        _money("merchant_fee_refunded_amount", "our fee given back"),
        _money("applied_to_plan_amount", "taken off installments still to pay"),
        _money("returned_to_card_amount", "already paid, so sent back to the card"),
        _string("settlement_id", "the settlement that deducted it (stl_…), once settled"),
        _time("created_at", "when it was refunded"),
    ),
    read=_read_refunds,
)


def _read_disputes(scope: Scope) -> Iterator[Row]:
    from bnpl.checkout.models import Dispute

    fields: tuple[str, ...] = (
        "public_id",
        "order__public_id",
        "merchant__public_id",
        "livemode",
        "kind",
        "source",
        "reason",
        "order__currency",
        "amount",
        "status",
        "respond_by",
        "created_at",
        "closed_at",
    )
    yield from keyset(Dispute.objects.all(), fields, chunk_size=scope.chunk_size)


DISPUTES = TableSpec(
    name="disputes",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Returns and disputes consumers opened (the consumer's and merchant's words are not exported).",
    columns=(
        _string("dispute_id", "public id (dp_…)"),
        _string("order_id", "the order (ord_…)"),
        *TENANT,
        _string("kind", "return or dispute"),
        _string("source", "consumer (the portal) or card_network (a chargeback)"),
        _string("reason", "returned, not_received, not_as_described, canceled_order, incorrect_amount, other"),
        _string("currency", "ISO 4217"),
        _money("amount", "in question"),
        _string("status", "needs_response, under_review, refunded, won, lost, withdrawn"),
        _time("respond_by", "the merchant's deadline"),
        _time("created_at", "when it was opened"),
        _time("closed_at", "when it closed (null while open)"),
    ),
    read=_read_disputes,
)


def _read_consumer_balances(scope: Scope) -> Iterator[Row]:
    from bnpl.payments.models import ConsumerBalance

    fields: tuple[str, ...] = (
        "public_id",
        "consumer__public_id",
        "livemode",
        "currency",
        "amount",
        "applied_amount",
        "paid_out_amount",
        "paid_out_method",
        "source_charge__failure_code",
        "plan__public_id",
        "created_at",
        "updated_at",
    )
    for row in keyset(ConsumerBalance.objects.all(), fields, chunk_size=scope.chunk_size):
        yield (row[0], pseudonym(row[1]), *row[2:7], row[7] or None, *row[8:])


CONSUMER_BALANCES = TableSpec(
    name="consumer_balances",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Money held for consumers whose card refused a refund: applied to installments or paid out.",
    columns=(
        _string("balance_id", "public id (bal_…)"),
        _string("consumer_key", "the consumer's pseudonym (psn_…)"),
        _column("livemode", pa.bool_(), "live or test mode"),
        _string("currency", "ISO 4217"),
        _money("amount", "what the refused refund should have returned"),
        _money("applied_amount", "paid toward installments"),
        _money("paid_out_amount", "paid out another way by an operator"),
        _string("paid_out_method", "bank_transfer, check or other_card (null until paid out)"),
        _string("refund_failure_code", "why the card's bank refused it"),
        _string("plan_id", "the plan the refund came from (null: none)"),
        *AUDIT_TIMES,
    ),
    read=_read_consumer_balances,
)


def _read_plans(scope: Scope) -> Iterator[Row]:
    from bnpl.plans.models import Plan

    fields: tuple[str, ...] = (
        "public_id",
        "order__public_id",
        "merchant__public_id",
        "livemode",
        "consumer__public_id",
        "product__public_id",
        "product__kind",
        "product__installment_count",
        "currency",
        "status",
        "standing",
        "apr_bps",
        "disclosed_apr",
        "disclosed_financed_amount",
        "disclosed_finance_charge_amount",
        "disclosed_total_of_payments_amount",
        "collections_paused",
        "due_date_moved",
        "refund_policy",
        "created_at",
        "updated_at",
    )
    apr = fields.index("disclosed_apr")
    for row in keyset(Plan.objects.all(), fields, chunk_size=scope.chunk_size):
        disclosed = None if row[apr] is None else f"{row[apr]:.2f}"
        yield (*row[:4], pseudonym(row[4]), *row[5:apr], disclosed, *row[apr + 1 :])


PLANS = TableSpec(
    name="plans",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Payment plans: what a consumer repays for one order.",
    columns=(
        _string("plan_id", "public id (pln_…)"),
        _string("order_id", "the order (ord_…)"),
        *TENANT,
        _string("consumer_key", "the consumer's pseudonym (psn_…)"),
        _string("product_id", "the payment product (prod_…)"),
        _string("product_kind", "pay_in_4, pay_in_30 or financing"),
        _column("installment_count", pa.int32(), "the product's number of installments"),
        _string("currency", "ISO 4217"),
        _string("status", "active, paid or canceled"),
        _string("standing", "current, late, delinquent or charged_off"),
        _column("apr_bps", pa.int64(), "nominal interest rate at purchase, basis points (not the disclosed APR)"),
        _string("disclosed_apr", "the APR disclosed at purchase, percent with two decimals (e.g. 9.98)"),
        _money("amount_financed", "disclosed at purchase"),
        _money("finance_charge", "disclosed at purchase"),
        _money("total_of_payments", "disclosed at purchase"),
        _column("collections_paused", pa.bool_(), "collections wait (hardship)"),
        _column("due_date_moved", pa.bool_(), "the consumer used their one due-date move"),
        _string("refund_policy", "last_first or even_spread"),
        *AUDIT_TIMES,
    ),
    read=_read_plans,
)


def _read_installments(scope: Scope) -> Iterator[Row]:
    from bnpl.plans.models import Installment

    fields: tuple[str, ...] = (
        "plan__public_id",
        "sequence",
        "plan__merchant__public_id",
        "plan__livemode",
        "plan__currency",
        "due_date",
        "amount",
        "principal_amount",
        "interest_amount",
        "fee_amount",
        "paid_amount",
        "status",
        "paid_at",
        "collect_on",
        "fee_for__sequence",
        "created_at",
        "updated_at",
    )
    yield from keyset(Installment.objects.all(), fields, chunk_size=scope.chunk_size)


INSTALLMENTS = TableSpec(
    name="installments",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Installments of every plan (late fees are installments of their own, with fee_for_sequence).",
    columns=(
        _string("plan_id", "the plan (pln_…)"),
        _column("sequence", pa.int32(), "1-based position in the plan; (plan_id, sequence) is the key"),
        *TENANT,
        _string("currency", "ISO 4217"),
        _column("due_date", pa.date32(), "due date (UTC)"),
        _money("amount", "owed in total: principal + interest + fee"),
        _money("principal_amount", "principal part"),
        _money("interest_amount", "interest part"),
        _money("fee_amount", "late fee (late-fee installments only)"),
        _money("paid_amount", "paid so far"),
        _string("status", "scheduled, paid or canceled"),
        _time("paid_at", "when it was paid in full"),
        _column("collect_on", pa.date32(), "when collections next charges it; null: not automatically"),
        _column("fee_for_sequence", pa.int32(), "for a late fee: the installment it was charged on"),
        *AUDIT_TIMES,
    ),
    read=_read_installments,
)


def _read_charges(scope: Scope) -> Iterator[Row]:
    from bnpl.payments.models import Charge

    fields: tuple[str, ...] = (
        "public_id",
        "consumer__public_id",
        "plan__public_id",
        "kind",
        "refunded_charge__public_id",
        "amount",
        "currency",
        "livemode",
        "status",
        "failure_code",
        "payment_method__gateway",
        "payment_method__brand",
        "applied_at",
        "created_at",
        "updated_at",
    )
    for row in keyset(Charge.objects.all(), fields, chunk_size=scope.chunk_size):
        yield (row[0], pseudonym(row[1]), *row[2:])


CHARGES = TableSpec(
    name="charges",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Every attempt to move money on a card: payments and refunds (no card numbers, no tokens).",
    columns=(
        _string("charge_id", "public id (ch_…)"),
        _string("consumer_key", "the consumer's pseudonym (psn_…)"),
        _string("plan_id", "the plan it paid (pln_…), if any"),
        _string("kind", "payment or refund"),
        _string("refunded_charge_id", "for a refund: the payment it gives money back from"),
        _money("amount", "always positive"),
        _string("currency", "ISO 4217"),
        _column("livemode", pa.bool_(), "true for live mode, false for test mode"),
        _string("status", "pending, succeeded or failed"),
        _string("failure_code", "why it failed, e.g. insufficient_funds"),
        _string("gateway", "sandbox or stripe"),
        _string("card_brand", "e.g. visa"),
        _time("applied_at", "when a payment was applied to its plan"),
        *AUDIT_TIMES,
    ),
    read=_read_charges,
)


def _read_collection_attempts(scope: Scope) -> Iterator[Row]:
    from bnpl.collections.models import CollectionAttempt

    fields: tuple[str, ...] = (
        "installment__plan__public_id",
        "installment__sequence",
        "number",
        "status",
        "charge__public_id",
        "amount",
        "installment__plan__currency",
        "failure_code",
        "retry_on",
        "finished_at",
        "created_at",
        "updated_at",
    )
    yield from keyset(CollectionAttempt.objects.all(), fields, chunk_size=scope.chunk_size)


COLLECTION_ATTEMPTS = TableSpec(
    name="collection_attempts",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Each off-session try at charging a due installment.",
    columns=(
        _string("plan_id", "the plan (pln_…)"),
        _column("installment_sequence", pa.int32(), "the installment's sequence in the plan"),
        _column("number", pa.int32(), "attempt 1, 2, … on that installment"),
        _string("status", "processing, succeeded or failed"),
        _string("charge_id", "the charge it made (ch_…)"),
        _money("amount", "asked"),
        _string("currency", "ISO 4217"),
        _string("failure_code", "why it failed"),
        _column("retry_on", pa.date32(), "after a failure: when the next attempt is due"),
        _time("finished_at", "when the attempt settled"),
        *AUDIT_TIMES,
    ),
    read=_read_collection_attempts,
)


# The decision's feature snapshot, as columns: the model's inputs (bureau + platform, named as in the
# Give Me Some Credit spec on the right), the policy's features, and the bank cash flow. Age is
# neither exported nor a model input (a protected characteristic).
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
POLICY_FEATURE_COLUMNS: dict[str, tuple[str, pa.DataType, str]] = {
    "identity_verified": ("identity_verified", pa.bool_(), "policy: the identity basics were complete"),
    "plans_in_arrears": ("plans_in_arrears", pa.int64(), "policy: the consumer's plans behind at decision time"),
    "installments_past_due": ("installments_past_due", pa.int64(), "policy: their installments past due"),
    "outstanding_amount": ("outstanding_amount", pa.int64(), "policy: owed across active plans (minor units)"),
    "exposure_limit_amount": ("exposure_limit_amount", pa.int64(), "policy: most one consumer may owe (minor units)"),
}
CASH_FLOW_COLUMNS: dict[str, tuple[str, pa.DataType, str]] = {
    "cash_flow_months_observed": ("months_observed", pa.int64(), "bank data: months in the window"),
    "cash_flow_monthly_income_amount": ("monthly_income", pa.int64(), "bank data: income per month (minor units)"),
    "cash_flow_income_regularity": ("income_regularity", pa.float64(), "bank data: 1 - CV of monthly income"),
    "cash_flow_average_balance_amount": ("average_balance", pa.int64(), "bank data: mean balance (minor units)"),
    "cash_flow_net_flow_volatility": ("net_flow_volatility", pa.float64(), "bank data: volatility of net flow"),
    "cash_flow_nsf_overdraft_events": ("nsf_overdraft_events", pa.int64(), "bank data: NSF/overdraft events, 3 months"),
    "cash_flow_debt_to_income": ("debt_to_income", pa.float64(), "bank data: debt repayments over income"),
    "cash_flow_free_cash_flow_amount": ("free_cash_flow", pa.int64(), "bank data: free cash flow (minor units)"),
}
FEATURE_COLUMNS: tuple[Column, ...] = (
    *(
        _column(name, pa.float64(), f"model input {source} at decision time (null: unknown)")
        for name, source in MODEL_FEATURE_COLUMNS.items()
    ),
    *(_column(name, kind, description) for name, (_, kind, description) in POLICY_FEATURE_COLUMNS.items()),
    *(_column(name, kind, description) for name, (_, kind, description) in CASH_FLOW_COLUMNS.items()),
)


def _convert(value: Any, kind: pa.DataType) -> Any:
    if pa.types.is_boolean(kind):
        return _boolean(value)
    if pa.types.is_integer(kind):
        return _integer(value)
    return _float(value)


def feature_values(model_inputs: dict[str, Any] | None, features: dict[str, Any] | None, cash_flow: Any) -> Row:
    """The decision's stored feature snapshot in ``FEATURE_COLUMNS`` order."""
    model_inputs, features, cash_flow = model_inputs or {}, features or {}, cash_flow or {}
    return (
        *(_float(model_inputs.get(source)) for source in MODEL_FEATURE_COLUMNS.values()),
        *(_convert(features.get(key), kind) for key, kind, _ in POLICY_FEATURE_COLUMNS.values()),
        *(_convert(cash_flow.get(key), kind) for key, kind, _ in CASH_FLOW_COLUMNS.values()),
    )


def _read_decisions(scope: Scope) -> Iterator[Row]:
    from decisioning.models import CreditDecision

    fields: tuple[str, ...] = (
        "public_id",
        "merchant__public_id",
        "livemode",
        "consumer__public_id",
        "checkout_session__public_id",
        "product_kind",
        "amount",
        "currency",
        "outcome",
        "spending_limit",
        "approved_amount",
        "down_payment_amount",
        "reasons",
        "policy_version",
        "model_version__public_id",
        "model_version__name",
        "model_version__version",
        "score",
        "cutoff_probability",
        "challenger_version__public_id",
        "challenger_score",
        "latency_ms",
        "review_status",
        "reviewed_at",
        "created_at",
        "model_inputs",
        "features",
        "cash_flow",
    )
    for row in keyset(CreditDecision.objects.all(), fields, chunk_size=scope.chunk_size):
        reasons = [str(reason.get("code", "")) for reason in (row[12] or []) if isinstance(reason, dict)]
        yield (*row[:3], pseudonym(row[3]), *row[4:12], reasons, *row[13:25], *feature_values(*row[25:28]))


CREDIT_DECISIONS = TableSpec(
    name="credit_decisions",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Every credit decision with the features it saw, the model version and its score.",
    columns=(
        _string("decision_id", "public id (dec_…)"),
        *TENANT,
        _string("consumer_key", "the consumer's pseudonym (psn_…)"),
        _string("checkout_session_id", "the checkout session (cs_…)"),
        _string("product_kind", "pay_in_4, pay_in_30 or financing"),
        _money("amount", "asked for"),
        _string("currency", "ISO 4217"),
        _string("outcome", "approved, approved_with_down_payment, declined or referred"),
        _money("spending_limit_amount", "the consumer's limit for this product"),
        _money("approved_amount", "lent (approvals only)"),
        _money("down_payment_amount", "due today on top of the product's own"),
        _column("reason_codes", pa.list_(pa.string()), "principal reasons, first first (codes only)"),
        _string("policy_version", "rules version"),
        _string("model_version_id", "the champion model that scored it (mdl_…)"),
        _string("model_name", "its registry name"),
        _column("model_version", pa.int64(), "its version number"),
        _column("score", pa.float64(), "calibrated probability of default"),
        _column("cutoff_probability", pa.float64(), "declined at or above"),
        _string("challenger_version_id", "the challenger scored in shadow (mdl_…)"),
        _column("challenger_score", pa.float64(), "its probability of default (never acted on)"),
        _column("latency_ms", pa.float64(), "features + policy + model + reasons, milliseconds"),
        _string("review_status", "for referrals: approved or declined by a person"),
        _time("reviewed_at", "when the review happened"),
        _time("created_at", "when the decision was made"),
        *FEATURE_COLUMNS,
    ),
    read=_read_decisions,
)


def _read_settlements(scope: Scope) -> Iterator[Row]:
    from merchants.models import Settlement

    fields: tuple[str, ...] = (
        "public_id",
        "merchant__public_id",
        "livemode",
        "currency",
        "cutoff",
        "captured_amount",
        "fee_amount",
        "refunded_amount",
        "fee_refunded_amount",
        "carried_in_amount",
        "net_amount",
        "status",
        "paid_at",
        "created_at",
        "updated_at",
    )
    yield from keyset(Settlement.objects.all(), fields, chunk_size=scope.chunk_size)


SETTLEMENTS = TableSpec(
    name="settlements",
    kind=SNAPSHOT,
    stream="snapshots",
    description="Merchant payout batches: captured - fees - refunds + fees back + carried in = net.",
    columns=(
        _string("settlement_id", "public id (stl_…)"),
        *TENANT,
        _string("currency", "ISO 4217"),
        _time("cutoff", "captures and refunds before this instant are in the batch"),
        _money("captured_amount", "captured"),
        _money("fee_amount", "our fees"),
        _money("refunded_amount", "refunded"),
        _money("fee_refunded_amount", "fees given back"),
        _money("carried_in_amount", "carried from the batch before"),
        _money("net_amount", "paid out (or carried forward when not positive)"),
        _string("status", "pending, paid, carried_forward or failed"),
        _time("paid_at", "when the payout was confirmed"),
        *AUDIT_TIMES,
    ),
    read=_read_settlements,
)


# --- The loan tape -------------------------------------------------------------------------------


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


def _read_loan_tape(scope: Scope) -> Iterator[Row]:
    from bnpl.plans.models import Installment, Plan
    from decisioning.models import CreditDecision

    assert scope.as_of is not None
    as_of = scope.as_of.date()
    fields: tuple[str, ...] = (
        "public_id",
        "merchant__public_id",
        "livemode",
        "consumer__public_id",
        "product__kind",
        "product__installment_count",
        "currency",
        "apr_bps",
        "status",
        "standing",
        "created_at",
        "order__checkout_session_id",
    )
    for chunk in keyset_chunks(Plan.objects.all(), fields, chunk_size=scope.chunk_size):
        plan_keys = [row[0] for row in chunk]
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
        decisions = _approving_decisions(CreditDecision, [row[12] for row in chunk])
        for (
            key,
            public_id,
            merchant,
            livemode,
            consumer,
            kind,
            count,
            currency,
            apr,
            status,
            standing,
            created,
            session,
        ) in chunk:
            outcome = plan_outcome(status=status, standing=standing, installments=installments[key], as_of=as_of)
            decision = decisions.get(session)
            yield (
                public_id,
                merchant,
                livemode,
                pseudonym(consumer),
                kind,
                count,
                currency,
                apr,
                outcome.principal_amount,
                outcome.total_amount,
                decision[0] if decision else None,
                decision[1] if decision else None,
                decision[2] if decision else None,
                *(feature_values(*decision[3:6]) if decision else feature_values(None, None, None)),
                created.date(),
                outcome.maturity_date,
                as_of,
                status,
                standing,
                outcome.paid_amount,
                outcome.late_fee_amount,
                outcome.matured,
                outcome.paid_on_time,
                outcome.max_days_past_due,
                outcome.charged_off,
                outcome.bad,
            )


def _approving_decisions(model: Any, session_keys: list[int]) -> dict[int, tuple[Any, ...]]:
    """For each checkout session, the latest decision that let the plan exist: an approval, or a
    referral a person approved."""
    found: dict[int, tuple[Any, ...]] = {}
    rows = (
        model.objects.filter(checkout_session_id__in=session_keys)
        .filter(Q(outcome__in=model.APPROVALS) | Q(review_status="approved"))
        .order_by("checkout_session_id", "created_at", "pk")
        .values_list(
            "checkout_session_id",
            "public_id",
            "model_version__public_id",
            "score",
            "model_inputs",
            "features",
            "cash_flow",
        )
    )
    for session, *decision in rows:
        found[session] = tuple(decision)  # the latest wins
    return found


LOAN_TAPE = TableSpec(
    name="loan_tape",
    kind=SNAPSHOT,
    stream="snapshots",
    description=(
        "One row per plan: the features the decision saw and the realized outcome as of the snapshot. "
        "Train only on matured rows; `bad` is the label (SeriousDlqin2yrs semantics)."
    ),
    columns=(
        _string("plan_id", "public id (pln_…)"),
        *TENANT,
        _string("consumer_key", "the consumer's pseudonym (psn_…)"),
        _string("product_kind", "pay_in_4, pay_in_30 or financing"),
        _column("installment_count", pa.int32(), "the product's number of installments"),
        _string("currency", "ISO 4217"),
        _column("apr_bps", pa.int64(), "nominal interest rate, basis points (not the disclosed APR)"),
        _money("principal_amount", "financed (principal of the regular installments, after refunds)"),
        _money("total_amount", "owed in regular installments: principal + interest"),
        _string("decision_id", "the approving decision (dec_…)"),
        _string("model_version_id", "the model that scored it (mdl_…); null when the rules decided alone"),
        _column("score", pa.float64(), "its calibrated probability of default"),
        *FEATURE_COLUMNS,
        _column("origination_date", pa.date32(), "when the plan was made"),
        _column("maturity_date", pa.date32(), "the last regular installment's due date"),
        _column("as_of_date", pa.date32(), "the date the outcome columns describe (the snapshot's)"),
        _string("status", "active, paid or canceled"),
        _string("standing", "current, late, delinquent or charged_off"),
        _money("paid_amount", "paid so far, late fees included"),
        _money("late_fee_amount", "late fees charged"),
        _column(
            "matured",
            pa.bool_(),
            f"the outcome is final: paid, cancelled, charged off, or {OUTCOME_WINDOW_DAYS} days past maturity",
        ),
        _column("paid_on_time", pa.bool_(), "every regular installment paid by its due date (null until matured)"),
        _column("max_days_past_due", pa.int32(), "the worst days past due of any regular installment so far"),
        _column("charged_off", pa.bool_(), "written off as a credit loss"),
        _column(
            "bad",
            pa.bool_(),
            f"{BAD_DAYS_PAST_DUE}+ days past due or charged off (SeriousDlqin2yrs); null until matured",
        ),
    ),
    read=_read_loan_tape,
)


TABLES: tuple[TableSpec, ...] = (
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
    from bnpl.core.models import Event

    return Event if spec.name == "events" else _posting_model()
