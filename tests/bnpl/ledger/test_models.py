from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from bnpl.core.models import AppendOnlyError
from bnpl.ledger.models import Account, AccountCode, AccountKind, JournalEntry, Posting
from consumers.models import Consumer
from merchants.models import Merchant
from tests.bnpl.ledger.factories import post_capture
from tests.consumers.factories import make_consumer
from tests.merchants.factories import make_merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(db: None) -> Merchant:
    return make_merchant(name="Acme")


@pytest.fixture
def consumer(db: None) -> Consumer:
    return make_consumer(email="shopper@example.com")


@pytest.mark.parametrize(
    ("with_merchant", "with_consumer"), [(True, True), (True, False), (False, True), (False, False)]
)
def test_an_account_exists_once_per_dimensions_even_when_a_dimension_is_null(
    merchant: Merchant, consumer: Consumer, with_merchant: bool, with_consumer: bool
) -> None:
    dimensions = {
        "code": AccountCode.MERCHANT_PAYABLE,
        "currency": "USD",
        "livemode": False,
        "merchant": merchant if with_merchant else None,
        "consumer": consumer if with_consumer else None,
    }
    Account.objects.create(**dimensions)

    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(**dimensions)

    assert Account.objects.count() == 1


def test_accounts_differing_in_any_one_dimension_coexist(merchant: Merchant, consumer: Consumer) -> None:
    other_merchant = make_merchant(name="Other")
    base = {"code": AccountCode.MERCHANT_PAYABLE, "currency": "USD", "livemode": False, "merchant": merchant}
    variants = [
        base,
        {**base, "code": AccountCode.MERCHANT_FEE_REVENUE},
        {**base, "currency": "EUR"},
        {**base, "livemode": True},
        {**base, "merchant": other_merchant},
        {**base, "merchant": None},
        {**base, "consumer": consumer},
    ]

    for dimensions in variants:
        Account.objects.create(**dimensions)

    assert Account.objects.count() == 7


def test_an_unknown_account_code_is_refused_by_the_database() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(code="petty_cash", currency="USD", livemode=False)

    assert Account.objects.count() == 0


def test_a_zero_posting_is_refused_by_the_database(merchant: Merchant, consumer: Consumer) -> None:
    entry = post_capture(merchant=merchant, consumer=consumer)
    account = Account.objects.get(code=AccountCode.CONSUMER_RECEIVABLE)

    with pytest.raises(IntegrityError), transaction.atomic():
        Posting.objects.create(entry=entry, account=account, amount=0, currency="USD")

    assert Posting.objects.count() == 3


def test_each_account_code_has_its_kind() -> None:
    kinds = {code.value: Account(code=code, currency="USD", livemode=False).kind for code in AccountCode}

    assert kinds == {
        "consumer_receivable": AccountKind.ASSET,
        "card_clearing": AccountKind.ASSET,
        "lender_cash": AccountKind.ASSET,
        "authorized_pending": AccountKind.LIABILITY,
        "merchant_payable": AccountKind.LIABILITY,
        "consumer_credit": AccountKind.LIABILITY,
        "merchant_fee_revenue": AccountKind.INCOME,
        "interest_income": AccountKind.INCOME,
        "late_fee_income": AccountKind.INCOME,
        "credit_losses": AccountKind.EXPENSE,
    }


def test_entries_postings_and_accounts_refuse_save_after_create_and_delete(
    merchant: Merchant, consumer: Consumer
) -> None:
    entry = post_capture(merchant=merchant, consumer=consumer)
    posting = entry.postings.get(account__code=AccountCode.CONSUMER_RECEIVABLE)
    account = posting.account

    entry.description = "tampered"
    posting.amount = 1
    account.code = AccountCode.LENDER_CASH
    for row in (entry, posting, account):
        with pytest.raises(AppendOnlyError, match="append-only"):
            row.save()
        with pytest.raises(AppendOnlyError, match="append-only"):
            row.delete()

    assert JournalEntry.objects.get(pk=entry.pk).description == ""
    assert Posting.objects.get(pk=posting.pk).amount == 10_000
    assert Account.objects.get(pk=account.pk).code == "consumer_receivable"
    assert (JournalEntry.objects.count(), Posting.objects.count(), Account.objects.count()) == (1, 3, 3)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("table", "assignment"),
    [
        ("ledger_journalentry", "description = 'tampered'"),
        ("ledger_posting", "amount = 1"),
        ("ledger_account", "code = 'lender_cash'"),
    ],
)
def test_postgresql_itself_refuses_updates_and_deletes_of_the_ledger(
    merchant: Merchant, consumer: Consumer, table: str, assignment: str
) -> None:
    post_capture(merchant=merchant, consumer=consumer)
    for statement in (f"UPDATE {table} SET {assignment}", f"DELETE FROM {table}"):
        with (
            pytest.raises(DatabaseError, match=f"{table} is append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)

    assert JournalEntry.objects.get().description == ""
    assert sorted(Posting.objects.values_list("amount", flat=True)) == [-9_700, -300, 10_000]
    assert sorted(Account.objects.values_list("code", flat=True)) == [
        "consumer_receivable",
        "merchant_fee_revenue",
        "merchant_payable",
    ]
