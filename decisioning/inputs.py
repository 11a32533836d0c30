"""What one credit decision reads, in one query: the consumer's identity basics, what they owe on
the platform and what is past due, the bank cash flow the decision may use, an approved referral of
this very application, and which model versions are champion and challenger now.

One round trip, whatever the consumer's history (each part reads through an index on the consumer,
the session or the model name). The champion's id is read here on every decision, so a promotion in
any process is seen by the next decision in every process (``decisioning.scoring`` then loads the
new artifact once).

The SQL is written out, not built by the ORM, because building it is the larger part of its cost
(milliseconds against tens of microseconds to run). The tables and columns are the models' own;
``tests/decisioning/test_decision_inputs.py`` holds it to the ORM reads it replaces
(``bank_data.cash_flow_for`` among them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection

from bnpl.core import clock, prepared
from bnpl.plans.schedule import add_months
from decisioning.bank_data import MONTH_TOTALS_COLUMNS
from decisioning.cashflow import (
    STALE_AFTER_MONTHS,
    WINDOW_MONTHS,
    CashFlowFeatures,
    MonthTotals,
    cash_flow_features,
    merge_months,
)


@dataclass(frozen=True)
class Situation:
    """The consumer's situation as one decision reads it (see the module's docstring)."""

    identity_verified: bool
    age: int | None  # None: no identity on file
    plans_in_arrears: int
    installments_past_due: int
    outstanding_amount: int  # minor units owed across active plans in the application's currency
    cash_flow: CashFlowFeatures | None  # None: no fresh bank data this decision may use
    cash_flow_consents: tuple[str, ...]  # the consents (bdc_…) ``cash_flow`` came from
    reviewed_decision_id: str | None  # dec_… of an approved referral of this very application
    champion_pk: int | None  # ModelVersion ids in service now (None: none)
    challenger_pk: int | None


# The month, then each MonthTotals counter's column (bank_data keeps that mapping).
_MONTH_COLUMNS = ("month", *MONTH_TOTALS_COLUMNS.values())

# One row per month of usable bank data (at least one row: the consumer's own, the month columns
# NULL without bank data). The scalar parts repeat on every row; the database computes them once.
# Only constants are interpolated: every value is a parameter.
_SQL = f"""
SELECT
    identity.verified_at IS NOT NULL,
    identity.date_of_birth,
    totals.outstanding,
    totals.past_due,
    totals.in_arrears,
    (SELECT reviewed.public_id FROM decisioning_creditdecision AS reviewed
      WHERE reviewed.checkout_session_id = %(session)s AND reviewed.consumer_id = %(consumer)s
        AND reviewed.amount = %(amount)s AND reviewed.product_kind = %(product_kind)s
        AND reviewed.outcome = 'referred' AND reviewed.review_status = 'approved'
      ORDER BY reviewed.created_at DESC LIMIT 1),
    (SELECT model.id FROM decisioning_modelversion AS model
      WHERE model.name = %(model_name)s AND model.status = 'champion'),
    (SELECT model.id FROM decisioning_modelversion AS model
      WHERE model.name = %(model_name)s AND model.status = 'challenger'),
    usable.consent_public_id,
    {", ".join(f"usable.{column}" for column in _MONTH_COLUMNS)}
