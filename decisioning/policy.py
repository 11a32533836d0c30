"""The rules policy: the credit decision until the model lands, and the policy layer around it after.

Rules, in the order a decline states them (each is a real factor, never a checklist filler):
1. ``identity_unverified`` — KYC basics are missing.
2. ``under_age`` — younger than 18 on the day of the decision.
3. ``plan_in_arrears`` — another plan has an installment past due and unpaid.
4. ``exposure_limit`` — what the consumer would owe across active plans in this currency exceeds the
   per-consumer limit (``CONSUMER_EXPOSURE_LIMIT_MAJOR``, in major units of the currency).
5. ``amount_out_of_range`` — the order is outside the product's minimum and maximum.
6. ``bank_account_events`` — the consumer's bank data shows ``CREDIT_BANK_EVENTS_LIMIT`` or more
   payments returned for insufficient funds or overdrafts in the last three months. The bank data is
   the one this decision may use: what the merchant deciding shared, and what other sources shared
   under a consent the consumer widened to all their decisions (``decisioning.bank_data``).

Feature building (``features_for``) reads the database, in one query (``decisioning.inputs``);
``features_from`` and the rules (``evaluate``) are pure.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from django.conf import settings

from bnpl.core.money import exponent
from decisioning.cashflow import CashFlowFeatures

if TYPE_CHECKING:
    from decisioning.inputs import Situation

POLICY_VERSION = "rules-2026.11.2"
ADULT_AGE = 18

REASON_TEXT = {
    "identity_unverified": "We could not verify your identity from the details given.",
    "under_age": "You must be 18 or older to use pay later.",
    "plan_in_arrears": "You have a payment past due on another plan.",
    "exposure_limit": "This purchase would take you over your spending limit.",
    "amount_out_of_range": "This amount is outside what this payment option allows.",
    "bank_account_events": "Your bank account has recently had payments returned or gone overdrawn.",
}


@dataclass(frozen=True)
class Reason:
    code: str
    text: str


@dataclass(frozen=True)
class Features:
    identity_verified: bool
    age: int | None
    plans_in_arrears: int
    installments_past_due: int
    outstanding_amount: int  # minor units owed across active plans in this currency
    exposure_limit_amount: int  # minor units
    amount: int
    product_min_amount: int
    product_max_amount: int
    bank_events_limit: int
    cash_flow: CashFlowFeatures | None = None  # None: no fresh bank data this decision may use
    cash_flow_consents: tuple[str, ...] = ()  # the consents (bdc_…) whose data ``cash_flow`` came from


@dataclass(frozen=True)
class Application:
    consumer: Any  # consumers.Consumer
    merchant: Any  # merchants.Merchant
    product: Any  # plans.PaymentProduct
    amount: int  # minor units
    currency: str
    livemode: bool
    checkout_session: Any = None


@dataclass(frozen=True)
class Decision:
    approved: bool
    reasons: tuple[Reason, ...] = field(default=())
    referred: bool = False  # neither approved nor declined yet: a person reviews it
    down_payment_amount: int = 0  # approved for less: this much more is due today (reasons say why)
    policy_version: str = POLICY_VERSION
    decision_id: str = ""  # public id of the stored CreditDecision


def evaluate(features: Features) -> tuple[Reason, ...]:
    """Every rule that fails, principal reasons first. Empty means approve."""
    failed = []
    if not features.identity_verified:
        failed.append("identity_unverified")
    if features.age is not None and features.age < ADULT_AGE:
        failed.append("under_age")
    if features.plans_in_arrears > 0:
        failed.append("plan_in_arrears")
    if features.outstanding_amount + features.amount > features.exposure_limit_amount:
        failed.append("exposure_limit")
    if not features.product_min_amount <= features.amount <= features.product_max_amount:
        failed.append("amount_out_of_range")
    if features.cash_flow is not None and features.cash_flow.nsf_overdraft_events >= features.bank_events_limit:
        failed.append("bank_account_events")
    return tuple(Reason(code=code, text=REASON_TEXT[code]) for code in failed)


def features_for(application: Application) -> Features:
    """The policy's features for ``application``, read from the database (one query)."""
    from decisioning.inputs import situation_read

    return features_from(application, situation_read(application=application))


def features_from(application: Application, situation: Situation) -> Features:
    return Features(
        identity_verified=situation.identity_verified,
        age=situation.age,
        plans_in_arrears=situation.plans_in_arrears,
        installments_past_due=situation.installments_past_due,
        outstanding_amount=situation.outstanding_amount,
        exposure_limit_amount=settings.CONSUMER_EXPOSURE_LIMIT_MAJOR * 10 ** exponent(application.currency),
        amount=application.amount,
        product_min_amount=application.product.min_amount,
        product_max_amount=application.product.max_amount,
        bank_events_limit=settings.CREDIT_BANK_EVENTS_LIMIT,
        cash_flow=situation.cash_flow,
        cash_flow_consents=situation.cash_flow_consents,
    )


def features_as_dict(features: Features) -> dict[str, Any]:
    """The policy's features for the decision record (the cash flow is recorded on its own; the
    consents it came from are listed here)."""
    return {
        key: (value.isoformat() if isinstance(value, dt.date) else list(value) if isinstance(value, tuple) else value)
        for key, value in ((recorded.name, getattr(features, recorded.name)) for recorded in _RECORDED_FEATURES)
    }


_RECORDED_FEATURES = tuple(recorded for recorded in fields(Features) if recorded.name != "cash_flow")
