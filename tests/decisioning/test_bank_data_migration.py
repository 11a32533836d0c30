"""The migrations that attribute bank data to its source (decisioning 0006) and keep merchant links
for purchasers only (consumers 0006), run on rows made the old way: every row keeps the merchant that
sent it, consents cover their source's decisions only, the monthly totals are rebuilt per consent
from the transactions kept, and links without a purchase are gone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from bnpl.core import clock
from bnpl.core.ids import generate_public_id
from consumers.models import MerchantConsumer
from decisioning import bank_data
from decisioning.cashflow import MonthTotals, Transaction, monthly_totals
from decisioning.models import BankDataConsent, BankTransaction, CashFlowMonth, DataSource
from tests.bnpl.checkout.factories import make_authorized_order
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [
    ("decisioning", "0005_bank_data_and_limits"),
    ("consumers", "0005_reminders"),
    ("checkout", "0005_disputes_and_pauses"),
]


def _old_link(apps: Any, merchant: Any, consumer: Any) -> Any:
    link_model = apps.get_model("consumers", "MerchantConsumer")
    found = link_model.objects.filter(merchant_id=merchant.pk, livemode=False, consumer_id=consumer.pk).first()
    return found or link_model.objects.create(
        public_id=generate_public_id("cus"), merchant_id=merchant.pk, livemode=False, consumer_id=consumer.pk
    )


def _old_consent(apps: Any, link: Any, *, revoked: bool = False) -> Any:
    return apps.get_model("decisioning", "BankDataConsent").objects.create(
        public_id=generate_public_id("bdc"),
        merchant_id=link.merchant_id,
        livemode=False,
        merchant_consumer=link,
        reference="old",
        granted_at=clock.now() - dt.timedelta(days=3),
        revoked_at=clock.now() if revoked else None,
    )


def _old_transactions(apps: Any, consent: Any, rows: list[tuple[str, int, str]]) -> None:
    model = apps.get_model("decisioning", "BankTransaction")
    for external_id, amount, category in rows:
        model.objects.create(
            consumer_id=consent.merchant_consumer.consumer_id,
            livemode=False,
            merchant_id=consent.merchant_id,
            consent=consent,
            external_id=external_id,
            account_id="acc",
            booked_on=clock.today(),
            amount=amount,
            currency="USD",
            category=category,
        )


def _months(consent: BankDataConsent) -> dict[tuple[str, dt.date], MonthTotals]:
    return {
        (row.currency, row.month): MonthTotals(
            month=row.month,
            inflow=row.inflow_amount,
            outflow=row.outflow_amount,
            income=row.income_amount,
            debt_payments=row.debt_payment_amount,
            nsf=row.nsf_count,
            overdrafts=row.overdraft_count,
            transactions=row.transaction_count,
            balance_sum=row.balance_sum,
            balance_count=row.balance_count,
        )
        for row in CashFlowMonth.objects.filter(consent=consent)
    }


def _recomputed(consent: BankDataConsent) -> dict[tuple[str, dt.date], MonthTotals]:
    return monthly_totals(
        [
            Transaction(row.booked_on, row.amount, row.currency, row.category, row.balance_after)
            for row in BankTransaction.objects.filter(consent=consent)
        ]
    )


def test_old_rows_keep_their_merchant_and_links_without_a_purchase_go() -> None:
    a, b = make_tenant(name="Shop A"), make_tenant(name="Shop B")
    buyer, browser = make_verified_consumer(email="buyer@example.com"), make_verified_consumer(email="b@example.com")
    make_authorized_order(merchant=a.merchant, livemode=False, consumer=buyer)  # the link A knows the buyer by
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    a_buyer = _old_link(old, a.merchant, buyer)
    b_buyer = _old_link(old, b.merchant, buyer)  # the buyer only opened B's checkout
    a_browser = _old_link(old, a.merchant, browser)  # nobody bought anything
    a_consent, b_consent = _old_consent(old, a_buyer), _old_consent(old, b_buyer)
    _old_consent(old, a_browser, revoked=True)
    _old_transactions(old, a_consent, [("t1", 300_000, "income"), ("t2", -120_000, "other")])
    _old_transactions(old, b_consent, [(f"nsf{n}", -3_500, "nsf_fee") for n in range(8)] + [("t1", 5_000, "other")])
    old.get_model("decisioning", "CashFlowMonth").objects.create(  # the old, unattributed total
        consumer_id=buyer.pk, livemode=False, currency="USD", month=clock.today().replace(day=1), nsf_count=8
    )

    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    consents = {consent.source.merchant: consent for consent in BankDataConsent.objects.select_related("source")}
    assert set(DataSource.objects.values_list("merchant", "kind")) == {
        (a.merchant.pk, "merchant"),
        (b.merchant.pk, "merchant"),
    }
    assert BankDataConsent.objects.count() == 3
    assert {(c.consumer, c.scope, c.revoked_by) for c in BankDataConsent.objects.all()} == {
        (buyer, "source", ""),
        (buyer, "source", ""),
        (browser, "source", "source"),
    }
    assert consents[b.merchant].consumer == buyer
    for consent in BankDataConsent.objects.all():
        assert set(BankTransaction.objects.filter(consent=consent).values_list("source", flat=True)) <= {
            consent.source_id
        }
        assert _months(consent) == _recomputed(consent)
    assert CashFlowMonth.objects.count() == 2  # one month each for A's and B's consents; the old row is gone
    assert list(MerchantConsumer.objects.values_list("public_id", flat=True)) == [a_buyer.public_id]
    # The attack's data (B's eight returned payments) no longer reaches A's decisions.
    at_a = bank_data.cash_flow_for(consumer=buyer, livemode=False, currency="USD", merchant=a.merchant)
    at_b = bank_data.cash_flow_for(consumer=buyer, livemode=False, currency="USD", merchant=b.merchant)
    assert at_a.consents == (consents[a.merchant].public_id,) and at_a.features is not None
    assert at_a.features.nsf_overdraft_events == 0
    assert at_b.features is not None and at_b.features.nsf_overdraft_events == 8
