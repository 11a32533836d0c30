"""Writes of the ledger: ``ledger_post``, the one way money moves between accounts.

Business services (authorize, capture, refund, collect, charge off) call it inside their own
transaction, next to their audit row and outbox event, so the ledger moves if and only if the
business change commits. The journal entry is itself the record of the movement: the caller's audit
row says who caused it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Model, Q

from bnpl.core.ids import generate_public_id
from bnpl.core.inserts import insert_many, insert_row, insert_sql, saved
from bnpl.core.money import CURRENCY_EXPONENTS, MAX_AMOUNT
from bnpl.ledger.errors import (
    CurrencyMismatchError,
    IdempotencyConflictError,
    InvalidEntryError,
    UnbalancedEntryError,
)
from bnpl.ledger.models import Account, AccountCode, JournalEntry, Posting

if TYPE_CHECKING:
    from consumers.models import Consumer
    from merchants.models import Merchant


@dataclass(frozen=True)
class Line:
    """One posting to be: ``amount`` is signed minor units, debit positive, credit negative.

    ``merchant`` and ``consumer`` pick the account's dimensions (``None``: the account without that
    dimension). ``currency``, when given, must be the entry's: it lets a caller state what it means
    and have a mix refused.
    """

    account: AccountCode
    amount: int
    merchant: Merchant | None = None
    consumer: Consumer | None = None
    currency: str | None = None


# (code, merchant id, consumer id): an account's dimensions within one entry's currency and mode.
_AccountKey = tuple[str, int | None, int | None]
# (code, merchant id, consumer id, amount): a checked line.
_CheckedLine = tuple[str, int | None, int | None, int]
# The parts of a post that an idempotent retry must repeat exactly.
_Fingerprint = tuple[str, str, bool, int | None, str, str, tuple[_CheckedLine, ...]]


def ledger_post(
    *,
    entry_type: str,
    currency: str,
    livemode: bool,
    lines: Sequence[Line],
    merchant: Merchant | None = None,
    reference: Model | None = None,
    idempotency_key: str | None = None,
    description: str = "",
) -> JournalEntry:
    """Post one balanced journal entry and return it.

    Invariants: the lines sum to exactly zero, none is zero, all are in ``currency``; nothing is
    written unless all of that holds. With an ``idempotency_key`` that already posted, the existing
    entry is returned and nothing is written; if that entry differs (type, currency, mode, merchant,
    reference or lines; the description is not compared) ``IdempotencyConflictError`` is raised.
    Accounts are made on first use, race-safely, in a fixed order.

    Must run inside the caller's transaction (the entry commits with the change it records).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("ledger_post must be called inside the transaction of the change it records")
    currency = _checked_currency(currency)
    checked_lines = _checked_lines(lines, currency=currency)
    reference_type, reference_id = _reference(reference)
    fingerprint: _Fingerprint = (
        entry_type,
        currency,
        livemode,
        _pk(merchant),
        reference_type,
        reference_id,
        _sorted_lines(checked_lines),
    )
    entry_fields = {
        "entry_type": entry_type,
        "currency": currency,
        "livemode": livemode,
        "merchant": merchant,
        "reference_type": reference_type,
        "reference_id": reference_id,
        "idempotency_key": idempotency_key,
        "description": description,
    }
    if connection.vendor == "postgresql":
        entry = JournalEntry(**entry_fields)
        posted = _insert_with_postings(entry, checked_lines, ignore_conflicts=idempotency_key is not None)
        if posted is None:
            return _replayed_or_refused(entry, fingerprint)
        if posted:
            return entry
    elif idempotency_key is None:
        entry = JournalEntry.objects.create(**entry_fields)
    else:
        entry = JournalEntry(**entry_fields)
        if not _insert_unless_exists(entry):
            return _replayed_or_refused(entry, fingerprint)
    accounts = _accounts_for(
        {(code, merchant_id, consumer_id) for code, merchant_id, consumer_id, _ in checked_lines},
        currency=currency,
        livemode=livemode,
    )
    Posting.objects.bulk_create(
        Posting(entry=entry, account_id=accounts[(code, merchant_id, consumer_id)], amount=amount, currency=currency)
        for code, merchant_id, consumer_id, amount in checked_lines
    )
    return entry


