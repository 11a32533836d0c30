from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, transaction

from bnpl.ledger import services
from bnpl.ledger.errors import (
    CurrencyMismatchError,
    IdempotencyConflictError,
    InvalidEntryError,
    LedgerError,
    UnbalancedEntryError,
)
from bnpl.ledger.models import Account, AccountCode, JournalEntry, Posting
from bnpl.ledger.selectors import account_balance, balances
from bnpl.ledger.services import Line, ledger_post
from consumers.models import Consumer
from merchants.models import Merchant
from tests.bnpl.ledger.factories import capture_lines, ledger_row_counts, post_capture
from tests.consumers.factories import make_consumer
from tests.merchants.factories import make_merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def merchant(db: None) -> Merchant:
    return make_merchant(name="Acme")


@pytest.fixture
def consumer(db: None) -> Consumer:
    return make_consumer(email="shopper@example.com")


def _postings(entry: JournalEntry) -> list[tuple[str, int | None, int | None, int, str]]:
    return [
        (
            posting.account.code,
            posting.account.merchant_id,
            posting.account.consumer_id,
            posting.amount,
            posting.currency,
        )
        for posting in entry.postings.select_related("account").order_by("id")
    ]


def test_a_balanced_entry_posts_its_lines_to_accounts_made_on_first_use(merchant: Merchant, consumer: Consumer) -> None:
    with transaction.atomic():
        entry = ledger_post(
            entry_type="order.captured",
            currency="USD",
            livemode=False,
            merchant=merchant,
            reference=consumer,
            lines=capture_lines(merchant=merchant, consumer=consumer, amount=10_000, fee_amount=300),
            idempotency_key="order:1:captured",
            description="Order 1 captured",
        )

    entry = JournalEntry.objects.get(pk=entry.pk)
    assert entry.public_id.startswith("je_")
    assert (entry.entry_type, entry.currency, entry.livemode, entry.merchant_id) == (
        "order.captured",
        "USD",
        False,
        merchant.pk,
    )
    assert (entry.reference_type, entry.reference_id) == ("consumers.consumer", consumer.public_id)
    assert (entry.idempotency_key, entry.description) == ("order:1:captured", "Order 1 captured")
    assert _postings(entry) == [
        ("consumer_receivable", None, consumer.pk, 10_000, "USD"),
        ("merchant_payable", merchant.pk, None, -9_700, "USD"),
        ("merchant_fee_revenue", merchant.pk, None, -300, "USD"),
    ]
    assert sorted(Account.objects.values_list("code", "currency", "livemode", "merchant_id", "consumer_id")) == [
        ("consumer_receivable", "USD", False, None, consumer.pk),
        ("merchant_fee_revenue", "USD", False, merchant.pk, None),
        ("merchant_payable", "USD", False, merchant.pk, None),
    ]
    assert balances(currency="USD", livemode=False) == {
        "consumer_receivable": 10_000,
        "merchant_fee_revenue": -300,
        "merchant_payable": -9_700,
    }


def test_later_entries_reuse_the_accounts_and_move_their_balances(merchant: Merchant, consumer: Consumer) -> None:
    post_capture(merchant=merchant, consumer=consumer, amount=10_000, fee_amount=300)

    post_capture(merchant=merchant, consumer=consumer, amount=5_000, fee_amount=150)

    assert Account.objects.count() == 3
    assert (JournalEntry.objects.count(), Posting.objects.count()) == (2, 6)
    assert (
        account_balance(code=AccountCode.CONSUMER_RECEIVABLE, currency="USD", livemode=False, consumer=consumer)
        == 15_000
    )
    assert account_balance(code=AccountCode.MERCHANT_PAYABLE, currency="USD", livemode=False, merchant=merchant) == (
        -14_550
    )


def test_the_same_dimensions_in_another_mode_or_currency_are_other_accounts(
    merchant: Merchant, consumer: Consumer
) -> None:
    post_capture(merchant=merchant, consumer=consumer, currency="USD", livemode=False)

    post_capture(merchant=merchant, consumer=consumer, currency="USD", livemode=True)
    post_capture(merchant=merchant, consumer=consumer, amount=1_000, fee_amount=30, currency="JPY", livemode=False)

    assert Account.objects.count() == 9
    assert balances(currency="USD", livemode=True) == {
        "consumer_receivable": 10_000,
        "merchant_fee_revenue": -300,
        "merchant_payable": -9_700,
    }
    assert balances(currency="JPY", livemode=False) == {
        "consumer_receivable": 1_000,
        "merchant_fee_revenue": -30,
        "merchant_payable": -970,
    }


