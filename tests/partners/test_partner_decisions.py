"""What a data partner sends feeds the credit decision as a merchant's data does: the same
cash-flow features, read at any merchant's checkout (the consumer granted it for all their
decisions), and gone from decisions once the consent is revoked."""

from __future__ import annotations

from typing import Any

import pytest

from bnpl.core import clock
from decisioning import bank_data
from decisioning.inputs import situation_read
from decisioning.models import BankDataConsent, CreditDecision
from decisioning.policy import Application
from tests.bnpl.checkout.factories import product_for
from tests.conftest import ApiClient
from tests.consumers.factories import make_verified_consumer
from tests.decisioning.test_limits import _confirm, _pay_in_4
from tests.merchants.factories import Tenant
from tests.partners.factories import grant, make_partner

pytestmark = pytest.mark.django_db


def _send(token: str, consumer_id: str, transactions: list[tuple[str, int, str]]) -> None:
    body = {
        "transactions": [
            {
                "id": txn_id,
                "account_id": "acc",
                "booked_on": clock.today().isoformat(),
                "amount": amount,
                "currency": "USD",
                "category": category,
            }
            for txn_id, amount, category in transactions
        ]
    }
    response = ApiClient(token).post(f"/api/partners/v1/consumers/{consumer_id}/bank-transactions", body)
    assert response.status_code == 201


def test_partner_data_reads_as_merchant_data_in_any_merchants_decision(tenant: Tenant) -> None:
    acme = make_partner()
    consumer = make_verified_consumer(email="partner-data@example.com")
    consent = grant(consumer, acme)
    _send(acme.test_key, consumer.public_id, [("in", 250_000, "income"), ("out", -100_000, "other")])
    application = Application(
        consumer=consumer,
        merchant=tenant.merchant,
        product=product_for(tenant.merchant, False),
        amount=10_000,
        currency="USD",
        livemode=False,
    )

    situation = situation_read(application=application)

    expected = bank_data.cash_flow_for(consumer=consumer, livemode=False, currency="USD", merchant=tenant.merchant)
    assert situation.cash_flow_consents == (consent.public_id,) == expected.consents
    assert situation.cash_flow == expected.features and situation.cash_flow is not None
    assert situation.cash_flow.monthly_income == 250_000

    bank_data.consent_revoke(consent=consent, revoked_by=BankDataConsent.RevokedBy.CONSUMER)

    revoked = situation_read(application=application)
    assert (revoked.cash_flow, revoked.cash_flow_consents) == (None, ())


def test_returned_payments_a_partner_sent_decline_at_checkout(tenant: Tenant, settings: Any) -> None:
    settings.CREDIT_BANK_EVENTS_LIMIT = 3
    acme = make_partner()
    consumer = make_verified_consumer(email="ada+partner@example.com")
    grant(consumer, acme, days=30)
    _send(
        acme.test_key,
        consumer.public_id,
        [("in", 420_000, "income")] + [(f"nsf{n}", -3_500, "nsf_fee") for n in range(3)],
    )

    result, _ = _confirm(tenant, consumer, _pay_in_4(tenant, spending_limit=None))

    decision = CreditDecision.objects.get(consumer=consumer)
    assert decision.outcome == "declined"
    assert [reason["code"] for reason in decision.reasons] == ["bank_account_events"]
    assert decision.cash_flow["nsf_overdraft_events"] == 3
    assert result.order is None
