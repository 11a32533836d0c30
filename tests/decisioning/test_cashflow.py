"""The pure cash-flow arithmetic of ``decisioning.cashflow``: what transactions add to each
(currency, month) (``monthly_totals``) and the features a credit decision reads from those monthly
totals (``cash_flow_features``). Every expected value is worked out by hand in the comments."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from decisioning.cashflow import (
    CashFlowFeatures,
    MonthTotals,
    Transaction,
    cash_flow_features,
    merge_months,
    monthly_totals,
    population_deviation,
)

JAN, FEB, MAR = dt.date(2026, 1, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1)


def _txn(day: int, amount: int, category: str = "other", balance_after: int | None = None) -> Transaction:
    """A USD transaction booked in January 2026."""
    return Transaction(
        booked_on=dt.date(2026, 1, day), amount=amount, currency="USD", category=category, balance_after=balance_after
    )


def _month(month: dt.date, **totals: int) -> MonthTotals:
    """A month with data (one transaction unless said otherwise)."""
    return MonthTotals(month=month, **{"transactions": 1, **totals})


# --- monthly_totals --------------------------------------------------------------------------------


def test_transfers_count_as_transactions_and_balances_but_not_as_money_in_or_out() -> None:
    totals = monthly_totals(
        [
            _txn(1, 300_000, "income", balance_after=350_000),
            _txn(2, -100_000, "transfer", balance_after=250_000),
            _txn(3, -20_000, "other", balance_after=230_000),
            _txn(4, -30_000, "debt_payment", balance_after=200_000),
            _txn(5, 5_000, "transfer", balance_after=205_000),
        ]
    )

    assert totals == {
        ("USD", JAN): MonthTotals(
            month=JAN,
            inflow=300_000,  # the income only: the +5,000 transfer is not money in
            outflow=50_000,  # 20,000 + 30,000: the -100,000 transfer is not money out
            income=300_000,
            debt_payments=30_000,  # stored positive
            nsf=0,
            overdrafts=0,
            transactions=5,  # transfers included
            balance_sum=1_235_000,  # 350,000 + 250,000 + 230,000 + 200,000 + 205,000
            balance_count=5,
        )
    }


def test_fees_are_counted_and_an_overdraft_is_counted_only_when_the_balance_crosses_below_zero() -> None:
    totals = monthly_totals(
        [
            _txn(1, -5_000, balance_after=1_000),  # 6,000 -> 1,000: no
            _txn(2, -1_000, balance_after=0),  # 1,000 -> 0: zero is not below zero
            _txn(3, -500, balance_after=-500),  # 0 -> -500: an overdraft (1)
            _txn(4, -3_500, "overdraft_fee", balance_after=-4_000),  # a fee (2); the balance was already negative
            _txn(5, -100, balance_after=-4_100),  # already negative: no
            _txn(6, 10_000, "income", balance_after=5_900),  # back above zero: no
            _txn(7, -3_000, "nsf_fee", balance_after=2_900),  # an NSF fee
            _txn(8, -2_000),  # no balance reported: counted as a transaction only
            _txn(9, -3_500, "overdraft_fee", balance_after=-600),  # a fee crossing zero counts once (3)
        ]
    )

    month = totals[("USD", JAN)]
    assert (month.nsf, month.overdrafts) == (1, 3)
    assert month.transactions == 9
    assert month.balance_count == 8
    # 1,000 + 0 - 500 - 4,000 - 4,100 + 5,900 + 2,900 - 600
    assert month.balance_sum == 600
    assert month.inflow == 10_000
    # 5,000 + 1,000 + 500 + 3,500 + 100 + 3,000 + 2,000 + 3,500
    assert month.outflow == 18_600


def test_a_transfer_that_takes_the_balance_below_zero_is_an_overdraft() -> None:
    month = monthly_totals([_txn(1, -2_000, "transfer", balance_after=-500)])[("USD", JAN)]

    assert (month.overdrafts, month.inflow, month.outflow) == (1, 0, 0)


def test_an_nsf_fee_that_takes_the_balance_below_zero_is_one_nsf_event_not_also_an_overdraft() -> None:
    month = monthly_totals([_txn(1, -3_500, "nsf_fee", balance_after=-1_500)])[("USD", JAN)]

    assert (month.nsf, month.overdrafts) == (1, 0)  # 2,000 -> -1,500: the fee is the event already


def test_transactions_are_totalled_per_currency_and_calendar_month() -> None:
    totals = monthly_totals(
        [
            Transaction(booked_on=dt.date(2026, 1, 31), amount=1_000, currency="USD", category="other"),
            Transaction(booked_on=dt.date(2026, 2, 1), amount=2_000, currency="USD", category="other"),
            Transaction(booked_on=dt.date(2026, 2, 28), amount=-700, currency="USD", category="other"),
            Transaction(booked_on=dt.date(2026, 2, 14), amount=5_000, currency="EUR", category="income"),
        ]
    )

    assert totals == {
        ("USD", JAN): MonthTotals(month=JAN, inflow=1_000, transactions=1),
        ("USD", FEB): MonthTotals(month=FEB, inflow=2_000, outflow=700, transactions=2),
        ("EUR", FEB): MonthTotals(month=FEB, inflow=5_000, income=5_000, transactions=1),
    }


def test_no_transactions_total_nothing() -> None:
    assert monthly_totals([]) == {}


# --- cash_flow_features ----------------------------------------------------------------------------


def test_three_months_of_data_give_the_exact_features() -> None:
    months = [
        _month(
            MAR, inflow=370_000, outflow=320_000, income=360_000, debt_payments=30_000, nsf=1, overdrafts=1,
            transactions=5, balance_sum=-150_000, balance_count=5,
        ),
        _month(
            JAN, inflow=250_000, outflow=230_000, income=240_000, debt_payments=30_000, nsf=1,
            transactions=10, balance_sum=1_000_000, balance_count=10,
        ),
        _month(
            FEB, inflow=310_000, outflow=330_000, income=300_000, debt_payments=30_000, overdrafts=2,
            transactions=5, balance_sum=500_000, balance_count=5,
        ),
    ]  # fmt: skip

    features = cash_flow_features(months, today=dt.date(2026, 3, 20))

    assert features == CashFlowFeatures(
        months_observed=3,
        # (240,000 + 300,000 + 360,000) / 3
        monthly_income=300_000,
        # pstdev(240k, 300k, 360k) = sqrt((60k² + 0 + 60k²) / 3) = 48,989.79; 1 - 48,989.79 / 300,000
        income_regularity=0.8367,
        # (1,000,000 + 500,000 - 150,000) / (10 + 5 + 5): a mean over balances, not over months
        average_balance=67_500,
        # nets 20,000, -20,000, 50,000 (mean 16,666.67): pstdev 28,674.42 over mean inflow 310,000
        net_flow_volatility=0.0925,
        # 1 + 2 + (1 + 1)
        nsf_overdraft_events=5,
        # 90,000 / 900,000
        debt_to_income=0.1,
        # 50,000 // 3
        free_cash_flow=16_666,
    )
    assert features.as_dict()["monthly_income"] == 300_000


def test_months_without_data_inside_the_window_count_as_zero() -> None:
    months = [
        _month(JAN, inflow=300_000, outflow=200_000, income=300_000),
        _month(MAR, inflow=240_000, outflow=400_000, income=240_000),
    ]

    features = cash_flow_features(months, today=dt.date(2026, 3, 5))

    assert features is not None
    assert features.months_observed == 3  # January to March, February included as zero
    assert features.monthly_income == 180_000  # 540,000 / 3
    # incomes 300k, 0, 240k (mean 180k): pstdev = sqrt((120k² + 180k² + 60k²) / 3) = 129,614.8
    assert features.income_regularity == 0.2799  # 1 - 129,614.8 / 180,000
    assert features.free_cash_flow == -20_000  # (100,000 + 0 - 160,000) / 3
    assert features.average_balance is None  # no balance reported


def test_free_cash_flow_is_floored_even_when_negative() -> None:
    months = [_month(JAN, inflow=100_000, outflow=150_000, income=100_000), _month(FEB), _month(MAR)]

    features = cash_flow_features(months, today=dt.date(2026, 3, 5))

    assert features is not None
    assert features.free_cash_flow == -16_667  # -50,000 / 3 = -16,666.67, floored
    assert features.monthly_income == 33_333  # 100,000 / 3 = 33,333.33, floored


def test_a_month_whose_transaction_count_is_zero_is_no_data() -> None:
    months = [MonthTotals(month=MAR, inflow=999_999, income=999_999)]  # transactions=0

    assert cash_flow_features(months, today=dt.date(2026, 3, 5)) is None


def test_the_window_is_capped_at_the_six_latest_months() -> None:
    # August 2025 to March 2026: the two oldest months (big income) fall outside the window.
    old = [_month(dt.date(2025, 8, 1), income=9_000_000, inflow=9_000_000, nsf=4)]
    old.append(_month(dt.date(2025, 9, 1), income=9_000_000, inflow=9_000_000))
    recent = [
        _month(month, income=200_000, inflow=200_000, outflow=100_000)
        for month in (dt.date(2025, 10, 1), dt.date(2025, 11, 1), dt.date(2025, 12, 1), JAN, FEB, MAR)
    ]

    features = cash_flow_features(old + recent, today=dt.date(2026, 3, 31))

    assert features is not None
    assert features.months_observed == 6
    assert features.monthly_income == 200_000
    assert features.income_regularity == 1.0
    assert features.net_flow_volatility == 0.0
    assert features.free_cash_flow == 100_000
    assert features.nsf_overdraft_events == 0


def test_nsf_and_overdraft_events_count_only_in_the_last_three_months_of_the_window() -> None:
    months = [
        _month(dt.date(2025, 11, 1), income=100_000, nsf=3),
        _month(dt.date(2025, 12, 1), income=100_000, overdrafts=2),
        _month(JAN, income=100_000, nsf=1),
        _month(FEB, income=100_000, overdrafts=1),
        _month(MAR, income=100_000, nsf=1),
    ]

    features = cash_flow_features(months, today=dt.date(2026, 3, 5))

    assert features is not None
    assert features.months_observed == 5
    assert features.nsf_overdraft_events == 3  # January to March: 1 + 1 + 1


@pytest.mark.parametrize(
    ("today", "fresh"),
    [
        (dt.date(2025, 12, 1), True),  # the latest month is this month
        (dt.date(2026, 2, 28), True),  # two months after December: still fresh
        (dt.date(2026, 3, 1), False),  # three months after: stale
        (dt.date(2025, 11, 30), False),  # data from a month after today: a bad clock somewhere
    ],
)
def test_data_is_ignored_when_stale_or_from_the_future(today: dt.date, fresh: bool) -> None:
    months = [_month(dt.date(2025, 12, 1), income=100_000, inflow=100_000)]

    features = cash_flow_features(months, today=today)

    assert (features is not None) is fresh


def test_no_data_gives_no_features() -> None:
    assert cash_flow_features([], today=dt.date(2026, 3, 5)) is None


def test_without_income_regularity_is_zero_and_debt_to_income_is_unknown() -> None:
    months = [
        _month(FEB, inflow=50_000, outflow=80_000, debt_payments=20_000, balance_sum=30_000, balance_count=2),
        _month(MAR, inflow=50_000, outflow=20_000),
    ]

    features = cash_flow_features(months, today=dt.date(2026, 3, 5))

    assert features == CashFlowFeatures(
        months_observed=2,
        monthly_income=0,
        income_regularity=0.0,
        average_balance=15_000,  # 30,000 / 2
        net_flow_volatility=0.6,  # nets -30,000 and 30,000: pstdev 30,000 over mean inflow 50,000
        nsf_overdraft_events=0,
        debt_to_income=None,
        free_cash_flow=0,  # (-30,000 + 30,000) / 2
    )


def test_without_inflow_net_flow_volatility_is_unknown() -> None:
    features = cash_flow_features([_month(MAR, outflow=10_000)], today=dt.date(2026, 3, 5))

    assert features is not None
    assert features.net_flow_volatility is None
    assert features.free_cash_flow == -10_000


def test_very_irregular_income_is_clamped_to_zero_regularity() -> None:
    # incomes 0, 0, 900,000 (mean 300,000): pstdev = sqrt((300k² + 300k² + 600k²) / 3) = 424,264;
    # 1 - 1.414 is below zero, so 0.
    months = [_month(JAN), _month(FEB), _month(MAR, income=900_000, inflow=900_000)]

    features = cash_flow_features(months, today=dt.date(2026, 3, 5))

    assert features is not None
    assert features.income_regularity == 0.0
    assert features.monthly_income == 300_000


def test_merging_adds_each_months_totals_across_sources_in_month_order() -> None:
    from_a = [_month(FEB, income=100_000, transactions=2, nsf=1), _month(MAR, outflow=5_000, transactions=1)]
    from_b = [_month(MAR, income=40_000, transactions=3, balance_sum=900, balance_count=2)]

    merged = merge_months([*from_b, *from_a])

    assert merged == [
        _month(FEB, income=100_000, transactions=2, nsf=1),
        _month(MAR, income=40_000, outflow=5_000, transactions=4, balance_sum=900, balance_count=2),
    ]
    assert merge_months([]) == []


@given(st.lists(st.integers(min_value=-(10**15), max_value=10**15), min_size=1, max_size=12))
@example([240_000, 300_000, 360_000])
@example([0, 0, 0])
@example([-30_000, 30_000])
@example([7])
def test_the_deviation_is_statistics_pstdev_to_the_last_bit(values: list[int]) -> None:
    assert population_deviation(values) == statistics.pstdev(values)


def test_a_deviation_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        population_deviation([])