def _unbalanced(merchant: Merchant, consumer: Consumer) -> list[Line]:
    return [
        Line(AccountCode.CONSUMER_RECEIVABLE, 10_000, consumer=consumer),
        Line(AccountCode.MERCHANT_PAYABLE, -9_999, merchant=merchant),
    ]


def _zero_line(merchant: Merchant, consumer: Consumer) -> list[Line]:
    return [*capture_lines(merchant=merchant, consumer=consumer, amount=10_000, fee_amount=300), Line("lender_cash", 0)]  # type: ignore[arg-type]


def _mixed_currency(merchant: Merchant, consumer: Consumer) -> list[Line]:
    return [
        Line(AccountCode.CONSUMER_RECEIVABLE, 10_000, consumer=consumer, currency="USD"),
        Line(AccountCode.MERCHANT_PAYABLE, -10_000, merchant=merchant, currency="EUR"),
    ]


def _no_lines(merchant: Merchant, consumer: Consumer) -> list[Line]:
    return []


def _unknown_account(merchant: Merchant, consumer: Consumer) -> list[Line]:
    return [Line("petty_cash", 100), Line(AccountCode.LENDER_CASH, -100)]  # type: ignore[arg-type]


def _fractional_amount(merchant: Merchant, consumer: Consumer) -> list[Line]:
    return [Line(AccountCode.CARD_CLEARING, 99.5), Line(AccountCode.LENDER_CASH, -99.5)]  # type: ignore[arg-type]


def _beyond_the_largest_amount(merchant: Merchant, consumer: Consumer) -> list[Line]:
    return [Line(AccountCode.CARD_CLEARING, 10**15 + 1), Line(AccountCode.LENDER_CASH, -(10**15 + 1))]


def _unsaved_consumer(merchant: Merchant, consumer: Consumer) -> list[Line]:
    unsaved = Consumer(email="ghost@example.com")
    return [Line(AccountCode.CONSUMER_RECEIVABLE, 100, consumer=unsaved), Line(AccountCode.LENDER_CASH, -100)]


@pytest.mark.parametrize(
    ("make_lines", "error", "message"),
    [
        (_unbalanced, UnbalancedEntryError, "the lines sum to 1 USD, not zero"),
        (_zero_line, InvalidEntryError, "line 3: a zero amount moves nothing"),
        (_mixed_currency, CurrencyMismatchError, "line 1 is in EUR, the entry in USD"),
        (_no_lines, InvalidEntryError, "a journal entry needs lines"),
        (_unknown_account, InvalidEntryError, "line 0: 'petty_cash' is not an account code"),
        (_fractional_amount, InvalidEntryError, "line 0: the amount must be an int of minor units, not 99.5"),
        (_beyond_the_largest_amount, InvalidEntryError, "line 0: 1000000000000001 is beyond the largest amount"),
        (_unsaved_consumer, InvalidEntryError, "line 0: Consumer is not saved"),
    ],
)
def test_an_invalid_entry_is_refused_and_writes_nothing(
    merchant: Merchant,
    consumer: Consumer,
    make_lines: Callable[[Merchant, Consumer], list[Line]],
    error: type[LedgerError],
    message: str,
) -> None:
    lines = make_lines(merchant, consumer)
    before = ledger_row_counts()

    with pytest.raises(error, match=message) as raised:
        ledger_post(entry_type="order.captured", currency="USD", livemode=False, lines=lines)

    assert isinstance(raised.value, ValueError)
    assert ledger_row_counts() == before
    assert (Account.objects.count(), JournalEntry.objects.count(), Posting.objects.count()) == (0, 0, 0)


def test_an_unknown_currency_is_refused_and_writes_nothing(merchant: Merchant, consumer: Consumer) -> None:
    before = ledger_row_counts()

    with pytest.raises(InvalidEntryError, match="'XYZ' is not a supported ISO 4217 currency code"):
        ledger_post(
            entry_type="order.captured",
            currency="XYZ",
            livemode=False,
            lines=capture_lines(merchant=merchant, consumer=consumer, amount=100, fee_amount=3),
        )

    assert ledger_row_counts() == before


