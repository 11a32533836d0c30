"""Schedules: pay in 4, pay later, monthly financing and re-amortization after a refund."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.plans.schedule import (
    MAX_APR_BPS,
    ScheduledPayment,
    ScheduleInputError,
    add_months,
    amortized,
    pay_in_installments,
    pay_later,
    reamortize_after_principal_reduction,
)

START = dt.date(2025, 1, 15)
dates = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2040, 12, 31))


def _row(due: dt.date, principal: int, interest: int) -> ScheduledPayment:
    return ScheduledPayment(due_date=due, amount=principal + interest, principal=principal, interest=interest)


def _assert_schedule_invariants(rows: list[ScheduledPayment], principal: int) -> None:
    assert sum(row.principal for row in rows) == principal
    assert sum(row.amount for row in rows) == principal + sum(row.interest for row in rows)
    assert all(row.amount == row.principal + row.interest for row in rows)
    assert all(row.amount >= 0 and row.principal >= 0 and row.interest >= 0 for row in rows)
    assert [row.due_date for row in rows] == sorted(row.due_date for row in rows)


# --- ScheduledPayment ---------------------------------------------------------------------------------


def test_a_scheduled_payment_refuses_an_amount_that_is_not_principal_plus_interest() -> None:
    with pytest.raises(ValueError, match=r"amount \(101\) must equal principal \(100\) \+ interest \(0\)"):
        ScheduledPayment(due_date=START, amount=101, principal=100, interest=0)
    with pytest.raises(ValueError, match="must not be negative"):
        ScheduledPayment(due_date=START, amount=0, principal=5, interest=-5)


# --- Pay in 4 ------------------------------------------------------------------------------------------


def test_pay_in_4_puts_the_remainder_on_the_earliest_installment_every_two_weeks_from_today() -> None:
    # given 100.01 in cents, when split in 4 from today
    rows = pay_in_installments(amount=10001, start=START)

    # then 25.01 today and 25.00 on days +14, +28, +42
    assert rows == [
        _row(dt.date(2025, 1, 15), 2501, 0),
        _row(dt.date(2025, 1, 29), 2500, 0),
        _row(dt.date(2025, 2, 12), 2500, 0),
        _row(dt.date(2025, 2, 26), 2500, 0),
    ]


def test_pay_in_installments_can_start_one_interval_after_the_start() -> None:
    rows = pay_in_installments(amount=1003, count=3, interval_days=30, start=START, first_due_at_start=False)

    assert rows == [
        _row(dt.date(2025, 2, 14), 335, 0),
        _row(dt.date(2025, 3, 16), 334, 0),
        _row(dt.date(2025, 4, 15), 334, 0),
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"amount": 0}, "amount must be between 1 and"),
        ({"amount": 3}, r"amount \(3\) must be at least count \(4\)"),
        ({"amount": 1000, "count": 0}, "count must be between 1 and 360"),
        ({"amount": 1000, "interval_days": 0}, "interval_days must be between 1 and 366"),
        ({"amount": 10.5}, "amount must be an int of minor units"),
        ({"amount": True}, "amount must be an int of minor units"),
    ],
)
def test_pay_in_installments_refuses_bad_input(arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pay_in_installments(start=START, **arguments)  # type: ignore[arg-type]


@given(
    amount=st.integers(min_value=1, max_value=10**12),
    count=st.integers(min_value=1, max_value=24),
    interval_days=st.integers(min_value=1, max_value=60),
    start=dates,
)
def test_pay_in_installments_splits_exactly_and_evenly_earliest_first(
    amount: int, count: int, interval_days: int, start: dt.date
) -> None:
    if amount < count:
        with pytest.raises(ScheduleInputError):
            pay_in_installments(amount=amount, count=count, interval_days=interval_days, start=start)
        return

    rows = pay_in_installments(amount=amount, count=count, interval_days=interval_days, start=start)

    _assert_schedule_invariants(rows, amount)
    amounts = [row.amount for row in rows]
    assert amounts == sorted(amounts, reverse=True)
    assert amounts[0] - amounts[-1] <= 1
    assert all(row.interest == 0 and row.amount > 0 for row in rows)
    assert [row.due_date for row in rows] == [start + dt.timedelta(days=interval_days * k) for k in range(count)]


# --- Pay later -----------------------------------------------------------------------------------------


def test_pay_later_is_one_payment_of_everything_after_n_days() -> None:
    assert pay_later(amount=12345, start=START) == [_row(dt.date(2025, 2, 14), 12345, 0)]
    assert pay_later(amount=500, days=60, start=START) == [_row(dt.date(2025, 3, 16), 500, 0)]


def test_pay_later_refuses_zero_days_and_zero_amounts() -> None:
    with pytest.raises(ValueError, match="days must be between 1 and 366, got 0"):
        pay_later(amount=500, days=0, start=START)
    with pytest.raises(ValueError, match="amount must be between 1 and"):
        pay_later(amount=-5, start=START)


# --- Monthly financing ---------------------------------------------------------------------------------


def test_amortized_pins_the_classic_12_percent_12_month_schedule() -> None:
    # given 1,000.00 at 12% APR over 12 months: r = 1200 / 10000 / 12 = 0.01 a month
    # level payment = 100000 * 0.01 / (1 - 1.01 ** -12) = 8884.88 -> 8885 (HALF_UP)
    # month 1: interest 100000 * 0.01 = 1000, principal 8885 - 1000 = 7885, balance 92115
    # month 2: interest 921.15 -> 921 (HALF_EVEN), principal 7964, balance 84151; and so on.
    # month 12: balance 8796, interest 87.96 -> 88, final payment 8796 + 88 = 8884 (adjusted down by 1)
    rows = amortized(principal=100000, apr_bps=1200, months=12, start=START)

    assert rows == [
        _row(dt.date(2025, 2, 15), 7885, 1000),
        _row(dt.date(2025, 3, 15), 7964, 921),
        _row(dt.date(2025, 4, 15), 8043, 842),
        _row(dt.date(2025, 5, 15), 8124, 761),
        _row(dt.date(2025, 6, 15), 8205, 680),
        _row(dt.date(2025, 7, 15), 8287, 598),
        _row(dt.date(2025, 8, 15), 8370, 515),
        _row(dt.date(2025, 9, 15), 8454, 431),
        _row(dt.date(2025, 10, 15), 8538, 347),
        _row(dt.date(2025, 11, 15), 8624, 261),
        _row(dt.date(2025, 12, 15), 8710, 175),
        _row(dt.date(2026, 1, 15), 8796, 88),
    ]
    assert [row.amount for row in rows] == [8885] * 11 + [8884]
    assert sum(row.interest for row in rows) == 6619


def test_amortized_interest_rounds_half_even() -> None:
    # given 250 at 12% over 2 months: interest 250 * 0.01 = 2.5 -> 2 (HALF_EVEN, HALF_UP would give 3)
    # level payment 250 * 0.01 / (1 - 1.01 ** -2) = 126.87 -> 127; principal 125, balance 125;
    # month 2 interest 1.25 -> 1, final payment 125 + 1 = 126
    rows = amortized(principal=250, apr_bps=1200, months=2, start=START)

    assert rows == [_row(dt.date(2025, 2, 15), 125, 2), _row(dt.date(2025, 3, 15), 125, 1)]


def test_amortized_down_payment_is_a_principal_only_row_due_at_start() -> None:
    # given 1,200.00 with 200.00 down at 0%: 1,000.00 over 3 months -> 333.34, 333.33, 333.33
    rows = amortized(principal=120000, apr_bps=0, months=3, start=START, down_payment=20000)

    assert rows == [
        _row(dt.date(2025, 1, 15), 20000, 0),
        _row(dt.date(2025, 2, 15), 33334, 0),
        _row(dt.date(2025, 3, 15), 33333, 0),
        _row(dt.date(2025, 4, 15), 33333, 0),
    ]


def test_amortized_at_zero_apr_is_an_interest_free_even_split_earliest_first() -> None:
    rows = amortized(principal=100001, apr_bps=0, months=6, start=START)

    assert [row.amount for row in rows] == [16667, 16667, 16667, 16667, 16667, 16666]
    assert all(row.interest == 0 for row in rows)


def test_amortized_due_dates_clamp_to_month_end_and_keep_the_anchor_day() -> None:
    rows = amortized(principal=40000, apr_bps=0, months=4, start=dt.date(2024, 1, 31))

    assert [row.due_date for row in rows] == [
        dt.date(2024, 2, 29),
        dt.date(2024, 3, 31),
        dt.date(2024, 4, 30),
        dt.date(2024, 5, 31),
    ]
    assert add_months(dt.date(2023, 1, 31), 1) == dt.date(2023, 2, 28)
    assert add_months(dt.date(2024, 3, 31), -1) == dt.date(2024, 2, 29)
    assert add_months(dt.date(2024, 12, 15), 1) == dt.date(2025, 1, 15)


def test_amortized_tiny_balance_with_a_rounded_up_payment_never_goes_negative() -> None:
    # given 18 minor units at 12% over 12 months: the level payment 1.599 rounds up to 2, which repays
    # the principal after 9 months; the months after are zero rows, never negative ones
    rows = amortized(principal=18, apr_bps=1200, months=12, start=START)

    assert [row.amount for row in rows] == [2] * 9 + [0] * 3
    _assert_schedule_invariants(rows, 18)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"principal": 0}, "principal must be between 1 and"),
        ({"apr_bps": -1}, f"apr_bps must be between 0 and {MAX_APR_BPS}, got -1"),
        ({"apr_bps": MAX_APR_BPS + 1}, f"apr_bps must be between 0 and {MAX_APR_BPS}"),
        ({"months": 0}, "months must be between 1 and 360, got 0"),
        ({"months": 361}, "months must be between 1 and 360, got 361"),
        ({"down_payment": 100000}, r"down_payment \(100000\) must be at least 0 and less than principal"),
        ({"down_payment": -1}, r"down_payment \(-1\) must be at least 0"),
    ],
)
def test_amortized_refuses_out_of_range_input(arguments: dict[str, int], message: str) -> None:
    values = {"principal": 100000, "apr_bps": 1200, "months": 12, **arguments}

    with pytest.raises(ValueError, match=message):
        amortized(start=START, **values)


@given(
    principal=st.integers(min_value=1, max_value=10**12),
    apr_bps=st.integers(min_value=0, max_value=MAX_APR_BPS),
    months=st.integers(min_value=1, max_value=120),
    down_share=st.integers(min_value=0, max_value=99),
    start=dates,
)
def test_amortized_repays_principal_exactly_and_nothing_is_negative(
    principal: int, apr_bps: int, months: int, down_share: int, start: dt.date
) -> None:
    down_payment = principal * down_share // 100

    rows = amortized(principal=principal, apr_bps=apr_bps, months=months, start=start, down_payment=down_payment)

    _assert_schedule_invariants(rows, principal)
    financed_rows = rows[1:] if down_payment else rows
    assert len(financed_rows) == months
    assert [row.due_date for row in financed_rows] == [add_months(start, k) for k in range(1, months + 1)]
    if apr_bps == 0:
        assert sum(row.interest for row in rows) == 0


@given(
    principal=st.integers(min_value=10_000, max_value=10**10),
    apr_bps=st.integers(min_value=1, max_value=3_600),
    months=st.integers(min_value=2, max_value=60),
)
def test_amortized_payments_are_level_but_the_last(principal: int, apr_bps: int, months: int) -> None:
    rows = amortized(principal=principal, apr_bps=apr_bps, months=months, start=START)

    # every payment but the last is the level payment; the last differs from it only by the rounding
    # (at most 1/2 on the payment and 1/2 on the interest each month) compounded at the monthly rate r
    level = rows[0].amount
    assert all(row.amount == level for row in rows[:-1])
    assert all(later.interest <= earlier.interest for earlier, later in itertools.pairwise(rows))
    monthly_rate = apr_bps / 120_000
    compounded_rounding = ((1 + monthly_rate) ** months - 1) / monthly_rate
    assert abs(rows[-1].amount - level) <= compounded_rounding + 1


# --- Re-amortization after a refund --------------------------------------------------------------------


def test_reamortize_keeping_the_payment_ends_sooner() -> None:
    # given 500.00 left at 12% and the old 88.85 payment: 1% interest a month on the balance,
    # the first new payment due on start itself
    rows = reamortize_after_principal_reduction(
        remaining_principal=50000, apr_bps=1200, remaining_months=8, start=dt.date(2025, 6, 15), keep_payment=8885
    )

    assert rows == [
        _row(dt.date(2025, 6, 15), 8385, 500),
        _row(dt.date(2025, 7, 15), 8469, 416),
        _row(dt.date(2025, 8, 15), 8554, 331),
        _row(dt.date(2025, 9, 15), 8639, 246),
        _row(dt.date(2025, 10, 15), 8725, 160),
        _row(dt.date(2025, 11, 15), 7228, 72),
    ]


def test_reamortize_without_a_kept_payment_recomputes_the_level_payment_over_the_same_term() -> None:
    rows = reamortize_after_principal_reduction(
        remaining_principal=50000, apr_bps=1200, remaining_months=8, start=dt.date(2025, 6, 15), keep_payment=None
    )

    # 50000 * 0.01 / (1 - 1.01 ** -8) = 6534.51 -> 6535
    assert [row.amount for row in rows] == [6535] * 7 + [6532]
    assert rows[0].due_date == dt.date(2025, 6, 15)
    assert rows[-1].due_date == dt.date(2026, 1, 15)
    _assert_schedule_invariants(rows, 50000)


def test_reamortize_zero_principal_left_is_no_payments() -> None:
    assert (
        reamortize_after_principal_reduction(
            remaining_principal=0, apr_bps=1200, remaining_months=3, start=START, keep_payment=8885
        )
        == []
    )


def test_reamortize_refuses_a_kept_payment_that_cannot_repay_in_the_term() -> None:
    with pytest.raises(ValueError, match=r"keep_payment \(1000\) does not repay 50000 within 3 months"):
        reamortize_after_principal_reduction(
            remaining_principal=50000, apr_bps=1200, remaining_months=3, start=START, keep_payment=1000
        )
    with pytest.raises(ValueError, match=r"keep_payment \(400\) does not cover the month's interest \(500\)"):
        reamortize_after_principal_reduction(
            remaining_principal=50000, apr_bps=1200, remaining_months=300, start=START, keep_payment=400
        )


@given(
    principal=st.integers(min_value=1_000, max_value=10**10),
    apr_bps=st.integers(min_value=0, max_value=MAX_APR_BPS),
    months=st.integers(min_value=2, max_value=60),
    paid_months=st.integers(min_value=0, max_value=59),
    refund_share=st.integers(min_value=1, max_value=99),
)
def test_reamortize_after_a_refund_keeps_the_payment_repays_exactly_and_never_runs_longer(
    principal: int, apr_bps: int, months: int, paid_months: int, refund_share: int
) -> None:
    # given a financing plan with some months paid and a refund taking principal off the rest
    rows = amortized(principal=principal, apr_bps=apr_bps, months=months, start=START)
    paid = min(paid_months, months - 1)
    remaining_principal = sum(row.principal for row in rows[paid:])
    reduced_principal = remaining_principal - remaining_principal * refund_share // 100
    keep_payment = max(row.amount for row in rows[paid:])

    # when the tail is re-amortized keeping the payment, or over the same term
    kept = reamortize_after_principal_reduction(
        remaining_principal=reduced_principal,
        apr_bps=apr_bps,
        remaining_months=months - paid,
        start=rows[paid].due_date,
        keep_payment=keep_payment,
    )
    recomputed = reamortize_after_principal_reduction(
        remaining_principal=reduced_principal,
        apr_bps=apr_bps,
        remaining_months=months - paid,
        start=rows[paid].due_date,
        keep_payment=None,
    )

    # then both repay the smaller principal exactly; the kept one never pays more a month nor runs longer
    if reduced_principal == 0:
        assert kept == recomputed == []
        return
    _assert_schedule_invariants(kept, reduced_principal)
    _assert_schedule_invariants(recomputed, reduced_principal)
    assert len(recomputed) == months - paid
    assert len(kept) <= months - paid
    assert all(row.amount <= keep_payment for row in kept)
    assert kept[0].due_date == rows[paid].due_date
