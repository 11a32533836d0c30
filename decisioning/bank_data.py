"""Alternative data: bank transactions that merchants and data partners stream in, with the
consumer's consent recorded, aggregated incrementally into monthly cash-flow totals that credit
decisions read (``cash_flow_for``).

* Consent first: transactions are refused unless the merchant holds a current consent for the
  consumer. Revoking it deletes what was shared under it and rebuilds the totals.
* Idempotent per transaction id: a transaction id the same source already sent is skipped (the first
  copy stands), so a partner can resend a whole stream after a failure.
* Incremental: each batch adds only its new transactions to their months' totals, under the
  consumer's row lock, in the same transaction as the rows themselves.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from django.db import transaction
from django.db.models import Exists, F, OuterRef, QuerySet

from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.services import change_record
from bnpl.plans.schedule import add_months
from consumers.models import Consumer, MerchantConsumer
from consumers.representations import bank_data_consent_data
from decisioning.cashflow import (
    STALE_AFTER_MONTHS,
    WINDOW_MONTHS,
    CashFlowFeatures,
    MonthTotals,
    Transaction,
    cash_flow_features,
    monthly_totals,
)
from decisioning.models import BankDataConsent, BankTransaction, CashFlowMonth

MAX_BATCH = 1000
# MonthTotals field -> CashFlowMonth column
_COLUMNS = {
    "inflow": "inflow_amount",
    "outflow": "outflow_amount",
    "income": "income_amount",
    "debt_payments": "debt_payment_amount",
    "nsf": "nsf_count",
    "overdrafts": "overdraft_count",
    "transactions": "transaction_count",
    "balance_sum": "balance_sum",
    "balance_count": "balance_count",
}
# Categories whose sign is fixed: income comes in; repayments and fees go out.
_SIGN = {
    BankTransaction.Category.INCOME: 1,
    BankTransaction.Category.DEBT_PAYMENT: -1,
    BankTransaction.Category.NSF_FEE: -1,
    BankTransaction.Category.OVERDRAFT_FEE: -1,
}


@dataclass(frozen=True)
class IncomingTransaction:
    id: str
    account_id: str
    booked_on: dt.date
    amount: int
    currency: str
    category: str = BankTransaction.Category.OTHER
    balance_after: int | None = None


@dataclass(frozen=True)
class IngestResult:
    consumer: str  # the merchant's cus_ id
    received: int
    created: int
    duplicates: int

    def as_dict(self) -> dict[str, object]:
        """The batch as the API answers it and its event records it."""
        return {"object": "bank_transaction_batch", **asdict(self)}


# --- Consent ------------------------------------------------------------------------------------


def consent_record(
    *, link: MerchantConsumer, reference: str, granted_at: dt.datetime, expires_at: dt.datetime | None = None
) -> BankDataConsent:
    """Record (or renew) the consumer's consent, as the merchant collected it."""
    now = clock.now()
    if granted_at > now + dt.timedelta(minutes=5):
        raise InvalidRequestError("granted_at: a consent cannot be granted in the future.", param="granted_at")
    if expires_at is not None and expires_at <= max(granted_at, now):
        raise InvalidRequestError("expires_at: must be after granted_at and in the future.", param="expires_at")
    with transaction.atomic():
        MerchantConsumer.objects.select_for_update().get(pk=link.pk)  # two first consents at once: one waits
        consent = BankDataConsent.objects.select_for_update().filter(merchant_consumer=link).first()
        before = bank_data_consent_data(consent) if consent else None
        if consent is None:
            consent = BankDataConsent(merchant=link.merchant, livemode=link.livemode, merchant_consumer=link)
        consent.reference, consent.granted_at, consent.expires_at, consent.revoked_at = (
            reference,
            granted_at,
            expires_at,
            None,
        )
        consent.save()
        change_record(
            action="bank_data_consent.recorded", instance=consent, before=before, data=bank_data_consent_data(consent)
        )
    return consent


def consent_revoke(*, link: MerchantConsumer) -> BankDataConsent:
    """Revoke the consent and delete every transaction shared under it; the totals are rebuilt."""
    with transaction.atomic():
        Consumer.objects.select_for_update().get(pk=link.consumer_id)
        consent = BankDataConsent.objects.select_for_update().filter(merchant_consumer=link).first()
        if consent is None or consent.revoked_at is not None:
            raise StateError("There is no consent to revoke.", code="no_consent")
        before = bank_data_consent_data(consent)
        deleted, _ = BankTransaction.objects.filter(consent=consent).delete()
        _rebuild_months(consumer_id=link.consumer_id, livemode=link.livemode)
        consent.revoked_at = clock.now()
        consent.save(update_fields=["revoked_at", "updated_at"])
        change_record(
            action="bank_data_consent.revoked",
            instance=consent,
            before=before,
            data={**bank_data_consent_data(consent), "transactions_deleted": deleted},
        )
    return consent


def consents_expire() -> int:
    """Delete what was shared under consents that have expired (as a revocation does) and rebuild
    the totals, so expired data never feeds a decision. Idempotent; returns the consents cleared."""
    now = clock.now()
    shared = BankTransaction.objects.filter(consent=OuterRef("pk"))
    expired = BankDataConsent.objects.filter(revoked_at__isnull=True, expires_at__lte=now).filter(Exists(shared))
    cleared = 0
    for consent_id in expired.values_list("pk", flat=True):
        with transaction.atomic():
            consent = BankDataConsent.objects.select_related("merchant_consumer").get(pk=consent_id)
            Consumer.objects.select_for_update().get(pk=consent.merchant_consumer.consumer_id)
            deleted, _ = BankTransaction.objects.filter(consent=consent).delete()
            _rebuild_months(consumer_id=consent.merchant_consumer.consumer_id, livemode=consent.livemode)
            change_record(
                action="bank_data_consent.expired",
                instance=consent,
                data={**bank_data_consent_data(consent), "transactions_deleted": deleted},
            )
            cleared += 1
    return cleared