def test_an_idempotency_key_posts_once_and_replays_the_same_entry(merchant: Merchant, consumer: Consumer) -> None:
    first = post_capture(merchant=merchant, consumer=consumer, idempotency_key="order:1:captured")
    counts = ledger_row_counts()

    with transaction.atomic():
        again = ledger_post(
            entry_type="order.captured",
            currency="usd",
            livemode=False,
            merchant=merchant,
            lines=list(reversed(capture_lines(merchant=merchant, consumer=consumer, amount=10_000, fee_amount=300))),
            idempotency_key="order:1:captured",
        )

    assert again.pk == first.pk
    assert ledger_row_counts() == counts
    assert (JournalEntry.objects.count(), Posting.objects.count()) == (1, 3)
    assert balances(currency="USD", livemode=False) == {
        "consumer_receivable": 10_000,
        "merchant_fee_revenue": -300,
        "merchant_payable": -9_700,
    }


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 10_001, "fee_amount": 301},
        {"fee_amount": 299},
        {"livemode": True},
        {"currency": "EUR"},
    ],
)
def test_an_idempotency_key_reused_for_a_different_entry_is_refused_and_writes_nothing(
    merchant: Merchant, consumer: Consumer, change: dict[str, Any]
) -> None:
    first = post_capture(merchant=merchant, consumer=consumer, idempotency_key="order:1:captured")
    counts = ledger_row_counts()

    with pytest.raises(IdempotencyConflictError, match=f"'order:1:captured' already posted {first.public_id}"):
        post_capture(merchant=merchant, consumer=consumer, idempotency_key="order:1:captured", **change)

    assert ledger_row_counts() == counts
    assert _postings(first) == [
        ("consumer_receivable", None, consumer.pk, 10_000, "USD"),
        ("merchant_payable", merchant.pk, None, -9_700, "USD"),
        ("merchant_fee_revenue", merchant.pk, None, -300, "USD"),
    ]


def test_an_idempotency_key_reused_for_another_entry_type_is_refused(merchant: Merchant, consumer: Consumer) -> None:
    post_capture(merchant=merchant, consumer=consumer, idempotency_key="order:1:captured")
    counts = ledger_row_counts()

    with pytest.raises(IdempotencyConflictError), transaction.atomic():
        ledger_post(
            entry_type="order.refunded",
            currency="USD",
            livemode=False,
            merchant=merchant,
            lines=capture_lines(merchant=merchant, consumer=consumer, amount=10_000, fee_amount=300),
            idempotency_key="order:1:captured",
        )

    assert ledger_row_counts() == counts


@pytest.mark.django_db(transaction=True)
def test_posting_outside_a_transaction_is_refused_and_writes_nothing(merchant: Merchant, consumer: Consumer) -> None:
    before = ledger_row_counts()

    with pytest.raises(RuntimeError, match="inside the transaction"):
        ledger_post(
            entry_type="order.captured",
            currency="USD",
            livemode=False,
            lines=capture_lines(merchant=merchant, consumer=consumer, amount=100, fee_amount=3),
        )

    assert ledger_row_counts() == before


# --- Concurrency (PostgreSQL: SQLite serializes writers) ----------------------------------------


