"""The double-entry ledger: accounts, journal entries and their postings.

Sign convention: a posting's ``amount`` is signed minor units, **debit positive, credit negative**.
Every journal entry's postings sum to exactly zero in the entry's one currency, so the sum of every
account balance in a currency and mode is zero too. An account's balance is the sum of its postings:
asset and expense accounts normally carry a positive (debit) balance, liability and income accounts
a negative (credit) one.

Entries and postings are append-only (in Python, and on PostgreSQL by a trigger): a mistake is
corrected by a new, reversing entry, never by editing history. Accounts never change either: an
account is only the name of a balance.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from bnpl.core import clock
from bnpl.core.models import AppendOnlyModel, PublicIdModel
from bnpl.core.money import MAX_AMOUNT


class AccountKind(models.TextChoices):
    ASSET = "asset"
    LIABILITY = "liability"
    INCOME = "income"
    EXPENSE = "expense"


class AccountCode(models.TextChoices):
    CONSUMER_RECEIVABLE = "consumer_receivable"  # asset: what consumers owe the lender
    CARD_CLEARING = "card_clearing"  # asset: card money collected, not yet settled to the lender
    LENDER_CASH = "lender_cash"  # asset: the lender's settled cash
    AUTHORIZED_PENDING = "authorized_pending"  # liability: authorized for merchants, not yet captured
    MERCHANT_PAYABLE = "merchant_payable"  # liability: owed to merchants
    CONSUMER_CREDIT = "consumer_credit"  # liability: consumer overpayments to return
    MERCHANT_FEE_REVENUE = "merchant_fee_revenue"  # income
    INTEREST_INCOME = "interest_income"  # income
    LATE_FEE_INCOME = "late_fee_income"  # income
    CREDIT_LOSSES = "credit_losses"  # expense: receivables written off


ACCOUNT_KINDS: dict[AccountCode, AccountKind] = {
    AccountCode.CONSUMER_RECEIVABLE: AccountKind.ASSET,
    AccountCode.CARD_CLEARING: AccountKind.ASSET,
    AccountCode.LENDER_CASH: AccountKind.ASSET,
    AccountCode.AUTHORIZED_PENDING: AccountKind.LIABILITY,
    AccountCode.MERCHANT_PAYABLE: AccountKind.LIABILITY,
    AccountCode.CONSUMER_CREDIT: AccountKind.LIABILITY,
    AccountCode.MERCHANT_FEE_REVENUE: AccountKind.INCOME,
    AccountCode.INTEREST_INCOME: AccountKind.INCOME,
    AccountCode.LATE_FEE_INCOME: AccountKind.INCOME,
    AccountCode.CREDIT_LOSSES: AccountKind.EXPENSE,
}


def _dimension_uniqueness() -> list[models.UniqueConstraint]:
    """One account per (code, currency, merchant, consumer, livemode), NULL dimensions included.

    A plain unique constraint treats NULLs as distinct, so two "no merchant" accounts would both
    insert. ``nulls_distinct=False`` fixes that on PostgreSQL 15+ only: SQLite has no NULLS NOT
    DISTINCT and Django would drop the clause there (with a warning). Instead, one partial unique
    index per NULL combination leaves out the NULL columns; every row falls under exactly one of
    the four, and both databases enforce them.
    """
    combinations = [
        ("both", ["merchant", "consumer"], Q(merchant__isnull=False, consumer__isnull=False)),
        ("merchant_only", ["merchant"], Q(merchant__isnull=False, consumer__isnull=True)),
        ("consumer_only", ["consumer"], Q(merchant__isnull=True, consumer__isnull=False)),
        ("neither", [], Q(merchant__isnull=True, consumer__isnull=True)),
    ]
    return [
        models.UniqueConstraint(
            fields=["code", "currency", *dimensions, "livemode"],
            condition=condition,
            name=f"ledger_account_unique_{suffix}",
        )
        for suffix, dimensions, condition in combinations
    ]


class Account(AppendOnlyModel):
    """A balance, named by its code and dimensions. Made on first use by ``ledger_post``."""

    code = models.CharField(max_length=40, choices=AccountCode.choices)
    currency = models.CharField(max_length=3)  # ISO 4217, upper case
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    consumer = models.ForeignKey(
        "consumers.Consumer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    livemode = models.BooleanField()
    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        constraints = [
            *_dimension_uniqueness(),
            models.CheckConstraint(condition=Q(code__in=AccountCode.values), name="ledger_account_code_valid"),
        ]

    def __str__(self) -> str:
        dimensions = [self.code, self.currency, "live" if self.livemode else "test"]
        if self.merchant_id is not None:
            dimensions.append(f"merchant={self.merchant_id}")
        if self.consumer_id is not None:
            dimensions.append(f"consumer={self.consumer_id}")
        return " ".join(dimensions)

    @property
    def kind(self) -> AccountKind:
        return ACCOUNT_KINDS[AccountCode(self.code)]


class JournalEntry(AppendOnlyModel, PublicIdModel):
    """One business event's movement of money: postings that sum to zero in one currency.

    ``idempotency_key`` is unique, so one business event (e.g. "order ord_… captured") posts at most
    once however often its service is retried.
    """

    PUBLIC_ID_PREFIX = "je"

    entry_type = models.CharField(max_length=100, db_index=True)  # e.g. "order.authorized"
    currency = models.CharField(max_length=3)  # ISO 4217, upper case; every posting's currency
    livemode = models.BooleanField()
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reference_type = models.CharField(max_length=100, blank=True)  # app_label.model of the business object
    reference_id = models.CharField(max_length=64, blank=True)  # its public id
    idempotency_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    description = models.CharField(max_length=500, blank=True)

    class Meta:
        verbose_name_plural = "journal entries"
        indexes = [models.Index(fields=["reference_type", "reference_id"], name="ledger_entry_reference")]


class Posting(AppendOnlyModel):
    """One line of a journal entry on one account."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings")
    amount = models.BigIntegerField()  # signed minor units: debit positive, credit negative; never zero
    currency = models.CharField(max_length=3)  # ISO 4217; equals the entry's and the account's

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(amount=0) & Q(amount__gte=-MAX_AMOUNT, amount__lte=MAX_AMOUNT),
                name="ledger_posting_amount_nonzero_bounded",
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount:+d} {self.currency} on account {self.account_id}"
