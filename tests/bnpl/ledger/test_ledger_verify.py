from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from bnpl.core.ids import generate_public_id
from bnpl.ledger.models import Account, AccountCode
from consumers.models import Consumer
from merchants.models import Merchant
from tests.bnpl.ledger.factories import post_capture
from tests.consumers.factories import make_consumer
from tests.merchants.factories import make_merchant

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@pytest.fixture
def merchant(db: None) -> Merchant:
    return make_merchant(name="Acme")


@pytest.fixture
def consumer(db: None) -> Consumer:
    return make_consumer(email="shopper@example.com")


def _verify() -> str:
    out = StringIO()
    call_command("ledger_verify", stdout=out)
    return out.getvalue()


def _insert_entry(*, currency: str = "USD", livemode: bool = False) -> tuple[int, str]:
    """A journal entry written around ``ledger_post``, as a bad script or a restored backup might."""
    public_id = generate_public_id("je")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_journalentry (created_at, updated_at, public_id, entry_type, currency, livemode,"
            " reference_type, reference_id, description) VALUES (%s, %s, %s, 'manual', %s, %s, '', '', '')",
            [WHEN, WHEN, public_id, currency, livemode],
        )
        cursor.execute("SELECT id FROM ledger_journalentry WHERE public_id = %s", [public_id])
        (entry_id,) = cursor.fetchone()
    return entry_id, public_id


def _insert_posting(*, entry_id: int, account: Account, amount: int, currency: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_posting (entry_id, account_id, amount, currency) VALUES (%s, %s, %s, %s)",
            [entry_id, account.pk, amount, currency],
        )


def test_a_clean_ledger_passes_and_prints_its_totals(merchant: Merchant, consumer: Consumer) -> None:
    post_capture(merchant=merchant, consumer=consumer, amount=10_000, fee_amount=300)
    post_capture(merchant=merchant, consumer=consumer, amount=1_000, fee_amount=30, currency="JPY", livemode=True)

    output = _verify()

    lines = output.splitlines()
    assert lines[-1] == "Ledger OK: 2 entries, 6 postings"
    assert [line.split() for line in lines[1:-1]] == [
        ["test", "USD", "consumer_receivable", "10000"],
        ["test", "USD", "merchant_fee_revenue", "-300"],
        ["test", "USD", "merchant_payable", "-9700"],
        ["live", "JPY", "consumer_receivable", "1000"],
        ["live", "JPY", "merchant_fee_revenue", "-30"],
        ["live", "JPY", "merchant_payable", "-970"],
    ]


def test_an_empty_ledger_passes() -> None:
    assert _verify().splitlines()[-1] == "Ledger OK: 0 entries, 0 postings"


def test_an_unbalanced_entry_fails_verification_naming_it(merchant: Merchant, consumer: Consumer) -> None:
    post_capture(merchant=merchant, consumer=consumer)
    account = Account.objects.get(code=AccountCode.CONSUMER_RECEIVABLE)
    entry_id, public_id = _insert_entry()
    _insert_posting(entry_id=entry_id, account=account, amount=500, currency="USD")

    with pytest.raises(CommandError) as raised:
        _verify()

    assert str(raised.value) == (
        f"Ledger verification failed with 1 violation(s):\n  - {public_id}: postings in USD sum to 500, not 0"
    )


def test_an_entry_without_postings_fails_verification(merchant: Merchant, consumer: Consumer) -> None:
    post_capture(merchant=merchant, consumer=consumer)
    _, public_id = _insert_entry()

    with pytest.raises(CommandError, match=f"  - {public_id}: has no postings$"):
        _verify()


def test_a_posting_in_another_currency_or_mode_fails_verification(merchant: Merchant, consumer: Consumer) -> None:
    post_capture(merchant=merchant, consumer=consumer)
    usd_test_account = Account.objects.get(code=AccountCode.CONSUMER_RECEIVABLE)
    entry_id, public_id = _insert_entry(currency="EUR", livemode=True)
    eur_live = post_capture(merchant=merchant, consumer=consumer, currency="EUR", livemode=True)
    eur_live_account = eur_live.postings.get(account__code=AccountCode.MERCHANT_PAYABLE).account
    _insert_posting(entry_id=entry_id, account=usd_test_account, amount=700, currency="USD")
    _insert_posting(entry_id=entry_id, account=eur_live_account, amount=-700, currency="EUR")

    with pytest.raises(CommandError) as raised:
        _verify()

    posting_id = usd_test_account.postings.get(entry__public_id=public_id).pk
    assert str(raised.value).splitlines() == [
        "Ledger verification failed with 4 violation(s):",
        f"  - {public_id}: postings in EUR sum to -700, not 0",
        f"  - {public_id}: postings in USD sum to 700, not 0",
        f"  - {public_id}: posting {posting_id} is in USD, its entry in EUR, its account {usd_test_account.pk} in USD",
        f"  - {public_id}: posting {posting_id} is on account {usd_test_account.pk} of the other mode"
        " (entry livemode=True)",
    ]
