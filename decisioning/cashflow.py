"""Bank cash-flow features: pure functions from a consumer's monthly cash-flow totals (kept up to
date by ``decisioning.bank_data`` as transactions stream in, one set per source and consent, and
added up with ``merge_months`` over the sources a decision may use) to what a credit decision uses.

The window: the six calendar months ending with the latest month that has data, starting no earlier
than the first month with data. Data whose latest month is more than two months before today's is
stale and ignored (the consumer is treated as having no bank data). Months in the window with no
transactions count as zero. Amounts are integer minor units; ratios are floats rounded to 4 places.

* ``monthly_income``: income received per month, on average (floor).
* ``income_regularity``: 1 - the coefficient of variation of the monthly income, clamped to 0..1
  (1: the same pay every month; 0: no income, or income too irregular to count on).
* ``average_balance``: the mean of the balances the bank reported after each transaction.
* ``net_flow_volatility``: the standard deviation of the monthly net flow (in - out) over the mean
  monthly inflow (None with no inflow).
* ``nsf_overdraft_events``: payments returned for insufficient funds, overdraft fees and balances
  below zero in the last three months of the window.
* ``debt_to_income``: debt repayments over income (None with no income).
* ``free_cash_flow``: what is left each month after all spending, on average (floor; may be negative).
"""

from __future__ import annotations

import datetime as dt
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

WINDOW_MONTHS = 6
RECENT_EVENT_MONTHS = 3
STALE_AFTER_MONTHS = 2


@dataclass(frozen=True)
class MonthTotals:
    month: dt.date  # first day of the month
    inflow: int = 0
    outflow: int = 0  # positive
    income: int = 0
    debt_payments: int = 0  # positive
    nsf: int = 0
    overdrafts: int = 0
    transactions: int = 0
    balance_sum: int = 0
    balance_count: int = 0


@dataclass(frozen=True)
class CashFlowFeatures:
    months_observed: int
    monthly_income: int
    income_regularity: float
    average_balance: int | None
    net_flow_volatility: float | None
    nsf_overdraft_events: int
    debt_to_income: float | None
    free_cash_flow: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def month_index(day: dt.date) -> int:
    return day.year * 12 + day.month - 1