def _run_in_threads(count: int, work: Callable[[], Any]) -> list[Any]:
    """Run ``work`` in ``count`` threads at once, each on its own connection; return its results."""

    def run() -> Any:
        try:
            return work()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run) for _ in range(count)]
        return [future.result(timeout=60) for future in futures]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_to_new_accounts_make_each_account_once(
    merchant: Merchant, consumer: Consumer, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = 10
    everyone_looked = threading.Barrier(threads, timeout=30)
    look_up = services._existing_accounts
    first_look = threading.local()

    def look_up_then_wait(*args: Any, **kwargs: Any) -> Any:
        """Every thread finds the accounts missing before any inserts them: the race, every time."""
        found = look_up(*args, **kwargs)
        if not getattr(first_look, "done", False):
            first_look.done = True
            everyone_looked.wait()
        return found

    monkeypatch.setattr(services, "_existing_accounts", look_up_then_wait)

    def post() -> str:
        with transaction.atomic(durable=True):
            return ledger_post(
                entry_type="order.captured",
                currency="USD",
                livemode=False,
                merchant=merchant,
                lines=capture_lines(merchant=merchant, consumer=consumer, amount=10_000, fee_amount=300),
            ).public_id

    public_ids = _run_in_threads(threads, post)

    assert len(set(public_ids)) == threads
    assert sorted(Account.objects.values_list("code", flat=True)) == [
        "consumer_receivable",
        "merchant_fee_revenue",
        "merchant_payable",
    ]
    assert (JournalEntry.objects.count(), Posting.objects.count()) == (10, 30)
    assert balances(currency="USD", livemode=False) == {
        "consumer_receivable": 100_000,
        "merchant_fee_revenue": -3_000,
        "merchant_payable": -97_000,
    }


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_with_one_idempotency_key_post_once(merchant: Merchant, consumer: Consumer) -> None:
    threads = 10
    start = threading.Barrier(threads, timeout=30)

    def post() -> str:
        start.wait()
        with transaction.atomic(durable=True):
            return ledger_post(
                entry_type="order.captured",
                currency="USD",
                livemode=False,
                merchant=merchant,
                lines=capture_lines(merchant=merchant, consumer=consumer, amount=10_000, fee_amount=300),
                idempotency_key="order:1:captured",
            ).public_id

    public_ids = _run_in_threads(threads, post)

    entry = JournalEntry.objects.get()
    assert public_ids == [entry.public_id] * threads
    assert (Account.objects.count(), Posting.objects.count()) == (3, 3)
    assert (
        account_balance(code=AccountCode.CONSUMER_RECEIVABLE, currency="USD", livemode=False, consumer=consumer)
        == 10_000
    )


def _capture_entry(merchant: Merchant, consumer: Consumer, key: str | None, amount: int = 10_000) -> services.Entry:
    return services.Entry(
        entry_type="order.captured",
        currency="USD",
        livemode=False,
        merchant=merchant,
        lines=capture_lines(merchant=merchant, consumer=consumer, amount=amount, fee_amount=300),
        idempotency_key=key,
    )


def test_a_batch_posts_each_entry_on_accounts_made_on_first_use_and_replays_keys_posted_before(
    merchant: Merchant, consumer: Consumer
) -> None:
    first = post_capture(merchant=merchant, consumer=consumer, idempotency_key="order:1:captured")
    other = make_consumer(email="other@example.com")  # no account yet: the batch makes it

    with transaction.atomic():
        services.ledger_post_many(
            entries=[
                _capture_entry(merchant, consumer, "order:1:captured"),  # posted before: replayed
                _capture_entry(merchant, other, "order:2:captured", amount=5_000),
                _capture_entry(merchant, consumer, None, amount=2_000),
            ]
        )

    entries = list(JournalEntry.objects.order_by("id"))
    assert [(entry.pk == first.pk, entry.idempotency_key) for entry in entries] == [
        (True, "order:1:captured"),
        (False, "order:2:captured"),
        (False, None),
    ]
    assert _postings(entries[1]) == [
        ("consumer_receivable", None, other.pk, 5_000, "USD"),
        ("merchant_payable", merchant.pk, None, -4_700, "USD"),
        ("merchant_fee_revenue", merchant.pk, None, -300, "USD"),
    ]
    assert (Account.objects.count(), Posting.objects.count()) == (4, 9)
    assert balances(currency="USD", livemode=False) == {
        "consumer_receivable": 17_000,
        "merchant_fee_revenue": -900,
        "merchant_payable": -16_100,
    }


def test_a_batch_with_a_key_posted_before_for_a_different_entry_is_refused_and_writes_nothing(
    merchant: Merchant, consumer: Consumer
) -> None:
    post_capture(merchant=merchant, consumer=consumer, idempotency_key="order:1:captured")
    counts = ledger_row_counts()

    with pytest.raises(IdempotencyConflictError), transaction.atomic():
        services.ledger_post_many(
            entries=[
                _capture_entry(merchant, consumer, "order:2:captured"),
                _capture_entry(merchant, consumer, "order:1:captured", amount=10_001),
            ]
        )

    assert ledger_row_counts() == counts
