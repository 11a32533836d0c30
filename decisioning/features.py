"""Model features, built by pure functions from the application, the bureau report and the
consumer's history on the platform. No protected characteristic (age, sex, marital status, family
status…) is ever an input.

How the platform's own data fills the bureau-style slots (documented in docs/credit-model.md):
* past-due counts: the bureau's, plus the consumer's installments on the platform now past due
  (each counts as a 30-59-day lateness);
* debt ratio: the bureau's, plus what the consumer already owes here and this order, spread over
  a year of their monthly income;
* bank cash flow (when the consumer's bank data is fresh): the income the bank account shows is
  verified, so it replaces the bureau's stated monthly income; the repayments it shows over that
  income stand in for a debt ratio the bureau does not know;
* everything unknown stays unknown (NaN): the model learned where missing values go.
"""

from __future__ import annotations

from dataclasses import dataclass

from decisioning.bureau import BureauReport
from decisioning.cashflow import CashFlowFeatures

MODEL_FEATURES = (
    "RevolvingUtilizationOfUnsecuredLines",
    "NumberOfTime30-59DaysPastDueNotWorse",
    "NumberOfTime60-89DaysPastDueNotWorse",
    "NumberOfTimes90DaysLate",
    "DebtRatio",
    "MonthlyIncome",
    "NumberOfOpenCreditLinesAndLoans",
    "NumberRealEstateLoansOrLines",
)


@dataclass(frozen=True)
class PlatformHistory:
    installments_past_due: int  # scheduled, unpaid, due before today
    outstanding_amount_major: float  # owed across active plans in the order's currency, major units


def model_features(
    *,
    bureau: BureauReport,
    history: PlatformHistory,
    amount_major: float,
    cash_flow: CashFlowFeatures | None = None,
    minor_per_major: int = 100,
) -> dict[str, float | None]:
    income = bureau.monthly_income
    debt_ratio = bureau.debt_ratio
    if cash_flow is not None and cash_flow.monthly_income > 0:
        income = cash_flow.monthly_income / minor_per_major
        if debt_ratio is None:
            debt_ratio = cash_flow.debt_to_income
    if debt_ratio is not None and income:
        debt_ratio = debt_ratio + (history.outstanding_amount_major + amount_major) / 12 / income
    late_30_59 = None if bureau.late_30_59_count is None else bureau.late_30_59_count + history.installments_past_due
    return {
        "RevolvingUtilizationOfUnsecuredLines": bureau.revolving_utilization,
        "NumberOfTime30-59DaysPastDueNotWorse": late_30_59,
        "NumberOfTime60-89DaysPastDueNotWorse": bureau.late_60_89_count,
        "NumberOfTimes90DaysLate": bureau.late_90_plus_count,
        "DebtRatio": None if debt_ratio is None else round(debt_ratio, 6),
        "MonthlyIncome": income,
        "NumberOfOpenCreditLinesAndLoans": bureau.open_credit_lines,
        "NumberRealEstateLoansOrLines": bureau.real_estate_loans,
    }