FROM consumers_consumer AS consumer
LEFT JOIN consumers_identity AS identity ON identity.consumer_id = consumer.id
CROSS JOIN (
    SELECT
        SUM(CASE WHEN plan.currency = %(currency)s THEN installment.amount - installment.paid_amount END)
            AS outstanding,
        COUNT(CASE WHEN installment.due_date < %(today)s THEN 1 END) AS past_due,
        COUNT(DISTINCT CASE WHEN installment.due_date < %(today)s THEN installment.plan_id END) AS in_arrears
    FROM plans_installment AS installment
    JOIN plans_plan AS plan ON plan.id = installment.plan_id
    WHERE plan.consumer_id = %(consumer)s AND plan.livemode = %(livemode)s AND installment.status = 'scheduled'
) AS totals
LEFT JOIN (
    SELECT consent.public_id AS consent_public_id, {", ".join(f"cash_flow.{column}" for column in _MONTH_COLUMNS)}
    FROM decisioning_cashflowmonth AS cash_flow
    JOIN decisioning_bankdataconsent AS consent ON consent.id = cash_flow.consent_id
    JOIN decisioning_datasource AS source ON source.id = consent.source_id
    WHERE consent.consumer_id = %(consumer)s AND consent.livemode = %(livemode)s
      AND consent.revoked_at IS NULL AND consent.granted_at <= %(now)s
      AND (consent.expires_at IS NULL OR consent.expires_at > %(now)s)
      AND (source.merchant_id = %(merchant)s OR consent.scope = 'all_decisions')
      AND cash_flow.currency = %(currency)s AND cash_flow.month >= %(earliest_month)s
) AS usable ON 1 = 1
WHERE consumer.id = %(consumer)s
"""  # noqa: S608  # nosec B608


def situation_read(*, application: Any) -> Situation:
    """The consumer's situation for ``application`` (a ``decisioning.policy.Application``)."""
    now = clock.now()
    today = now.date()
    operations = connection.ops
    params = {
        "consumer": application.consumer.pk,
        "merchant": application.merchant.pk,
        "livemode": application.livemode,
        "currency": application.currency,
        "amount": application.amount,
        "product_kind": application.product.kind,
        "session": application.checkout_session.pk if application.checkout_session is not None else None,
        "model_name": settings.CREDIT_MODEL_NAME,
        "now": operations.adapt_datetimefield_value(now),
        "today": operations.adapt_datefield_value(today),
        "earliest_month": operations.adapt_datefield_value(
            add_months(today.replace(day=1), -(WINDOW_MONTHS + STALE_AFTER_MONTHS))
        ),
    }
    with connection.cursor() as cursor:
        if not prepared.execute(cursor, _SQL, params, types=_PARAMETERS):
            cursor.execute(_SQL, params)
        rows = cursor.fetchall()
    verified, born, outstanding, past_due, in_arrears, reviewed, champion, challenger = rows[0][:8]
    months = [(row[8], _month_totals(row)) for row in rows if row[8] is not None]
    cash_flow = cash_flow_features(merge_months([totals for _, totals in months]), today=today)
    return Situation(
        identity_verified=bool(verified),
        age=None if born is None else age_on(_date(born), today),
        plans_in_arrears=int(in_arrears),
        installments_past_due=int(past_due),
        outstanding_amount=int(outstanding or 0),
        cash_flow=cash_flow,
        cash_flow_consents=() if cash_flow is None else tuple(sorted({consent for consent, _ in months})),
        reviewed_decision_id=reviewed,
        champion_pk=champion,
        challenger_pk=challenger,
    )


# On PostgreSQL, outside a transaction, the query runs as a statement prepared once per connection
# (``bnpl.core.prepared``): planning it costs several times what running it does.
_PARAMETERS = {
    "consumer": "bigint",
    "merchant": "bigint",
    "livemode": "boolean",
    "currency": "text",
    "amount": "bigint",
    "product_kind": "text",
    "session": "bigint",
    "model_name": "text",
    "now": "timestamptz",
    "today": "date",
    "earliest_month": "date",
}


def _month_totals(row: tuple[Any, ...]) -> MonthTotals:
    counters = {name: int(value) for name, value in zip(MONTH_TOTALS_COLUMNS, row[10:], strict=True)}
    return MonthTotals(month=_date(row[9]), **counters)


def age_on(born: dt.date, day: dt.date) -> int:
    """Whole years from ``born`` to ``day`` (``consumers.models.Identity.age_on`` without a row)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _date(value: dt.date | str) -> dt.date:
    """A DATE column's value (SQLite hands back its ISO text)."""
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)
