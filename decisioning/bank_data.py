"""Alternative data: bank transactions that sources (merchants, and data partners such as
open-banking aggregators) stream in under the consumer's consent, aggregated incrementally into
monthly cash-flow totals per consent that credit decisions read (``cash_flow_for``).

* Attributed: every transaction and every monthly total names its source and the consent it was
  shared under. A decision for a purchase at a merchant reads that merchant's own data, and another
  source's only under a consent the consumer widened, in their account, to all their decisions.
* Consent first: transactions are refused unless the source holds a current consent. A source's
  record of consent is its own assertion, so it covers the source's own decisions and no more.
  Revoking (by the source or the consumer) or expiry deletes what was shared under it, its totals
  with it; a consent the consumer revoked is granted again only by the consumer.
* Data partners (``partners.DataPartner``) hold no consent of their own making: the consumer grants
  one in their account, to a named partner, until a date (``partner_consent_grant``), for all their
  decisions; the partner then streams through ``partner_transactions_ingest``, the same storage and
  totals as a merchant's stream, so its data feeds decisions exactly as a merchant's widened data.
  Its consents' events are ``data_partner_consent.*`` (operators' only: no merchant hears of them).
* Idempotent per transaction id: an id already shared under the consent is skipped (the first copy
  stands), so a source can resend a whole stream after a failure.
* Incremental: each batch adds only its new transactions to their months' totals, under the
  consumer's row lock, in the same transaction as the rows themselves.

Locks, in this order: the consumer's row, then the consent's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet

from bnpl.core import clock
from bnpl.core.context import Actor, consumer_actor
from bnpl.core.errors import InvalidRequestError, NotFoundError, StateError
from bnpl.core.services import change_record
from bnpl.plans.schedule import add_months
from bnpl.tenancy.representations import bank_data_consent_data
from consumers.models import Consumer, MerchantConsumer
from decisioning.cashflow import (
    STALE_AFTER_MONTHS,
    WINDOW_MONTHS,
    CashFlowFeatures,
    MonthTotals,
    Transaction,
    cash_flow_features,
    merge_months,
    monthly_totals,
)
from decisioning.models import BankDataConsent, BankTransaction, CashFlowMonth, DataSource
from decisioning.representations import partner_consent_data
from merchants.models import Merchant
from partners.models import DataPartner

MAX_BATCH = 1000
# The longest a consumer may grant a data partner at once; they grant it again to go on.
PARTNER_CONSENT_MAX_DAYS = 366
# How long a consumer may let a data partner share, in days (what the portal and the app offer).
PARTNER_CONSENT_DAYS = (90, 180, 365)
# What a partner's consent is recorded as (the consumer's own act, not a source's record).
PARTNER_CONSENT_REFERENCE = "granted in the consumer's account"
# MonthTotals field -> CashFlowMonth column
MONTH_TOTALS_COLUMNS = {
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
    consumer: str  # the merchant's cus_ id; the consumer's con_ id for a data partner
    received: int
    created: int
    duplicates: int

    def as_dict(self) -> dict[str, object]:
        """The batch as the API answers it and its event records it."""
        return {"object": "bank_transaction_batch", **asdict(self)}


@dataclass(frozen=True)
class CashFlowBasis:
    """What a decision may read of a consumer's bank data: the features, and the consents whose
    monthly totals were read (none without usable data)."""

    features: CashFlowFeatures | None
    consents: tuple[str, ...] = ()


def _consumer_actor(consumer: Consumer) -> Actor:
    return consumer_actor(consumer.public_id)


def _record(
    action: str,
    consent: BankDataConsent,
    *,
    before: dict[str, Any] | None = None,
    actor: Actor | None = None,
    **extra: Any,
) -> None:
    """Audit row and event for a consent change. The source's merchant hears of it (a consent is
    about the data that merchant sends); a data partner's consent is evented as
    ``data_partner_consent.*``, to no merchant."""
    if consent.source.is_partner:
        change_record(
            action=action.replace("bank_data_consent.", "data_partner_consent.", 1),
            instance=consent,
            before=before,
            data={**partner_consent_data(consent), **extra},
            livemode=consent.livemode,
            actor=actor,
        )
        return
    change_record(
        action=action,
        instance=consent,
        before=before,
        data={**bank_data_consent_data(consent), **extra},
        merchant=consent.source.merchant,
        livemode=consent.livemode,
        actor=actor,
    )


# --- Sources ------------------------------------------------------------------------------------


def data_source_for_merchant(*, merchant: Merchant) -> DataSource:
    """The merchant as a source of data (made the first time it shares any; safe to race: the
    merchant is unique and ``get_or_create`` re-reads on a conflict)."""
    source, _ = DataSource.objects.get_or_create(merchant=merchant, defaults={"kind": DataSource.Kind.MERCHANT})
    return source


def data_source_for_partner(*, partner: DataPartner) -> DataSource:
    """The data partner as a source of data (made the first time a consumer grants it consent)."""
    source, _ = DataSource.objects.get_or_create(partner=partner, defaults={"kind": DataSource.Kind.PARTNER})
    return source


# --- Consent: the source's side -----------------------------------------------------------------


def consent_record(
    *, link: MerchantConsumer, reference: str, granted_at: dt.datetime, expires_at: dt.datetime | None = None
) -> BankDataConsent:
    """Record (or renew) the consent the link's merchant says the consumer gave on its site.

    That is the merchant's own assertion, so what it shares covers its own decisions only: a new
    consent (or one no longer current) has ``Scope.SOURCE``; renewing a current one keeps the scope
    the consumer chose. A consent the consumer revoked stays revoked: only they grant it again."""
    now = clock.now()
    if granted_at > now + dt.timedelta(minutes=5):
        raise InvalidRequestError("granted_at: a consent cannot be granted in the future.", param="granted_at")
    if expires_at is not None and expires_at <= max(granted_at, now):
        raise InvalidRequestError("expires_at: must be after granted_at and in the future.", param="expires_at")
    with transaction.atomic():
        Consumer.objects.select_for_update().get(pk=link.consumer_id)  # two first consents at once: one waits
        source = data_source_for_merchant(merchant=link.merchant)
        consent = (
            BankDataConsent.objects.select_for_update()
            .filter(source=source, livemode=link.livemode, consumer_id=link.consumer_id)
            .first()
        )
        if consent is not None and consent.revoked_by == BankDataConsent.RevokedBy.CONSUMER:
            raise StateError(
                "The consumer revoked this consent in their account; only they can grant it again there.",
                code="consent_revoked_by_consumer",
            )
        before = bank_data_consent_data(consent) if consent else None
        if consent is None:
            consent = BankDataConsent(consumer_id=link.consumer_id, livemode=link.livemode, source=source)
        elif not consent.is_current(now):
            consent.scope, consent.scope_changed_at = BankDataConsent.Scope.SOURCE, None
        consent.reference, consent.granted_at, consent.expires_at = reference, granted_at, expires_at
        consent.revoked_at, consent.revoked_by = None, ""
        consent.save()
        _record("bank_data_consent.recorded", consent, before=before)
    return consent


def consent_revoke(*, consent: BankDataConsent, revoked_by: str) -> BankDataConsent:
    """Revoke the consent (its source or its consumer) and delete every transaction shared under
    it, with its monthly totals: nothing of it feeds a decision again."""
    actor = None
    with transaction.atomic():
        consumer = Consumer.objects.select_for_update().get(pk=consent.consumer_id)
        consent = (
            BankDataConsent.objects.select_for_update(of=("self",))
            .select_related("source__merchant", "source__partner", "consumer")
            .get(pk=consent.pk)
        )
        if consent.revoked_at is not None:
            raise StateError("There is no consent to revoke.", code="no_consent")
        if revoked_by == BankDataConsent.RevokedBy.CONSUMER:
            actor = _consumer_actor(consumer)
        before = bank_data_consent_data(consent)
        deleted = _delete_shared(consent)
        consent.revoked_at, consent.revoked_by = clock.now(), BankDataConsent.RevokedBy(revoked_by)
        consent.scope, consent.scope_changed_at = BankDataConsent.Scope.SOURCE, None
        consent.save()
        _record("bank_data_consent.revoked", consent, before=before, actor=actor, transactions_deleted=deleted)
    return consent


def consents_expire() -> int:
    """Delete what was shared under consents that have expired (as a revocation does), so expired
    data never feeds a decision. Idempotent; returns the consents cleared."""
    now = clock.now()
    shared = BankTransaction.objects.filter(consent=OuterRef("pk"))
    expired = BankDataConsent.objects.filter(revoked_at__isnull=True, expires_at__lte=now).filter(Exists(shared))
    cleared = 0
    for consent_id, consumer_id in expired.values_list("pk", "consumer_id"):
        with transaction.atomic():
            Consumer.objects.select_for_update().get(pk=consumer_id)
            consent = (
                BankDataConsent.objects.select_for_update(of=("self",))
                .select_related("source__merchant", "source__partner", "consumer")
                .get(pk=consent_id)
            )
            deleted = _delete_shared(consent)
            _record("bank_data_consent.expired", consent, transactions_deleted=deleted)
            cleared += 1
    return cleared


def _delete_shared(consent: BankDataConsent) -> int:
    """Delete the consent's transactions and totals. The caller holds the consumer's lock."""
    CashFlowMonth.objects.filter(consent=consent).delete()
    deleted, _ = BankTransaction.objects.filter(consent=consent).delete()
    return deleted


# --- Consent: the consumer's side (their account) -------------------------------------------------


def consent_scope_set(*, consent: BankDataConsent, scope: str) -> BankDataConsent:
    """The consumer chooses what the data shared under a current consent may feed: decisions at its
    source only, or every decision about them (at any merchant). Only the consumer calls this."""
    if scope not in BankDataConsent.Scope.values:
        raise InvalidRequestError("Choose where this data may be used.", code="scope_invalid", param="scope")
    with transaction.atomic():
        consumer = Consumer.objects.select_for_update().get(pk=consent.consumer_id)
        consent = (
            BankDataConsent.objects.select_for_update(of=("self",))
            .select_related("source__merchant", "source__partner", "consumer")
            .get(pk=consent.pk)
        )
        if not consent.is_current(clock.now()):
            raise StateError("This consent is no longer in force.", code="consent_not_current", param="scope")
        if consent.source.is_partner:
            raise StateError(
                "A data partner's consent serves all your pay-later decisions; revoke it to stop sharing.",
                code="consent_scope_fixed",
                param="scope",
            )
        if consent.scope == scope:
            return consent
        before = bank_data_consent_data(consent)
        consent.scope, consent.scope_changed_at = BankDataConsent.Scope(scope), clock.now()
        consent.save()
        _record("bank_data_consent.scope_changed", consent, before=before, actor=_consumer_actor(consumer))
    return consent


def consent_grant_again(*, consent: BankDataConsent) -> BankDataConsent:
    """The consumer grants again a consent they revoked: its source may share their bank data again,
    for its own decisions (they may widen it afterwards), until they revoke it."""
    with transaction.atomic():
        consumer = Consumer.objects.select_for_update().get(pk=consent.consumer_id)
        consent = (
            BankDataConsent.objects.select_for_update(of=("self",))
            .select_related("source__merchant", "source__partner", "consumer")
            .get(pk=consent.pk)
        )
        if consent.source.is_partner:
            raise StateError(
                "Choose how long this data partner may share, to grant it again.",
                code="consent_needs_expiry",
            )
        if consent.revoked_by != BankDataConsent.RevokedBy.CONSUMER:
            raise StateError(
                "Only a consent you revoked can be granted again here; the shop asks for the others.",
                code="consent_not_revoked_by_consumer",
            )
        before = bank_data_consent_data(consent)
        consent.granted_at, consent.expires_at, consent.revoked_at, consent.revoked_by = clock.now(), None, None, ""
        consent.scope, consent.scope_changed_at = BankDataConsent.Scope.SOURCE, None
        consent.save()
        _record("bank_data_consent.granted", consent, before=before, actor=_consumer_actor(consumer))
    return consent


def partner_consent_grant(
    *, consumer: Consumer, partner: DataPartner, livemode: bool, expires_at: dt.datetime
) -> BankDataConsent:
    """The consumer, in their account, lets a data partner share their bank transactions for their
    credit decisions (every decision about them: a partner sells nothing, so it has no decisions of
    its own) until ``expires_at``. Granting again renews the one consent per partner and mode; what
    was shared under a lapsed consent is deleted first, so it never comes back to life."""
    now = clock.now()
    if expires_at <= now:
        raise InvalidRequestError("expires_at: must be in the future.", param="expires_at")
    if expires_at > now + dt.timedelta(days=PARTNER_CONSENT_MAX_DAYS):
        raise InvalidRequestError(
            f"expires_at: a consent lasts at most {PARTNER_CONSENT_MAX_DAYS} days; grant it again then.",
            param="expires_at",
        )
    with transaction.atomic():
        Consumer.objects.select_for_update().get(pk=consumer.pk)
        partner = DataPartner.objects.get(pk=partner.pk)  # as it is now: suspended since the page was shown?
        if not partner.is_active:
            raise StateError(f"{partner.name} cannot receive consents at the moment.", code="partner_unavailable")
        source = data_source_for_partner(partner=partner)
        consent = (
            BankDataConsent.objects.select_for_update(of=("self",))
            .select_related("source__partner", "consumer")
            .filter(source=source, livemode=livemode, consumer=consumer)
            .first()
        )
        before = partner_consent_data(consent) if consent is not None else None
        if consent is None:
            consent = BankDataConsent(consumer=consumer, livemode=livemode, source=source)
        elif not consent.is_current(now):
            _delete_shared(consent)
        consent.reference, consent.granted_at, consent.expires_at = PARTNER_CONSENT_REFERENCE, now, expires_at
        consent.revoked_at, consent.revoked_by = None, ""
        consent.scope, consent.scope_changed_at = BankDataConsent.Scope.ALL_DECISIONS, now
        consent.save()
        _record("bank_data_consent.granted", consent, before=before, actor=_consumer_actor(consumer))
    return consent


# --- Transactions -------------------------------------------------------------------------------


def transactions_ingest(*, link: MerchantConsumer, transactions: Sequence[IncomingTransaction]) -> IngestResult:
    """Keep the new transactions of a batch the link's merchant sent, attributed to it and to its
    consent, and add them to that consent's monthly totals. All or nothing: a batch with one bad
    transaction changes nothing (the error names it)."""
    _check_batch(transactions)
    with transaction.atomic():
        Consumer.objects.select_for_update().get(pk=link.consumer_id)  # one batch per consumer at a time
        consent = consent_for_link(link=link)
        if consent is None or not consent.is_current(clock.now()):
            raise StateError(
                "Record the consumer's consent to share bank data first (POST …/bank-data-consent).",
                code="consent_required",
            )
        created = _keep_new(consent, transactions)
        result = IngestResult(
            consumer=link.public_id,
            received=len(transactions),
            created=created,
            duplicates=len(transactions) - created,
        )
        change_record(action="bank_transactions.received", instance=link, data=result.as_dict())
    return result


def partner_transactions_ingest(
    *, consent: BankDataConsent, transactions: Sequence[IncomingTransaction]
) -> IngestResult:
    """Keep the new transactions of a batch a data partner sent under ``consent`` (the partner's, as
    its API found it), as ``transactions_ingest`` keeps a merchant's: the same checks, storage and
    monthly totals. A consent that lapsed meanwhile is not found: the partner has no consumer there."""
    _check_batch(transactions)
    with transaction.atomic():
        Consumer.objects.select_for_update().get(pk=consent.consumer_id)
        consent = (
            BankDataConsent.objects.select_for_update(of=("self",))
            .select_related("source__partner", "consumer")
            .get(pk=consent.pk)
        )
        partner = consent.source.partner
        if partner is None or not consent.is_current(clock.now()):
            raise NotFoundError("No such consumer.", param="id")
        created = _keep_new(consent, transactions)
        result = IngestResult(
            consumer=consent.consumer.public_id,
            received=len(transactions),
            created=created,
            duplicates=len(transactions) - created,
        )
        change_record(
            action="data_partner_transactions.received",
            instance=consent,
            data={**result.as_dict(), "consent": consent.public_id, "partner": partner.public_id},
            livemode=consent.livemode,
        )
    return result


def _check_batch(transactions: Sequence[IncomingTransaction]) -> None:
    if not transactions:
        raise InvalidRequestError("Send at least one transaction.", param="transactions")
    if len(transactions) > MAX_BATCH:
        raise InvalidRequestError(f"Send at most {MAX_BATCH} transactions at a time.", param="transactions")
    today = clock.today()
    for index, txn in enumerate(transactions):
        _check(txn, f"transactions[{index}]", today)


def _keep_new(consent: BankDataConsent, transactions: Sequence[IncomingTransaction]) -> int:
    """Store the transactions the consent does not carry yet (the first copy of an id) and add them
    to its months. The caller holds the consumer's lock."""
    seen = set(
        BankTransaction.objects.filter(consent=consent, external_id__in=[txn.id for txn in transactions]).values_list(
            "external_id", flat=True
        )
    )
    new = []
    for txn in transactions:
        if txn.id not in seen:
            seen.add(txn.id)
            new.append(txn)
    BankTransaction.objects.bulk_create(
        BankTransaction(
            consumer_id=consent.consumer_id,
            livemode=consent.livemode,
            source_id=consent.source_id,
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
    _add_to_months(consent, monthly_totals([_as_transaction(txn) for txn in new]).items())
    return len(new)


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


def _add_to_months(consent: BankDataConsent, totals: Iterable[tuple[tuple[str, dt.date], MonthTotals]]) -> None:
    """Add each month's totals to the consent's row (made on first use). The caller holds the
    consumer's lock."""
    for (currency, month), month_totals in totals:
        row, _ = CashFlowMonth.objects.get_or_create(
            consent=consent,
            currency=currency,
            month=month,
            defaults={"consumer_id": consent.consumer_id, "livemode": consent.livemode, "source_id": consent.source_id},
        )
        CashFlowMonth.objects.filter(pk=row.pk).update(
            **{column: F(column) + getattr(month_totals, field) for field, column in MONTH_TOTALS_COLUMNS.items()},
            updated_at=clock.now(),
        )


def _rebuild_months(*, consent: BankDataConsent) -> None:
    """The consent's totals from its transactions, from scratch. The caller holds the consumer's lock."""
    CashFlowMonth.objects.filter(consent=consent).delete()
    shared = BankTransaction.objects.filter(consent=consent)
    _add_to_months(consent, monthly_totals([_as_transaction(txn) for txn in shared]).items())


# --- Reads --------------------------------------------------------------------------------------


def consent_for_link(*, link: MerchantConsumer) -> BankDataConsent | None:
    """The consent the link's merchant holds for the consumer, in the link's mode (any status)."""
    return (
        BankDataConsent.objects.select_related("source__merchant")
        .filter(source__merchant_id=link.merchant_id, livemode=link.livemode, consumer_id=link.consumer_id)
        .first()
    )


def usable_consents(*, consumer: Consumer, livemode: bool, merchant: Merchant) -> QuerySet[BankDataConsent]:
    """The current consents whose data a decision for a purchase at ``merchant`` may read: the
    merchant's own, and any other source's that the consumer widened to all their decisions."""
    return BankDataConsent.objects.filter(
        BankDataConsent.current_at(clock.now()),
        Q(source__merchant=merchant) | Q(scope=BankDataConsent.Scope.ALL_DECISIONS),
        consumer=consumer,
        livemode=livemode,
    )


def cash_flow_months(
    *, consumer: Consumer, livemode: bool, currency: str, merchant: Merchant, today: dt.date
) -> list[tuple[str, MonthTotals]]:
    """The recent monthly totals a decision at ``merchant`` may read, each with its consent's id
    (one query)."""
    earliest = add_months(today.replace(day=1), -(WINDOW_MONTHS + STALE_AFTER_MONTHS))
    rows = CashFlowMonth.objects.filter(
        consent__in=usable_consents(consumer=consumer, livemode=livemode, merchant=merchant),
        currency=currency,
        month__gte=earliest,
    ).values("consent__public_id", "month", *MONTH_TOTALS_COLUMNS.values())
    return [
        (
            row["consent__public_id"],
            MonthTotals(month=row["month"], **{f: row[c] for f, c in MONTH_TOTALS_COLUMNS.items()}),
        )
        for row in rows
    ]


def cash_flow_for(*, consumer: Consumer, livemode: bool, currency: str, merchant: Merchant) -> CashFlowBasis:
    """The consumer's cash-flow features in this currency today for a decision at ``merchant``
    (features None without fresh bank data it may use), and the consents they came from."""
    today = clock.today()
    rows = cash_flow_months(consumer=consumer, livemode=livemode, currency=currency, merchant=merchant, today=today)
    features = cash_flow_features(merge_months([totals for _, totals in rows]), today=today)
    if features is None:
        return CashFlowBasis(features=None)
    return CashFlowBasis(features=features, consents=tuple(sorted({consent for consent, _ in rows})))


def consent_sharing_summaries(*, consents: Sequence[BankDataConsent]) -> dict[int, dict[str, Any]]:
    """What was shared under each consent, for its consumer, by consent id: how many transactions
    from how many accounts, booked between which days. One grouped query for them all."""
    empty = {"transactions": 0, "accounts": 0, "first_booked_on": None, "latest_booked_on": None}
    summaries: dict[int, dict[str, Any]] = {consent.pk: dict(empty) for consent in consents}
    grouped = (
        BankTransaction.objects.filter(consent__in=list(summaries))
        .values("consent_id")
        .annotate(
            transactions=Count("id"),
            accounts=Count("account_id", distinct=True),
            first_booked_on=Min("booked_on"),
            latest_booked_on=Max("booked_on"),
        )
        .order_by()
    )
    for row in grouped:
        summaries[row.pop("consent_id")] = row
    return summaries