def month_start(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


def cash_flow_features(months: Sequence[MonthTotals], *, today: dt.date) -> CashFlowFeatures | None:
    """The features over the window, or None without usable (present and fresh) bank data."""
    by_index = {month_index(totals.month): totals for totals in months if totals.transactions}
    if not by_index:
        return None
    latest = max(by_index)
    if latest > month_index(today) or month_index(today) - latest > STALE_AFTER_MONTHS:
        return None  # from the future (a bad clock somewhere) or stale
    first = max(min(by_index), latest - WINDOW_MONTHS + 1)
    window = [
        by_index.get(index, MonthTotals(month=dt.date(index // 12, index % 12 + 1, 1)))
        for index in range(first, latest + 1)
    ]
    count = len(window)
    incomes = [totals.income for totals in window]
    inflows = sum(totals.inflow for totals in window)
    income_total = sum(incomes)
    mean_income = income_total / count
    regularity = 0.0 if mean_income <= 0 else max(0.0, 1.0 - population_deviation(incomes) / mean_income)
    nets = [totals.inflow - totals.outflow for totals in window]
    balance_count = sum(totals.balance_count for totals in window)
    return CashFlowFeatures(
        months_observed=count,
        monthly_income=income_total // count,
        income_regularity=round(min(regularity, 1.0), 4),
        average_balance=None
        if balance_count == 0
        else round(sum(totals.balance_sum for totals in window) / balance_count),
        net_flow_volatility=None if inflows <= 0 else round(population_deviation(nets) / (inflows / count), 4),
        nsf_overdraft_events=sum(totals.nsf + totals.overdrafts for totals in window[-RECENT_EVENT_MONTHS:]),
        debt_to_income=None
        if income_total <= 0
        else round(sum(totals.debt_payments for totals in window) / income_total, 4),
        free_cash_flow=sum(nets) // count,
    )


def population_deviation(values: Sequence[int]) -> float:
    """``statistics.pstdev`` of whole numbers, to the same float, without its exact fractions (a
    decision computes two): the square root, correctly rounded, of the exact variance
    (n·Σx² - (Σx)²) / n², as ``statistics`` rounds it (round-to-odd at twice a float's precision
    plus three bits, then one rounding to float)."""
    count = len(values)
    if count < 1:
        raise ValueError("a deviation needs at least one value")
    total = sum(values)
    numerator, denominator = count * sum(value * value for value in values) - total * total, count * count
    shift = (numerator.bit_length() - denominator.bit_length() - _SQRT_BIT_WIDTH) // 2
    if shift >= 0:
        return (_isqrt_round_to_odd(numerator, denominator << 2 * shift) << shift) / 1
    return _isqrt_round_to_odd(numerator << -2 * shift, denominator) / (1 << -shift)


_SQRT_BIT_WIDTH = 2 * sys.float_info.mant_dig + 3


def _isqrt_round_to_odd(numerator: int, denominator: int) -> int:
    root = math.isqrt(numerator // denominator)
    return root | (root * root * denominator != numerator)


def merge_months(months: Sequence[MonthTotals]) -> list[MonthTotals]:
    """One total per month from the totals of several sources, in month order. Sources are added
    up: the same account sent by two sources counts twice (nothing says two sources' accounts are
    the same one)."""
    merged: dict[dt.date, dict[str, int]] = {}
    for totals in months:
        sums = merged.setdefault(totals.month, dict.fromkeys(_COUNTERS, 0))
        for name in _COUNTERS:
            sums[name] += getattr(totals, name)
    return [MonthTotals(month=month, **sums) for month, sums in sorted(merged.items())]


@dataclass(frozen=True)
class Transaction:
    """A bank transaction as the aggregation sees it."""

    booked_on: dt.date
    amount: int  # positive in, negative out
    currency: str
    category: str  # decisioning.models.BankTransaction.Category values
    balance_after: int | None = None


def monthly_totals(transactions: Sequence[Transaction]) -> dict[tuple[str, dt.date], MonthTotals]:
    """What ``transactions`` add to each (currency, month). Transfers between the consumer's own
    accounts count as transactions and balances, not as money in or out. An overdraft event is an
    overdraft fee, or a transaction (other than a fee, which is its own event) that took the balance
    from zero or more to below zero."""
    sums: dict[tuple[str, dt.date], dict[str, int]] = {}
    for txn in transactions:
        key = (txn.currency, txn.booked_on.replace(day=1))
        totals = sums.setdefault(key, dict.fromkeys(_COUNTERS, 0))
        totals["transactions"] += 1
        if txn.category != "transfer":
            totals["inflow" if txn.amount > 0 else "outflow"] += abs(txn.amount)
        if txn.category == "income":
            totals["income"] += txn.amount
        elif txn.category == "debt_payment":
            totals["debt_payments"] -= txn.amount
        elif txn.category == "nsf_fee":
            totals["nsf"] += 1
        elif txn.category == "overdraft_fee":
            totals["overdrafts"] += 1
        if txn.balance_after is not None:
            totals["balance_sum"] += txn.balance_after
            totals["balance_count"] += 1
            is_fee = txn.category in {"overdraft_fee", "nsf_fee"}  # the fee is the event already
            if not is_fee and txn.balance_after < 0 <= txn.balance_after - txn.amount:
                totals["overdrafts"] += 1
    return {key: MonthTotals(month=key[1], **totals) for key, totals in sums.items()}


_COUNTERS = (
    "inflow",
    "outflow",
    "income",
    "debt_payments",
    "nsf",
    "overdrafts",
    "transactions",
    "balance_sum",
    "balance_count",
)