# --- Transactions -------------------------------------------------------------------------------


def transactions_ingest(*, link: MerchantConsumer, transactions: Sequence[IncomingTransaction]) -> IngestResult:
    """Keep the new transactions of a batch and add them to the monthly totals. All or nothing: a
    batch with one bad transaction changes nothing (the error names it)."""
    if not transactions:
        raise InvalidRequestError("Send at least one transaction.", param="transactions")
    if len(transactions) > MAX_BATCH:
        raise InvalidRequestError(f"Send at most {MAX_BATCH} transactions at a time.", param="transactions")
    today = clock.today()
    for index, txn in enumerate(transactions):
        _check(txn, f"transactions[{index}]", today)
    with transaction.atomic():
        Consumer.objects.select_for_update().get(pk=link.consumer_id)  # one batch per consumer at a time
        consent = BankDataConsent.objects.filter(merchant_consumer=link).first()
        if consent is None or not consent.is_current(clock.now()):
            raise StateError(
                "Record the consumer's consent to share bank data first (POST …/bank-data-consent).",
                code="consent_required",
            )
        seen = set(
            BankTransaction.objects.filter(
                merchant=link.merchant,
                livemode=link.livemode,
                consumer_id=link.consumer_id,
                external_id__in=[txn.id for txn in transactions],
            ).values_list("external_id", flat=True)
        )
        new = []
        for txn in transactions:
            if txn.id not in seen:
                seen.add(txn.id)
                new.append(txn)
        BankTransaction.objects.bulk_create(
            BankTransaction(
                consumer_id=link.consumer_id,
                livemode=link.livemode,
                merchant=link.merchant,
                consent=consent,
                external_id=txn.id,
                account_id=txn.account_id,
                booked_on=txn.booked_on,
                amount=txn.amount,
                currency=txn.currency,
                balance_after=txn.balance_after,
                category=txn.category,
            )
            for txn in new
        )
        _add_to_months(link.consumer_id, link.livemode, monthly_totals([_as_transaction(txn) for txn in new]).items())
        result = IngestResult(
            consumer=link.public_id,
            received=len(transactions),
            created=len(new),
            duplicates=len(transactions) - len(new),
        )
        change_record(action="bank_transactions.received", instance=link, data=result.as_dict())
    return result


def _check(txn: IncomingTransaction, where: str, today: dt.date) -> None:
    if txn.amount == 0:
        raise InvalidRequestError(f"{where}.amount: a transaction moves money; 0 is not one.", param=f"{where}.amount")
    sign = _SIGN.get(BankTransaction.Category(txn.category))
    if sign is not None and (txn.amount > 0) != (sign > 0):
        direction = "positive (money in)" if sign > 0 else "negative (money out)"
        raise InvalidRequestError(
            f"{where}.amount: a {txn.category} transaction is {direction}.", param=f"{where}.amount"
        )
    if txn.booked_on > today:
        raise InvalidRequestError(f"{where}.booked_on: cannot be in the future.", param=f"{where}.booked_on")


def _as_transaction(txn: IncomingTransaction | BankTransaction) -> Transaction:
    return Transaction(
        booked_on=txn.booked_on,
        amount=txn.amount,
        currency=txn.currency,
        category=txn.category,
        balance_after=txn.balance_after,
    )


def _add_to_months(consumer_id: int, livemode: bool, totals: Iterable[tuple[tuple[str, dt.date], MonthTotals]]) -> None:
    """Add each month's totals to its row (made on first use). The caller holds the consumer's lock."""
    for (currency, month), month_totals in totals:
        row, _ = CashFlowMonth.objects.get_or_create(
            consumer_id=consumer_id, livemode=livemode, currency=currency, month=month
        )
        CashFlowMonth.objects.filter(pk=row.pk).update(
            **{column: F(column) + getattr(month_totals, field) for field, column in _COLUMNS.items()},
            updated_at=clock.now(),
        )


def _rebuild_months(*, consumer_id: int, livemode: bool) -> None:
    CashFlowMonth.objects.filter(consumer_id=consumer_id, livemode=livemode).delete()
    remaining = BankTransaction.objects.filter(consumer_id=consumer_id, livemode=livemode)
    _add_to_months(consumer_id, livemode, monthly_totals([_as_transaction(txn) for txn in remaining]).items())


# --- Reads --------------------------------------------------------------------------------------


def cash_flow_months(*, consumer: Consumer, livemode: bool, currency: str, today: dt.date) -> list[MonthTotals]:
    earliest = add_months(today.replace(day=1), -(WINDOW_MONTHS + STALE_AFTER_MONTHS))
    rows: QuerySet[CashFlowMonth] = CashFlowMonth.objects.filter(
        consumer=consumer, livemode=livemode, currency=currency, month__gte=earliest
    )
    return [
        MonthTotals(month=row.month, **{field: getattr(row, column) for field, column in _COLUMNS.items()})
        for row in rows
    ]


def cash_flow_for(*, consumer: Consumer, livemode: bool, currency: str) -> CashFlowFeatures | None:
    """The consumer's cash-flow features in this currency today, or None without fresh bank data."""
    today = clock.today()
    return cash_flow_features(
        cash_flow_months(consumer=consumer, livemode=livemode, currency=currency, today=today), today=today
    )
