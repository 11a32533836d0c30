"""Spending limits and the counteroffer: pure functions, no database.

The limit for one application is the smallest of
* **risk**: the product's spending limit (``PaymentProduct.spending_limit_amount``, or its maximum
  amount) scaled by the score: in full up to half the cutoff, then falling in a straight line to a
  quarter of it at the cutoff (a riskier score never gets a higher limit);
* **affordability** (with bank data only): the free monthly cash flow times
  ``CREDIT_AFFORDABILITY_SHARE`` times the months the repayments spread over (nothing when the
  cash flow is negative);
rounded down to a whole unit of the currency. (The consumer's exposure limit across plans is the
policy's rule: an application over it never gets here.)

An order within the limit is approved. Above it, the rest is asked as a down payment when it is at
most ``CREDIT_MAX_DOWN_PAYMENT_SHARE`` of the order and the financed part is still one the product
takes; otherwise the application is declined for the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

LOWEST_RISK_SHARE = 0.25
FULL_LIMIT_UP_TO = 0.5  # of the cutoff


@dataclass(frozen=True)
class Limit:
    amount: int  # minor units
    binding: str  # "risk" or "affordability": what set it


@dataclass(frozen=True)
class Counteroffer:
    approved_amount: int
    down_payment_amount: int


def risk_share(*, probability: float, cutoff: float) -> float:
    """1.0 up to half the cutoff, then linearly down to LOWEST_RISK_SHARE at the cutoff."""
    knee = cutoff * FULL_LIMIT_UP_TO
    if probability <= knee:
        return 1.0
    if probability >= cutoff:
        return LOWEST_RISK_SHARE
    return 1.0 - (1.0 - LOWEST_RISK_SHARE) * (probability - knee) / (cutoff - knee)


def repayment_months(*, kind: str, installment_count: int, interval_days: int) -> int:
    """Whole months the repayments spread over (at least one)."""
    if kind == "financing":
        return max(1, installment_count)
    return max(1, round(installment_count * (interval_days or 30) / 30))


def spending_limit(
    *,
    product_limit: int,
    probability: float,
    cutoff: float,
    free_cash_flow: int | None,
    affordability_share: float,
    months: int,
    unit: int,
) -> Limit:
    candidates = [(int(product_limit * risk_share(probability=probability, cutoff=cutoff)), "risk")]
    if free_cash_flow is not None:
        candidates.append((int(max(0, free_cash_flow) * affordability_share * months), "affordability"))
    amount, binding = min(candidates, key=lambda candidate: candidate[0])
    return Limit(amount=amount // unit * unit, binding=binding)


def counteroffer(
    *, amount: int, limit: int, product_min_amount: int, max_down_payment_share: float
) -> Counteroffer | None:
    """Approved in full, approved for ``limit`` with the rest down, or None (declined)."""
    if amount <= limit:
        return Counteroffer(approved_amount=amount, down_payment_amount=0)
    down_payment = amount - limit
    if limit < product_min_amount or down_payment > amount * max_down_payment_share:
        return None
    return Counteroffer(approved_amount=limit, down_payment_amount=down_payment)
