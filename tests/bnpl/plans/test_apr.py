"""APR by Regulation Z Appendix J (actuarial method) and the TILA disclosure.

Every worked example states its unit periods by hand: t = full months counted back from the payment
date to the advance date, f = the odd days left / 30. The expected APR is then checked two ways that do
not use the implementation: a published or closed-form figure, and a NumPy brute force over a grid of
rates on the present-value equation A = sum(P / ((1 + f*i) * (1 + i)**t)).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bnpl.plans.schedule import (
    MAX_APR_BPS,
    ScheduledPayment,
    TilaDisclosure,
    add_months,
    amortized,
    apr,
    pay_in_installments,
    pay_later,
    tila_disclosure,
)

TOLERANCE = Decimal("0.125")  # Regulation Z § 1026.22(a)(2): within 1/8 of a percentage point


def _brute_force_apr(amount_financed: float, flows: list[tuple[float, int, float]]) -> float:
    """APR in percent: the grid rate (steps of 0.0001% APR up to 50%) whose present value of
    ``flows`` = (payment, t, f) is closest to ``amount_financed``. Independent of the implementation."""
    annual_rates = np.arange(0, 0.5, 0.000001)
    monthly = annual_rates / 12
    present_value = np.zeros_like(monthly)
    for payment, periods, fraction in flows:
        present_value += payment / ((1 + fraction * monthly) * (1 + monthly) ** periods)
    return float(annual_rates[np.argmin(np.abs(present_value - amount_financed))] * 100)


def _monthly(first_due: dt.date, count: int, amount: int) -> list[tuple[dt.date, int]]:
    return [(add_months(first_due, k), amount) for k in range(count)]


def _assert_within_tolerance(result: Decimal, expected: float) -> None:
    assert abs(result - Decimal(str(expected))) <= TOLERANCE


# --- Published and constructed worked examples ---------------------------------------------------------


def test_appendix_j_c_1_i_regular_first_period() -> None:
    # Appendix J (c)(1)(i): $5,000 advanced 1978-01-10, 24 monthly payments of $230 from 1978-02-10.
    # Regular: payment k is exactly k months after the advance, t = 1..24, f = 0. Published APR 9.69%.
    # 5000 = 230 * (1 - (1 + i) ** -24) / i  ->  i = 0.0080714, 12 i = 9.6857%.
    payments = _monthly(dt.date(1978, 2, 10), 24, 23000)

    result = apr(amount_financed=500000, payments=payments, advance_date=dt.date(1978, 1, 10))

    assert result == Decimal("9.69")
    _assert_within_tolerance(result, _brute_force_apr(5000, [(230, t, 0) for t in range(1, 25)]))


def test_appendix_j_c_1_ii_long_first_period() -> None:
    # Appendix J (c)(1)(ii): $6,000 advanced 1978-02-10, 36 monthly payments of $200 from 1978-04-01.
    # Counting back from 1978-04-01: 1978-03-01 is one full month; 1978-02-01 is before the advance, so
    # t = 1 and the odd days are 02-10 -> 03-01 = 19 (February 1978 has 28 days): f = 19/30.
    # 6000 = 200 * (1 - (1 + i) ** -36) / i / (1 + 19/30 i)  ->  12 i = 11.8165%. Published APR 11.82%.
    payments = _monthly(dt.date(1978, 4, 1), 36, 20000)

    result = apr(amount_financed=600000, payments=payments, advance_date=dt.date(1978, 2, 10))

    assert result == Decimal("11.82")
    _assert_within_tolerance(result, _brute_force_apr(6000, [(200, t, 19 / 30) for t in range(1, 37)]))


def test_five_thousand_over_36_months_at_one_percent_a_month_is_12_percent() -> None:
    # $5,000 over 36 monthly payments of $166.07: at i = 0.01 the annuity payment is
    # 5000 * 0.01 / (1 - 1.01 ** -36) = 166.0715, so the APR is 12 * 1% = 12.00% (the cent rounding of the
    # payment moves it by 0.0008%).
    payments = _monthly(dt.date(2024, 2, 15), 36, 16607)

    result = apr(amount_financed=500000, payments=payments, advance_date=dt.date(2024, 1, 15))

    assert result == Decimal("12.00")
    _assert_within_tolerance(result, _brute_force_apr(5000, [(166.07, t, 0) for t in range(1, 37)]))


def test_ten_thousand_over_36_months_at_ten_percent() -> None:
    # $10,000 advanced 2022-03-16, 36 monthly payments of $322.67 from 2022-04-16 (the SCE APR module's
    # sample request). At i = 0.10/12: 10000 * i / (1 - (1 + i) ** -36) = 322.6719, so APR = 10.00%.
    payments = _monthly(dt.date(2022, 4, 16), 36, 32267)

    result = apr(amount_financed=1000000, payments=payments, advance_date=dt.date(2022, 3, 16))

    assert result == Decimal("10.00")
    _assert_within_tolerance(result, _brute_force_apr(10000, [(322.67, t, 0) for t in range(1, 37)]))


def test_long_first_period_of_45_days() -> None:
    # $2,000 advanced 2024-01-01, first payment 2024-02-15 (45 days), then the 15th of each month, 12 in all.
    # Back from 2024-02-15: 2024-01-15 is a full month, 2023-12-15 is before the advance: t = 1, and
    # 01-01 -> 01-15 is 14 odd days, f = 14/30. Payment k: t = k, f = 14/30 for k = 1..12.
    # Constructed at 18% (i = 0.015): A = P * a12 / (1 + f i) with a12 = (1 - 1.015 ** -12) / 0.015
    # = 10.907505, so P = 2000 * (1 + 0.007) / 10.907505 = 184.6435 -> $184.64, APR 18.00%.
    payments = _monthly(dt.date(2024, 2, 15), 12, 18464)

    result = apr(amount_financed=200000, payments=payments, advance_date=dt.date(2024, 1, 1))

    assert result == Decimal("18.00")
    _assert_within_tolerance(result, _brute_force_apr(2000, [(184.64, t, 14 / 30) for t in range(1, 13)]))


def test_short_first_period_of_17_days() -> None:
    # $3,000 advanced 2024-03-15, 24 monthly payments on the 1st from 2024-04-01.
    # Back from 2024-04-01: 2024-03-01 is before the advance, so t = 0 and 03-15 -> 04-01 is 17 odd days,
    # f = 17/30. Payment k (0-based): t = k, f = 17/30.
    # Constructed at 12% (i = 0.01): A = P * (1 + i) * a24 / (1 + f i) with a24 = 21.243387, so
    # P = 3000 * (1 + 0.0056667) / (1.01 * 21.243387) = 140.6145 -> $140.61, APR 12.00%.
    payments = _monthly(dt.date(2024, 4, 1), 24, 14061)

    result = apr(amount_financed=300000, payments=payments, advance_date=dt.date(2024, 3, 15))

    assert result == Decimal("12.00")
    _assert_within_tolerance(result, _brute_force_apr(3000, [(140.61, t, 17 / 30) for t in range(24)]))


def test_month_end_payments_count_as_full_months() -> None:
    # $1,200 advanced 2023-01-31, 12 payments on the last day of each month (02-28, 03-31, 04-30, ...).
    # Appendix J (b)(3)(iv): a series on the last day of the month is measured last day to last day, so
    # t = 1..12 and f = 0. At i = 0.01: 1200 * 0.01 / (1 - 1.01 ** -12) = 106.6185 -> $106.62, APR 12.00%.
    payments = [(add_months(dt.date(2023, 1, 31), k), 10662) for k in range(1, 13)]
    assert payments[0][0] == dt.date(2023, 2, 28)
    assert payments[2][0] == dt.date(2023, 4, 30)

    result = apr(amount_financed=120000, payments=payments, advance_date=dt.date(2023, 1, 31))

    assert result == Decimal("12.00")
    _assert_within_tolerance(result, _brute_force_apr(1200, [(106.62, t, 0) for t in range(1, 13)]))


def test_single_payment_in_days_uses_the_term_as_the_unit_period() -> None:
    # Appendix J (b)(4)(ii): a single advance, single payment loan's unit period is its term (at most a
    # year). $1,000 advanced 2024-01-01, $1,010 repaid 2024-01-31: 30 days, not a whole month, so
    # 365/30 unit periods a year: APR = (1010/1000 - 1) * 365/30 = 0.01 * 12.1667 = 12.17%.
    result = apr(amount_financed=100000, payments=[(dt.date(2024, 1, 31), 101000)], advance_date=dt.date(2024, 1, 1))

    assert result == Decimal("12.17")
    _assert_within_tolerance(result, 0.01 * 365 / 30 * 100)


def test_single_payment_in_whole_months() -> None:
    # $1,000 advanced 2024-01-10, $1,044 repaid 2024-07-10: a term of 6 whole months, 12/6 = 2 unit
    # periods a year: APR = 0.044 * 2 = 8.80%.
    result = apr(amount_financed=100000, payments=[(dt.date(2024, 7, 10), 104400)], advance_date=dt.date(2024, 1, 10))

    assert result == Decimal("8.80")


def test_single_payment_longer_than_a_year_uses_a_yearly_unit_period() -> None:
    # $1,000 advanced 2024-01-10, $1,150 repaid 2025-03-01. Back from 2025-03-01 one year is 2024-03-01
    # (t = 1), then 01-10 -> 03-01 is 51 odd days: f = 51/365. Solve 1150/1000 = (1 + f i)(1 + i):
    # f i**2 + (1 + f) i - 0.15 = 0, i.e. 0.139726 i**2 + 1.139726 i - 0.15 = 0
    # ->  i = (-1.139726 + sqrt(1.139726**2 + 4 * 0.139726 * 0.15)) / (2 * 0.139726) = 0.129553, APR 12.96%.
    result = apr(amount_financed=100000, payments=[(dt.date(2025, 3, 1), 115000)], advance_date=dt.date(2024, 1, 10))

    f = 51 / 365
    expected = (-(1 + f) + ((1 + f) ** 2 + 4 * f * 0.15) ** 0.5) / (2 * f) * 100
    assert result == Decimal("12.96")
    _assert_within_tolerance(result, expected)


def test_no_finance_charge_is_zero_apr() -> None:
    payments = [(row.due_date, row.amount) for row in pay_in_installments(amount=10001, start=dt.date(2025, 1, 1))]

    assert apr(amount_financed=10001, payments=payments, advance_date=dt.date(2025, 1, 1)) == Decimal("0.00")
    assert apr(amount_financed=500, payments=[(dt.date(2025, 1, 31), 500)], advance_date=dt.date(2025, 1, 1)) == 0


def test_payments_due_on_the_advance_date_count_at_face_value() -> None:
    # A $100 down payment on the advance date plus the 12% schedule on $1,000 is the same credit as
    # the schedule alone on $1,000: the APR is the same.
    schedule = [
        (row.due_date, row.amount)
        for row in amortized(principal=100000, apr_bps=1200, months=12, start=dt.date(2025, 1, 15))
    ]

    with_down = apr(
        amount_financed=110000, payments=[(dt.date(2025, 1, 15), 10000), *schedule], advance_date=dt.date(2025, 1, 15)
    )

    assert with_down == apr(amount_financed=100000, payments=schedule, advance_date=dt.date(2025, 1, 15))
    assert with_down == Decimal("12.00")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"payments": []}, "payments must not be empty"),
        ({"payments": [(dt.date(2024, 12, 31), 1000)]}, "payment due 2024-12-31 is before the advance date"),
        ({"payments": [(dt.date(2025, 2, 1), 999)]}, "the finance charge would be negative"),
        ({"payments": [(dt.date(2025, 2, 1), -1)]}, "payment amount must be between 0 and"),
        ({"amount_financed": 0}, "amount_financed must be between 1 and"),
        ({"payments": [(dt.date(2025, 1, 1), 1001)]}, "a finance charge needs credit outstanding"),
    ],
)
def test_apr_refuses_inconsistent_input(arguments: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"amount_financed": 1000, "payments": [(dt.date(2025, 2, 1), 1010)], **arguments}

    with pytest.raises(ValueError, match=message):
        apr(advance_date=dt.date(2025, 1, 1), **values)  # type: ignore[arg-type]


# --- Disclosure ----------------------------------------------------------------------------------------


def test_tila_disclosure_of_a_financing_plan_with_a_down_payment() -> None:
    # given 1,100.00 with 100.00 down, 1,000.00 financed at 12% over 12 months (the pinned schedule)
    start = dt.date(2025, 1, 15)
    schedule = amortized(principal=110000, apr_bps=1200, months=12, start=start, down_payment=10000)

    disclosure = tila_disclosure(schedule=schedule, amount_financed=110000, advance_date=start)

    # then the down payment is not credit: 1,000.00 financed, 66.19 finance charge, 1,066.19 in total
    assert disclosure == TilaDisclosure(
        amount_financed=100000,
        finance_charge=6619,
        total_of_payments=106619,
        apr=Decimal("12.00"),
        schedule=schedule[1:],
    )
    assert disclosure.total_of_payments == sum(payment.amount for payment in disclosure.schedule)


def test_tila_disclosure_of_pay_in_4_discloses_the_three_later_payments_at_zero_apr() -> None:
    start = dt.date(2025, 1, 1)
    schedule = pay_in_installments(amount=10001, start=start)

    disclosure = tila_disclosure(schedule=schedule, amount_financed=10001, advance_date=start)

    assert disclosure == TilaDisclosure(
        amount_financed=7500, finance_charge=0, total_of_payments=7500, apr=Decimal("0.00"), schedule=schedule[1:]
    )


def test_tila_disclosure_refuses_a_schedule_that_repays_less_than_was_financed() -> None:
    start = dt.date(2025, 1, 1)
    schedule = [ScheduledPayment(due_date=dt.date(2025, 2, 1), amount=900, principal=900, interest=0)]

    with pytest.raises(ValueError, match=r"the schedule \(900\) repays less than amount_financed \(1000\)"):
        tila_disclosure(schedule=schedule, amount_financed=1000, advance_date=start)
    with pytest.raises(ValueError, match="before the advance date"):
        tila_disclosure(schedule=schedule, amount_financed=900, advance_date=dt.date(2025, 3, 1))
    down_only = [ScheduledPayment(due_date=start, amount=1500, principal=1500, interest=0)]
    with pytest.raises(ValueError, match=r"due on the advance date \(1500\) exceed amount_financed \(1000\)"):
        tila_disclosure(schedule=down_only, amount_financed=1000, advance_date=start)


# --- Properties ----------------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    # at least 10,000 minor units financed: rounding each month's interest to a minor unit moves the APR
    # of the actual payments by at most 1200 / amount_financed percentage points (0.5 a month on a
    # balance averaging half the amount), which stays under the 1/8 point tolerance from there on
    principal=st.integers(min_value=20_000, max_value=10**10),
    apr_bps=st.integers(min_value=0, max_value=MAX_APR_BPS),
    months=st.integers(min_value=1, max_value=60),
    down_share=st.integers(min_value=0, max_value=50),
    start=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31)),
)
def test_the_apr_of_an_amortized_schedule_round_trips_to_its_rate(
    principal: int, apr_bps: int, months: int, down_share: int, start: dt.date
) -> None:
    down_payment = principal * down_share // 100
    schedule = amortized(principal=principal, apr_bps=apr_bps, months=months, start=start, down_payment=down_payment)

    disclosure = tila_disclosure(schedule=schedule, amount_financed=principal, advance_date=start)

    assert abs(disclosure.apr - Decimal(apr_bps) / 100) <= TOLERANCE
    assert disclosure.amount_financed == principal - down_payment
    assert disclosure.finance_charge == sum(payment.interest for payment in schedule)
    assert disclosure.total_of_payments == disclosure.amount_financed + disclosure.finance_charge


@given(
    amount=st.integers(min_value=4, max_value=10**12),
    days=st.integers(min_value=1, max_value=366),
    start=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31)),
)
def test_interest_free_products_disclose_zero_apr(amount: int, days: int, start: dt.date) -> None:
    for schedule in (pay_in_installments(amount=amount, start=start), pay_later(amount=amount, days=days, start=start)):
        disclosure = tila_disclosure(schedule=schedule, amount_financed=amount, advance_date=start)

        assert disclosure.apr == Decimal("0.00")
        assert disclosure.finance_charge == 0


@settings(max_examples=60, deadline=None)
@given(
    amount=st.integers(min_value=10_000, max_value=10**9),
    apr_bps=st.integers(min_value=1, max_value=MAX_APR_BPS),
    months=st.integers(min_value=2, max_value=48),
)
def test_a_higher_payment_never_gives_a_lower_apr(amount: int, apr_bps: int, months: int) -> None:
    start = dt.date(2025, 3, 10)
    payments = [
        (row.due_date, row.amount) for row in amortized(principal=amount, apr_bps=apr_bps, months=months, start=start)
    ]
    higher = [(due, payment + 100) for due, payment in payments]

    assert apr(amount_financed=amount, payments=higher, advance_date=start) >= apr(
        amount_financed=amount, payments=payments, advance_date=start
    )
