"""Pure schedule and APR math: no database, no Django. Every amount is an ``int`` of minor units.

* ``pay_in_installments``, ``pay_later`` and ``amortized`` turn an amount into ``ScheduledPayment`` rows
  whose principals sum exactly to the amount; ``reamortize_after_principal_reduction`` redoes the tail
  of a financing plan after a refund.
* ``apr`` is the Regulation Z Appendix J actuarial APR; ``tila_disclosure`` builds the disclosure box,
  and ``apr_text`` spells the APR the one way every page, document and API shows it ('9.98').
* ``apply_refund`` takes a refund off the unpaid installments by a declared policy.

Rounding happens at named places only: an equal split puts the remainder on the earliest parts
(``RemainderRule.FIRST``); the level payment is rounded half-up to a minor unit; each month's interest
is rounded half-even to a minor unit; the final payment absorbs the difference so principal is repaid
exactly; the APR is rounded half-up to two decimals of a percent.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal, localcontext
from functools import lru_cache
from typing import Literal

from bnpl.core.money import MAX_AMOUNT, RemainderRule, allocate, split_evenly

# Sanity limits of the math, not product or legal limits (those are product settings).
MAX_APR_BPS = 36_000  # 360.00% a year, in basis points
MAX_MONTHS = 360  # 30 years of monthly payments
MAX_INSTALLMENTS = 360
MAX_INTERVAL_DAYS = 366
MAX_PAY_LATER_DAYS = 366

MONTHS_PER_YEAR = 12
DAYS_PER_MONTH_FRACTION = 30  # Appendix J (b)(5): odd days of a monthly unit-period are divided by 30
DAYS_PER_YEAR = 365  # Appendix J: odd days of a yearly unit-period, and single-payment terms in days
_PRECISION = 40  # significant digits for every Decimal computation here
_BASIS_POINTS_PER_MONTH = Decimal(10_000 * MONTHS_PER_YEAR)  # apr_bps / this = the monthly rate
_APR_QUANTUM = Decimal("0.01")
_RATE_TOLERANCE = Decimal("1e-20")  # bisection stops when the periodic-rate bracket is this narrow
_RATE_CEILING = Decimal(1_000_000)  # no periodic rate above this: the payments cannot be solved for

RefundPolicyName = Literal["last_first", "even_spread"]


class ScheduleInputError(ValueError):
    """Inputs that the schedule or APR math refuses (out of range, inconsistent)."""


@dataclass(frozen=True)
class ScheduledPayment:
    """One payment of a schedule. Invariant: ``amount == principal + interest``, none negative."""

    due_date: dt.date
    amount: int  # minor units owed on due_date
    principal: int  # minor units of that amount that repay principal
    interest: int  # minor units of that amount that are interest

    def __post_init__(self) -> None:
        if self.principal < 0 or self.interest < 0:
            raise ScheduleInputError(
                f"principal ({self.principal}) and interest ({self.interest}) must not be negative"
            )
        if self.amount != self.principal + self.interest:
            raise ScheduleInputError(
                f"amount ({self.amount}) must equal principal ({self.principal}) + interest ({self.interest})"
            )


@dataclass(frozen=True)
class DisclosedTerms:
    """The four figures of the Truth in Lending box, as disclosed to the shopper (and kept on the plan
    bought with them). Invariant: ``total_of_payments == amount_financed + finance_charge``."""

    apr: Decimal  # annual percentage rate in percent, two decimals (Decimal('9.98'))
    amount_financed: int  # minor units of credit extended (net of anything paid at consummation)
    finance_charge: int  # minor units: the cost of the credit
    total_of_payments: int  # minor units the consumer pays after consummation

    @property
    def apr_text(self) -> str:
        return apr_text(self.apr)

    @property
    def apr_basis_points(self) -> int:
        return apr_basis_points(self.apr)


@dataclass(frozen=True)
class TilaDisclosure:
    """The Truth in Lending box. Invariant: ``total_of_payments == amount_financed + finance_charge``
    and ``total_of_payments == sum(payment.amount for payment in schedule)``."""

    amount_financed: int  # minor units of credit extended (net of anything paid at consummation)
    finance_charge: int  # minor units: the cost of the credit
    total_of_payments: int  # minor units the consumer pays after consummation
    apr: Decimal  # annual percentage rate in percent, two decimals (Decimal('12.99'))
    schedule: list[ScheduledPayment]  # the payments that repay the credit, in due-date order

    @property
    def terms(self) -> DisclosedTerms:
        return DisclosedTerms(
            apr=self.apr,
            amount_financed=self.amount_financed,
            finance_charge=self.finance_charge,
            total_of_payments=self.total_of_payments,
        )


@dataclass(frozen=True)
class RefundAllocation:
    """A refund applied to unpaid installments. Invariants: ``sum(reductions) + excess == refund``;
    ``new_remaining[k] == remaining[k] - reductions[k]``; no reduction negative, no installment below zero."""

    new_remaining: list[int]  # minor units still owed per installment, in due-date order
    reductions: list[int]  # minor units taken off each installment
    excess: int  # minor units beyond everything still owed: goes back to the card


# --- Products -------------------------------------------------------------------------------------


def pay_in_installments(
    *, amount: int, count: int = 4, interval_days: int = 14, start: dt.date, first_due_at_start: bool = True
) -> list[ScheduledPayment]:
    """Interest-free installments every ``interval_days`` (pay in 4: 25% today, then every two weeks).

    Invariant: the amounts sum exactly to ``amount`` and differ by at most one minor unit; the
    remainder goes one minor unit each to the EARLIEST installments (10001 in 4 -> 2501, 2500, 2500,
    2500). The first is due on ``start`` when ``first_due_at_start``, else ``interval_days`` later.
    """
    _require_amount("amount", amount)
    _require_range("count", count, 1, MAX_INSTALLMENTS)
    _require_range("interval_days", interval_days, 1, MAX_INTERVAL_DAYS)
    if amount < count:
        raise ScheduleInputError(f"amount ({amount}) must be at least count ({count}) so no installment is zero")
    first_offset = 0 if first_due_at_start else 1
    shares = split_evenly(amount, count, remainder=RemainderRule.FIRST)
    return [
        ScheduledPayment(
            due_date=start + dt.timedelta(days=interval_days * (index + first_offset)),
            amount=share,
            principal=share,
            interest=0,
        )
        for index, share in enumerate(shares)
    ]


def pay_later(*, amount: int, days: int = 30, start: dt.date) -> list[ScheduledPayment]:
    """The whole ``amount`` in one interest-free payment ``days`` after ``start``. No rounding."""
    _require_amount("amount", amount)
    _require_range("days", days, 1, MAX_PAY_LATER_DAYS)
    return [ScheduledPayment(due_date=start + dt.timedelta(days=days), amount=amount, principal=amount, interest=0)]


def amortized(
    *, principal: int, apr_bps: int, months: int, start: dt.date, down_payment: int = 0
) -> list[ScheduledPayment]:
    """Monthly financing: an optional down payment on ``start``, then ``months`` level payments.

    * The down payment (if > 0) is a principal-only row due on ``start``.
    * Payment k (1-based) is due k months after ``start``, on start's day of the month clamped to the
      month's end (Jan 31 -> Feb 28/29 -> Mar 31).
    * With ``apr_bps == 0`` the financed amount is split evenly, the remainder on the earliest payments.
    * Otherwise the monthly rate is r = apr_bps / 10000 / 12; the level payment
      ``financed * r / (1 - (1 + r) ** -months)`` is rounded HALF_UP to a minor unit; each month's
      interest is ``balance * r`` rounded HALF_EVEN to a minor unit; the FINAL payment is the remaining
      balance plus its interest, so the principal is repaid exactly.

    Invariants: ``sum(principal) == principal``; ``sum(amount) == principal + sum(interest)``; no amount,
    principal or interest is negative. (With a level payment rounded up on a tiny balance the principal
    can be repaid before the last month; the months after are then zero rows, never negative ones.)
    """
    _require_amount("principal", principal)
    _require_range("apr_bps", apr_bps, 0, MAX_APR_BPS)
    _require_range("months", months, 1, MAX_MONTHS)
    if not 0 <= down_payment < principal:
        raise ScheduleInputError(
            f"down_payment ({down_payment}) must be at least 0 and less than principal ({principal})"
        )
    rows = []
    if down_payment:
        rows.append(ScheduledPayment(due_date=start, amount=down_payment, principal=down_payment, interest=0))
    due_dates = [add_months(start, month) for month in range(1, months + 1)]
    rows.extend(_level_payment_rows(principal=principal - down_payment, apr_bps=apr_bps, due_dates=due_dates))
    return rows


def reamortize_after_principal_reduction(
    *, remaining_principal: int, apr_bps: int, remaining_months: int, start: dt.date, keep_payment: int | None
) -> list[ScheduledPayment]:
    """The rest of a financing plan after a refund took principal off it.

    ``start`` is the due date of the FIRST payment of the new tail (the next unpaid due date); payment k
    (0-based) is due k months after it, clamped to the month's end. The balance has accrued interest for
    one month by each due date, at r = apr_bps / 10000 / 12, rounded HALF_EVEN to a minor unit.

    * ``keep_payment`` given: every payment is ``keep_payment`` until the last, which is the remaining
      balance plus its interest (at most ``keep_payment``), so the plan ends sooner, never later than
      ``remaining_months``. Raises if ``keep_payment`` cannot repay the balance in ``remaining_months``.
    * ``keep_payment`` None: a new level payment over the same ``remaining_months``, with the rounding
      rules of ``amortized``.

    Invariants: ``sum(principal) == remaining_principal``; no payment exceeds ``keep_payment`` when given;
    nothing negative. A ``remaining_principal`` of 0 gives no payments.
    """
    _require_range("remaining_principal", remaining_principal, 0, MAX_AMOUNT)
    _require_range("apr_bps", apr_bps, 0, MAX_APR_BPS)
    _require_range("remaining_months", remaining_months, 1, MAX_MONTHS)
    if remaining_principal == 0:
        return []
    due_dates = [add_months(start, month) for month in range(remaining_months)]
    if keep_payment is None:
        return _level_payment_rows(principal=remaining_principal, apr_bps=apr_bps, due_dates=due_dates)
    _require_range("keep_payment", keep_payment, 1, MAX_AMOUNT)
    return _fixed_payment_rows(
        principal=remaining_principal, apr_bps=apr_bps, due_dates=due_dates, payment=keep_payment
    )


def _level_payment_rows(*, principal: int, apr_bps: int, due_dates: Sequence[dt.date]) -> list[ScheduledPayment]:
    if apr_bps == 0:
        shares = split_evenly(principal, len(due_dates), remainder=RemainderRule.FIRST)
        return [
            ScheduledPayment(due_date=due, amount=share, principal=share, interest=0)
            for due, share in zip(due_dates, shares, strict=True)
        ]
    level_payment = _level_payment(principal=principal, apr_bps=apr_bps, months=len(due_dates))
    rows = []
    balance = principal
    *regular_dates, final_date = due_dates
    for due in regular_dates:
        interest = _monthly_interest(balance=balance, apr_bps=apr_bps)
        principal_part = min(max(level_payment - interest, 0), balance)
        rows.append(_row(due, principal_part, interest))
        balance -= principal_part
    rows.append(_row(final_date, balance, _monthly_interest(balance=balance, apr_bps=apr_bps)))
    return rows


def _row(due: dt.date, principal: int, interest: int) -> ScheduledPayment:
    return ScheduledPayment(due_date=due, amount=principal + interest, principal=principal, interest=interest)


def _fixed_payment_rows(
    *, principal: int, apr_bps: int, due_dates: Sequence[dt.date], payment: int
) -> list[ScheduledPayment]:
    rows = []
    balance = principal
    for due in due_dates:
        interest = _monthly_interest(balance=balance, apr_bps=apr_bps)
        if balance + interest <= payment:
            rows.append(_row(due, balance, interest))
            return rows
        if payment <= interest:
            raise ScheduleInputError(f"keep_payment ({payment}) does not cover the month's interest ({interest})")
        rows.append(_row(due, payment - interest, interest))
        balance -= payment - interest
    raise ScheduleInputError(
        f"keep_payment ({payment}) does not repay {principal} within {len(due_dates)} months; "
        "pass keep_payment=None to recompute the level payment"
    )


def _level_payment(*, principal: int, apr_bps: int, months: int) -> int:
    """principal * r / (1 - (1 + r) ** -months), rounded HALF_UP to a minor unit."""
    with localcontext() as context:
        context.prec = _PRECISION
        rate = Decimal(apr_bps) / _BASIS_POINTS_PER_MONTH
        exact = Decimal(principal) * rate / (1 - (1 + rate) ** -months)
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _monthly_interest(*, balance: int, apr_bps: int) -> int:
    """balance * apr_bps / 120000, rounded HALF_EVEN to a minor unit (exact rational, then rounded)."""
    with localcontext() as context:
        context.prec = _PRECISION
        exact = Decimal(balance) * Decimal(apr_bps) / _BASIS_POINTS_PER_MONTH
        return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# --- Dates ----------------------------------------------------------------------------------------


def add_months(anchor: dt.date, months: int, *, day: int | None = None) -> dt.date:
    """``anchor`` moved by ``months`` (may be negative), on ``day`` (default: anchor's day) clamped to the
    month's last day: add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)."""
    year, month_index = divmod(anchor.month - 1 + months, MONTHS_PER_YEAR)
    year += anchor.year
    month = month_index + 1
    return dt.date(year, month, min(day or anchor.day, calendar.monthrange(year, month)[1]))


def _is_on_day(value: dt.date, day: int) -> bool:
    """True when ``value`` is the ``day``th of its month, or its last day if the month is shorter."""
    return value.day == min(day, calendar.monthrange(value.year, value.month)[1])


def _nominal_day(advance_date: dt.date, due_dates: Sequence[dt.date]) -> int | None:
    """The day of the month the payments are scheduled on (Appendix J (b)(3)(iv): months run from a
    date to the same date; a series on the 29th, 30th or 31st uses the month's last day when shorter).

    The advance date's day when every payment falls on it (monthly from the advance), else the latest
    payment day when every payment falls on that, else None (no common day: each payment its own)."""
    if all(_is_on_day(due, advance_date.day) for due in due_dates):
        return advance_date.day
    latest = max(due.day for due in due_dates)
    if all(_is_on_day(due, latest) for due in due_dates):
        return latest
    return None


def _full_months_and_odd_days(advance_date: dt.date, due: dt.date, day: int) -> tuple[int, int]:
    """Appendix J (b)(5): full months counted BACK from the payment date (on ``day`` of each month),
    then the days left between the advance date and the earliest of those month-steps."""
    months = (due.year - advance_date.year) * MONTHS_PER_YEAR + due.month - advance_date.month
    if add_months(due, -months, day=day) < advance_date:
        months -= 1
    return months, (add_months(due, -months, day=day) - advance_date).days


# --- APR ------------------------------------------------------------------------------------------


def apr(*, amount_financed: int, payments: list[tuple[dt.date, int]], advance_date: dt.date) -> Decimal:
    """The annual percentage rate by the Regulation Z Appendix J actuarial method, in percent, rounded
    HALF_UP to two decimals (Decimal('12.99')).

    Solves ``amount_financed = sum(P / ((1 + f * i) * (1 + i) ** t))`` for the periodic rate i by
    bisection on Decimal (bracket narrower than 1e-20), and returns ``12 * i`` as a percent. The unit
    period is a month: t is the number of full months counted back from each payment date to the
    advance date, f the odd days left divided by 30 (long and short first periods alike).

    A single payment (single advance, single payment: Appendix J (b)(4)) takes its term as the unit
    period: for a term of at most a year, APR = (payment / amount_financed - 1) * (12 / months) when the
    term is whole months, else * (365 / days); a longer term uses a yearly unit period, odd days / 365.

    Payments due on the advance date count at face value (t = 0). No finance charge gives 0.00.

    A pure function of its arguments, and the bisection costs about 2 ms of CPU for a year of monthly
    payments, while the same schedule is disclosed several times over (the session's offers in the
    API, the checkout page, the confirm): each answer is kept per process (``_apr``).
    """
    return _apr(amount_financed, tuple(payments), advance_date)


@lru_cache(maxsize=4096)
def _apr(amount_financed: int, payments: tuple[tuple[dt.date, int], ...], advance_date: dt.date) -> Decimal:
    """``apr``'s answer, kept (errors are raised again each time: they are not kept)."""
    _require_amount("amount_financed", amount_financed)
    if not payments:
        raise ScheduleInputError("payments must not be empty")
    for due, amount in payments:
        if due < advance_date:
            raise ScheduleInputError(f"payment due {due} is before the advance date {advance_date}")
        _require_range("payment amount", amount, 0, MAX_AMOUNT)
    finance_charge = sum(amount for _, amount in payments) - amount_financed
    if finance_charge < 0:
        raise ScheduleInputError(
            f"payments total less than amount_financed ({amount_financed}): the finance charge would be negative"
        )
    if finance_charge == 0:
        return Decimal(0).quantize(_APR_QUANTUM)
    net_financed = amount_financed - sum(amount for due, amount in payments if due == advance_date)
    later = [(due, amount) for due, amount in payments if due > advance_date and amount > 0]
    if net_financed <= 0 or not later:
        raise ScheduleInputError("a finance charge needs credit outstanding after the advance date")
    with localcontext() as context:
        context.prec = _PRECISION
        if len(later) == 1:
            annual_rate = _single_payment_annual_rate(net_financed, later[0], advance_date)
        else:
            annual_rate = _monthly_unit_period_annual_rate(net_financed, later, advance_date)
        return (annual_rate * 100).quantize(_APR_QUANTUM, rounding=ROUND_HALF_UP)


def apr_text(annual_percentage_rate: Decimal) -> str:
    """The APR as it is disclosed: percent with exactly two decimals and a point, no sign, no
    exponent ('9.98', '0.00'). The one spelling the hosted checkout, the partner API, the credit
    agreement and on-site messaging share, so the shopper and the merchant read the same string."""
    return format(annual_percentage_rate.quantize(_APR_QUANTUM, rounding=ROUND_HALF_UP), "f")


def apr_basis_points(annual_percentage_rate: Decimal) -> int:
    """The disclosed APR in basis points (Decimal('9.98') -> 998): exact, as the APR has two decimals."""
    return int(annual_percentage_rate.quantize(_APR_QUANTUM, rounding=ROUND_HALF_UP) * 100)


def _monthly_unit_period_annual_rate(
    amount_financed: int, payments: Sequence[tuple[dt.date, int]], advance_date: dt.date
) -> Decimal:
    common_day = _nominal_day(advance_date, [due for due, _ in payments])
    flows = []
    for due, amount in payments:
        full_months, odd_days = _full_months_and_odd_days(advance_date, due, common_day or due.day)
        flows.append((Decimal(amount), full_months, Decimal(odd_days) / DAYS_PER_MONTH_FRACTION))
    return _solve_periodic_rate(Decimal(amount_financed), flows) * MONTHS_PER_YEAR


def _single_payment_annual_rate(amount_financed: int, payment: tuple[dt.date, int], advance_date: dt.date) -> Decimal:
    due, amount = payment
    day = _nominal_day(advance_date, [due]) or due.day
    full_months, odd_days = _full_months_and_odd_days(advance_date, due, day)
    term_rate = Decimal(amount) / Decimal(amount_financed) - 1
    if full_months <= MONTHS_PER_YEAR and odd_days == 0:
        return term_rate * MONTHS_PER_YEAR / full_months
    if full_months < MONTHS_PER_YEAR:
        return term_rate * DAYS_PER_YEAR / (due - advance_date).days
    years = full_months // MONTHS_PER_YEAR
    odd_days_in_year = (add_months(due, -years * MONTHS_PER_YEAR, day=day) - advance_date).days
    flows = [(Decimal(amount), years, Decimal(odd_days_in_year) / DAYS_PER_YEAR)]
    return _solve_periodic_rate(Decimal(amount_financed), flows)


def _solve_periodic_rate(amount_financed: Decimal, flows: Sequence[tuple[Decimal, int, Decimal]]) -> Decimal:
    """The rate i >= 0 with amount_financed == sum(P / ((1 + f*i) * (1 + i)**t)), by bisection.

    The present value falls strictly as i grows (every P > 0, every t + f > 0), so the root is unique;
    the caller guarantees sum(P) > amount_financed, so it is positive."""

    def present_value(rate: Decimal) -> Decimal:
        return sum(
            (payment / ((1 + fraction * rate) * (1 + rate) ** periods) for payment, periods, fraction in flows),
            Decimal(0),
        )

    low, high = Decimal(0), Decimal("0.05")
    while present_value(high) > amount_financed:
        low, high = high, high * 2
        if high > _RATE_CEILING:
            raise ScheduleInputError("the payments imply no finite rate")
    return _bisect(present_value, amount_financed, low, high)


def _bisect(function: Callable[[Decimal], Decimal], target: Decimal, low: Decimal, high: Decimal) -> Decimal:
    """Narrow [low, high] around the x where the decreasing ``function`` crosses ``target``."""
    while high - low > _RATE_TOLERANCE:
        middle = (low + high) / 2
        if function(middle) > target:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def with_down_payment(rows: list[ScheduledPayment], *, down_payment: int, start: dt.date) -> list[ScheduledPayment]:
    """``rows`` with ``down_payment`` (principal) due on ``start``: added to a payment already due
    that day (pay in 4's first), else a payment of its own before the others."""
    _require_range("down_payment", down_payment, 0, MAX_AMOUNT)
    if not down_payment:
        return rows
    if rows and rows[0].due_date == start:
        first = rows[0]
        merged = ScheduledPayment(
            due_date=start,
            amount=first.amount + down_payment,
            principal=first.principal + down_payment,
            interest=first.interest,
        )
        return [merged, *rows[1:]]
    return [ScheduledPayment(due_date=start, amount=down_payment, principal=down_payment, interest=0), *rows]


def tila_disclosure(*, schedule: list[ScheduledPayment], amount_financed: int, advance_date: dt.date) -> TilaDisclosure:
    """The Truth in Lending disclosure of ``schedule`` for credit advanced on ``advance_date``.

    ``amount_financed`` is what the schedule repays as of the advance date. Payments due ON the advance
    date (a financing down payment, pay in 4's first installment) are paid at consummation: they are
    netted out of the disclosed amount financed and left out of the total of payments and the payment
    schedule, as Regulation Z treats a down payment. The APR is the same either way.

    finance_charge = total_of_payments - disclosed amount_financed (must not be negative).
    """
    _require_amount("amount_financed", amount_financed)
    if any(payment.due_date < advance_date for payment in schedule):
        raise ScheduleInputError(f"the schedule has a payment due before the advance date {advance_date}")
    paid_at_consummation = sum(payment.amount for payment in schedule if payment.due_date == advance_date)
    credit_schedule = [payment for payment in schedule if payment.due_date > advance_date]
    total_of_payments = sum(payment.amount for payment in credit_schedule)
    financed = amount_financed - paid_at_consummation
    finance_charge = total_of_payments - financed
    if financed < 0:
        raise ScheduleInputError(
            f"the payments due on the advance date ({paid_at_consummation}) exceed amount_financed ({amount_financed})"
        )
    if finance_charge < 0:
        raise ScheduleInputError(
            f"the schedule ({paid_at_consummation + total_of_payments}) repays less than "
            f"amount_financed ({amount_financed})"
        )
    annual_percentage_rate = (
        apr(
            amount_financed=financed,
            payments=[(payment.due_date, payment.amount) for payment in credit_schedule],
            advance_date=advance_date,
        )
        if financed
        else Decimal(0).quantize(_APR_QUANTUM)
    )
    return TilaDisclosure(
        amount_financed=financed,
        finance_charge=finance_charge,
        total_of_payments=total_of_payments,
        apr=annual_percentage_rate,
        schedule=credit_schedule,
    )


# --- Refunds --------------------------------------------------------------------------------------


def apply_refund(*, remaining: list[int], refund: int, policy: RefundPolicyName) -> RefundAllocation:
    """Take ``refund`` off the unpaid amounts ``remaining`` (future installments in due-date order).

    * ``last_first`` (Afterpay, Affirm): empty the last installment, then the one before, and so on.
    * ``even_spread`` (Klarna): the same reduction off every installment still owing something, as
      ``allocate`` with equal weights splits it (the odd minor units go to the EARLIEST ones); an
      installment owing less than its share is emptied and what it could not take is spread over the
      others, so every installment left owing something is reduced alike, give or take one minor unit.

    Whatever exceeds ``sum(remaining)`` is ``excess`` and goes back to the card, so ``excess > 0`` only
    when ``refund > sum(remaining)``. Invariants: ``sum(reductions) + excess == refund``; no installment
    increases; none goes below zero.
    """
    _require_range("refund", refund, 0, MAX_AMOUNT)
    if any(amount < 0 for amount in remaining):
        raise ScheduleInputError(f"remaining amounts must not be negative: {remaining}")
    applied = min(refund, sum(remaining))
    if policy == "last_first":
        reductions = _reduce_last_first(remaining, applied)
    elif policy == "even_spread":
        reductions = _reduce_evenly(remaining, applied)
    else:
        raise ScheduleInputError(f"unknown refund policy {policy!r}; expected 'last_first' or 'even_spread'")
    return RefundAllocation(
        new_remaining=[amount - reduction for amount, reduction in zip(remaining, reductions, strict=True)],
        reductions=reductions,
        excess=refund - applied,
    )


def _reduce_last_first(remaining: Sequence[int], amount: int) -> list[int]:
    reductions = [0] * len(remaining)
    for index in reversed(range(len(remaining))):
        reductions[index] = min(remaining[index], amount)
        amount -= reductions[index]
    return reductions


def _reduce_evenly(remaining: Sequence[int], amount: int) -> list[int]:
    """Water-filling: the highest whole ``level`` with sum(min(owed, level)) <= amount takes ``level`` off
    every installment (or all it owes, if less); the minor units left over, fewer than the installments
    still owing more than ``level``, go one each to the earliest of those by ``allocate``. Without caps
    this is exactly ``allocate(amount, [1] * len(remaining))``."""
    low, high = 0, max(remaining, default=0)
    while low < high:
        middle = (low + high + 1) // 2
        if sum(min(owed, middle) for owed in remaining) <= amount:
            low = middle
        else:
            high = middle - 1
    reductions = [min(owed, low) for owed in remaining]
    left_over = amount - sum(reductions)
    if left_over == 0:
        return reductions
    extras = allocate(left_over, [1 if owed > low else 0 for owed in remaining], remainder=RemainderRule.FIRST)
    return [reduction + extra for reduction, extra in zip(reductions, extras, strict=True)]


# --- Validation -----------------------------------------------------------------------------------


def _require_amount(name: str, value: int) -> None:
    _require_range(name, value, 1, MAX_AMOUNT)


def _require_range(name: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScheduleInputError(f"{name} must be an int of minor units or a count, not {value!r}")
    if not low <= value <= high:
        raise ScheduleInputError(f"{name} must be between {low} and {high}, got {value}")
