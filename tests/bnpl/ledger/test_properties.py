"""Property: however many balanced entries are posted, on whatever accounts, each account's balance
is the sum of its lines and every currency's balances sum to zero in each mode."""

from __future__ import annotations

from collections import defaultdict
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bnpl.ledger.models import AccountCode, JournalEntry
from bnpl.ledger.selectors import account_balance, balances
from bnpl.ledger.services import Line, ledger_post
from tests.consumers.factories import make_consumer
from tests.merchants.factories import make_merchant

pytestmark = pytest.mark.django_db

CURRENCIES = ["USD", "EUR", "JPY"]
# A line as drawn: (account code, merchant index or None, consumer index or None, amount).
_DrawnLine = tuple[AccountCode, int | None, int | None, int]

amounts = st.integers(min_value=-(10**12), max_value=10**12).filter(lambda amount: amount != 0)
dimension = st.one_of(st.none(), st.integers(min_value=0, max_value=1))
account_dimensions = st.tuples(st.sampled_from(AccountCode), dimension, dimension)


@st.composite
def balanced_entries(draw: st.DrawFn) -> tuple[str, bool, list[_DrawnLine]]:
    currency = draw(st.sampled_from(CURRENCIES))
    livemode = draw(st.booleans())
    lines = draw(st.lists(st.tuples(account_dimensions, amounts), min_size=1, max_size=5))
    balancing_dimensions = draw(account_dimensions)
    remainder = -sum(amount for _, amount in lines)
    assume(remainder != 0)
    drawn = [(*dimensions, amount) for dimensions, amount in [*lines, (balancing_dimensions, remainder)]]
    return currency, livemode, drawn


def test_random_balanced_entries_keep_every_currencys_balances_at_zero() -> None:
    merchants = [make_merchant(name="Acme"), make_merchant(name="Globex")]
    consumers = [make_consumer(email="one@example.com"), make_consumer(email="two@example.com")]

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(entries=st.lists(balanced_entries(), min_size=1, max_size=6))
    def check(entries: list[tuple[str, bool, list[_DrawnLine]]]) -> None:
        expected_accounts: dict[tuple[str, bool, AccountCode, int | None, int | None], int] = defaultdict(int)
        expected_codes: dict[tuple[str, bool], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        with transaction.atomic():
            for currency, livemode, drawn in entries:
                lines = [
                    Line(
                        code,
                        amount,
                        merchant=merchants[merchant] if merchant is not None else None,
                        consumer=consumers[consumer] if consumer is not None else None,
                    )
                    for code, merchant, consumer, amount in drawn
                ]
                ledger_post(entry_type="test.random", currency=currency, livemode=livemode, lines=lines)
                for code, merchant, consumer, amount in drawn:
                    expected_accounts[(currency, livemode, code, merchant, consumer)] += amount
                    expected_codes[(currency, livemode)][code.value] += amount

            for currency in CURRENCIES:
                for livemode in (False, True):
                    assert balances(currency=currency, livemode=livemode) == expected_codes[(currency, livemode)]
                    assert sum(balances(currency=currency, livemode=livemode).values()) == 0
            for (currency, livemode, code, merchant, consumer), amount in expected_accounts.items():
                assert (
                    account_balance(
                        code=code,
                        currency=currency,
                        livemode=livemode,
                        merchant=merchants[merchant] if merchant is not None else None,
                        consumer=consumers[consumer] if consumer is not None else None,
                    )
                    == amount
                )
            assert JournalEntry.objects.count() == len(entries)
            out = StringIO()
            call_command("ledger_verify", stdout=out)
            assert out.getvalue().splitlines()[-1].startswith(f"Ledger OK: {len(entries)} entries")
            transaction.set_rollback(True)

    check()
