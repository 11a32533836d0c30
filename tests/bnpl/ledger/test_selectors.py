from __future__ import annotations

import pytest

from bnpl.ledger.models import AccountCode
from bnpl.ledger.selectors import account_balance, balances
from tests.bnpl.ledger.factories import post_capture
from tests.consumers.factories import make_consumer
from tests.merchants.factories import make_merchant

pytestmark = pytest.mark.django_db


def test_an_account_balance_is_its_postings_sum_and_zero_for_an_unknown_account() -> None:
    merchant = make_merchant(name="Acme")
    consumer = make_consumer(email="shopper@example.com")
    post_capture(merchant=merchant, consumer=consumer, amount=10_000, fee_amount=300)
    post_capture(merchant=merchant, consumer=consumer, amount=2_000, fee_amount=60)

    receivable = account_balance(
        code=AccountCode.CONSUMER_RECEIVABLE, currency="USD", livemode=False, consumer=consumer
    )
    fees = account_balance(code="merchant_fee_revenue", currency="usd", livemode=False, merchant=merchant)
    without_merchant = account_balance(code=AccountCode.MERCHANT_FEE_REVENUE, currency="USD", livemode=False)
    live = account_balance(code=AccountCode.CONSUMER_RECEIVABLE, currency="USD", livemode=True, consumer=consumer)

    assert (receivable, fees, without_merchant, live) == (12_000, -360, 0, 0)


def test_balances_sum_every_account_or_only_one_merchants() -> None:
    acme, globex = make_merchant(name="Acme"), make_merchant(name="Globex")
    consumer = make_consumer(email="shopper@example.com")
    post_capture(merchant=acme, consumer=consumer, amount=10_000, fee_amount=300)
    post_capture(merchant=globex, consumer=consumer, amount=4_000, fee_amount=100)

    assert balances(currency="USD", livemode=False) == {
        "consumer_receivable": 14_000,
        "merchant_fee_revenue": -400,
        "merchant_payable": -13_600,
    }
    assert balances(currency="USD", livemode=False, merchant=acme) == {
        "merchant_fee_revenue": -300,
        "merchant_payable": -9_700,
    }
    assert balances(currency="USD", livemode=True) == {}
    assert balances(currency="EUR", livemode=False) == {}