def _replayed_or_refused(entry: JournalEntry, fingerprint: _Fingerprint) -> JournalEntry:
    """``entry`` was not inserted: its idempotency key had posted already."""
    existing = JournalEntry.objects.filter(idempotency_key=entry.idempotency_key).first()
    if existing is None:  # the conflict was on another unique column (a public id drawn twice)
        raise IntegrityError(f"journal entry {entry.public_id} conflicts with an existing one")
    return _replayed(existing, fingerprint)


def _insert_with_postings(entry: JournalEntry, lines: Sequence[_CheckedLine], *, ignore_conflicts: bool) -> bool | None:
    """On PostgreSQL, in one statement: INSERT the entry (skipped, with ``ignore_conflicts``, when its
    idempotency key had posted: then None and nothing written) and its postings on the accounts the
    lines name, all of them or, if any account is missing, none (then False: the caller makes the
    accounts and posts the lines). True when the entry and every posting were written.

    Each line's account is found by its own subquery, shaped to its dimensions (``= %s`` or ``IS
    NULL``) so that each uses its partial unique index (``_dimension_uniqueness``)."""
    entry.public_id = entry.public_id or generate_public_id(JournalEntry.PUBLIC_ID_PREFIX)
    entry_sql, entry_params = insert_sql(entry, ignore_conflicts=ignore_conflicts)
    quote = connection.ops.quote_name
    account_table, posting_table = quote(Account._meta.db_table), quote(Posting._meta.db_table)
    columns = ", ".join(quote(column) for column in ("entry_id", "account_id", "amount", "currency"))
    rows: list[str] = []
    params: list[Any] = list(entry_params)
    for code, merchant_id, consumer_id, amount in lines:
        matches = ["code = %s", "currency = %s", "livemode = %s"]
        params += [code, entry.currency, entry.livemode]
        for column, value in (("merchant_id", merchant_id), ("consumer_id", consumer_id)):
            matches.append(f"{column} IS NULL" if value is None else f"{column} = %s")
            params += [] if value is None else [value]
        rows.append(f"((SELECT id FROM {account_table} WHERE {' AND '.join(matches)}), %s::bigint)")  # noqa: S608  # nosec B608
        params.append(amount)
    params.append(entry.currency)
    statement = (
        f"WITH entry AS ({entry_sql}), lines(account_id, amount) AS (VALUES {', '.join(rows)}), "  # noqa: S608  # nosec B608
        f"posted AS (INSERT INTO {posting_table} ({columns}) SELECT entry.id, lines.account_id, lines.amount, %s "
        "FROM entry CROSS JOIN lines WHERE NOT EXISTS (SELECT 1 FROM lines WHERE account_id IS NULL) RETURNING 1) "
        "SELECT (SELECT id FROM entry), (SELECT count(*) FROM posted)"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        entry_id, postings = cursor.fetchone()
    if entry_id is None:
        return None
    saved(entry, entry_id)
    return postings == len(lines)


def _insert_unless_exists(entry: JournalEntry) -> bool:
    """INSERT the entry unless one with its idempotency key exists, in one statement and without a
    savepoint (``ON CONFLICT DO NOTHING RETURNING id``): True and ``entry`` saved, or False when the
    key had posted already (a concurrent post of the same key waits for the other transaction to
    end, then finds its row)."""
    entry.public_id = entry.public_id or generate_public_id(JournalEntry.PUBLIC_ID_PREFIX)
    return insert_row(entry, ignore_conflicts=True)


@dataclass(frozen=True)
class Entry:
    """One journal entry for ``ledger_post_many``: the arguments ``ledger_post`` takes."""

    entry_type: str
    currency: str
    livemode: bool
    lines: Sequence[Line]
    merchant: Merchant | None = None
    reference: Model | None = None
    idempotency_key: str | None = None
    description: str = ""


def ledger_post_many(*, entries: Sequence[Entry]) -> None:
    """``ledger_post`` for a batch of entries in one transaction (collections settling a batch), with
    the same invariants, each entry checked alone, and a handful of queries whatever the batch's size:
    the keys already posted are read at once (those entries are replayed, as ``ledger_post`` does), the
    rest are inserted together with their accounts and postings. A concurrent post of one of the
    same keys makes the whole insert fail inside its savepoint; the batch is then posted entry by
    entry, which replays it. Must run inside the caller's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("ledger_post_many must be called inside the transaction of the changes it records")
    checked = [(entry, _checked_lines(entry.lines, currency=_checked_currency(entry.currency))) for entry in entries]
    keys = [entry.idempotency_key for entry in entries if entry.idempotency_key is not None]
    if len(set(keys)) != len(keys):
        raise InvalidEntryError("two entries of one batch share an idempotency key")
    posted = set(JournalEntry.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
    fresh = [(entry, lines) for entry, lines in checked if entry.idempotency_key not in posted]
    for entry, _ in checked:
        if entry.idempotency_key in posted:
            _post_one(entry)  # replayed: returns the entry posted before, or refuses a different one
    if not fresh:
        return
    try:
        with transaction.atomic():
            _insert_entries(fresh)
    except IntegrityError:
        for entry, _ in fresh:
            _post_one(entry)


def _post_one(entry: Entry) -> JournalEntry:
    return ledger_post(
        entry_type=entry.entry_type,
        currency=entry.currency,
        livemode=entry.livemode,
        lines=entry.lines,
        merchant=entry.merchant,
        reference=entry.reference,
        idempotency_key=entry.idempotency_key,
        description=entry.description,
    )


def _insert_entries(entries: Sequence[tuple[Entry, list[_CheckedLine]]]) -> None:
    rows = []
    for entry, _ in entries:
        reference_type, reference_id = _reference(entry.reference)
        rows.append(
            JournalEntry(
                public_id=generate_public_id(JournalEntry.PUBLIC_ID_PREFIX),
                entry_type=entry.entry_type,
                currency=entry.currency.upper(),
                livemode=entry.livemode,
                merchant_id=_pk(entry.merchant),  # ids, not rows: the related rows' checks cost more than the entry
                reference_type=reference_type,
                reference_id=reference_id,
                idempotency_key=entry.idempotency_key,
                description=entry.description,
            )
        )
    written = insert_many(rows)
    accounts: dict[tuple[str, bool], dict[_AccountKey, int]] = {}
    for (currency, livemode), group in _group_by_book(entries).items():
        keys = {(code, merchant_id, consumer_id) for lines in group for code, merchant_id, consumer_id, _ in lines}
        accounts[(currency, livemode)] = _accounts_for(keys, currency=currency, livemode=livemode)
    insert_many(
        [
            Posting(
                entry_id=journal_entry.pk,
                account_id=accounts[(journal_entry.currency, journal_entry.livemode)][(code, merchant_id, consumer_id)],
                amount=amount,
                currency=journal_entry.currency,
            )
            for journal_entry, (_, lines) in zip(written, entries, strict=True)
            for code, merchant_id, consumer_id, amount in lines
        ]
    )


def _group_by_book(
    entries: Sequence[tuple[Entry, list[_CheckedLine]]],
) -> dict[tuple[str, bool], list[list[_CheckedLine]]]:
    """The entries' lines by (currency, mode): the accounts of each are looked up together."""
    groups: dict[tuple[str, bool], list[list[_CheckedLine]]] = {}
    for entry, lines in entries:
        groups.setdefault((entry.currency.upper(), entry.livemode), []).append(lines)
    return groups


def _checked_currency(currency: object) -> str:
    if not isinstance(currency, str) or currency.upper() not in CURRENCY_EXPONENTS:
        raise InvalidEntryError(f"{currency!r} is not a supported ISO 4217 currency code")
    return currency.upper()


_ACCOUNT_CODES = frozenset(AccountCode.values)  # ``.values`` is a new list at every read


def _checked_lines(lines: Sequence[Line], *, currency: str) -> list[_CheckedLine]:
    if not lines:
        raise InvalidEntryError("a journal entry needs lines")
    for index, line in enumerate(lines):
        if line.account not in _ACCOUNT_CODES and line.account not in AccountCode.values:  # (a member hashes apart)
            raise InvalidEntryError(f"line {index}: {line.account!r} is not an account code")
        if type(line.amount) is not int:
            raise InvalidEntryError(f"line {index}: the amount must be an int of minor units, not {line.amount!r}")
        if line.amount == 0:
            raise InvalidEntryError(f"line {index}: a zero amount moves nothing")
        if abs(line.amount) > MAX_AMOUNT:
            raise InvalidEntryError(f"line {index}: {line.amount} is beyond the largest amount, {MAX_AMOUNT}")
        if line.currency is not None and _checked_currency(line.currency) != currency:
            raise CurrencyMismatchError(f"line {index} is in {line.currency}, the entry in {currency}")
        for dimension in (line.merchant, line.consumer):
            if dimension is not None and dimension.pk is None:
                raise InvalidEntryError(f"line {index}: {type(dimension).__name__} is not saved")
    total = sum(line.amount for line in lines)
    if total != 0:
        raise UnbalancedEntryError(f"the lines sum to {total} {currency}, not zero")
    return [(AccountCode(line.account).value, _pk(line.merchant), _pk(line.consumer), line.amount) for line in lines]


def _pk(instance: Model | None) -> int | None:
    return instance.pk if instance is not None else None


def _reference(reference: Model | None) -> tuple[str, str]:
    if reference is None:
        return "", ""
    return reference._meta.label_lower, getattr(reference, "public_id", None) or str(reference.pk)


def _sorted_lines(lines: Iterable[_CheckedLine]) -> tuple[_CheckedLine, ...]:
    """Lines in a canonical order: the order of the lines does not change what an entry means."""
    return tuple(sorted(lines, key=lambda line: (line[0], line[1] or 0, line[2] or 0, line[3])))


def _replayed(entry: JournalEntry, fingerprint: _Fingerprint) -> JournalEntry:
    postings = entry.postings.select_related("account")
    posted: _Fingerprint = (
        entry.entry_type,
        entry.currency,
        entry.livemode,
        entry.merchant_id,
        entry.reference_type,
        entry.reference_id,
        _sorted_lines(
            (posting.account.code, posting.account.merchant_id, posting.account.consumer_id, posting.amount)
            for posting in postings
        ),
    )
    if posted != fingerprint:
        raise IdempotencyConflictError(
            f"idempotency key {entry.idempotency_key!r} already posted {entry.public_id} with different contents"
        )
    return entry


def _accounts_for(keys: set[_AccountKey], *, currency: str, livemode: bool) -> dict[_AccountKey, int]:
    """The ids of the accounts with these dimensions, made if missing.

    Race-safe: missing accounts are inserted with ON CONFLICT DO NOTHING (a concurrent insert of the
    same account waits for the other transaction, then skips) and read back. Inserts go in one sorted
    order, so two posts that make the same accounts cannot deadlock.
    """
    accounts = _existing_accounts(keys, currency=currency, livemode=livemode)
    missing = sorted(keys - accounts.keys(), key=lambda key: (key[0], key[1] or 0, key[2] or 0))
    if missing:
        Account.objects.bulk_create(
            [
                Account(
                    code=code, currency=currency, livemode=livemode, merchant_id=merchant_id, consumer_id=consumer_id
                )
                for code, merchant_id, consumer_id in missing
            ],
            ignore_conflicts=True,
        )
        accounts = _existing_accounts(keys, currency=currency, livemode=livemode)
    return accounts


def _existing_accounts(keys: set[_AccountKey], *, currency: str, livemode: bool) -> dict[_AccountKey, int]:
    """The ids of the accounts with these dimensions that exist, in one query (ids, no rows built):
    a list of values per dimension (or none), not a condition per key (which costs more to build and
    to plan than the accounts it reads). It may find an account not asked for -- another pairing of
    the same codes, merchants and consumers --, left out here."""
    found = Account.objects.filter(currency=currency, livemode=livemode, code__in=sorted({key[0] for key in keys}))
    for name, values in (("merchant_id", {key[1] for key in keys}), ("consumer_id", {key[2] for key in keys})):
        present = sorted(value for value in values if value is not None)
        condition = Q(**{f"{name}__isnull": True}) if None in values else Q()
        if present:
            condition |= Q(**{f"{name}__in": present})
        found = found.filter(condition)
    ids = {
        (code, merchant_id, consumer_id): pk
        for code, merchant_id, consumer_id, pk in found.values_list("code", "merchant_id", "consumer_id", "pk")
    }
    return {key: pk for key, pk in ids.items() if key in keys}
