"""The app grants a data partner consent as the portal does (issue 20, item 4: "granted that
partner consent in the portal or the app"): the partner may then stream the consumer's bank
transactions, and a revocation from the app ends it and deletes what was shared."""

from __future__ import annotations

import pytest

from consumers.models import Consumer
from decisioning.models import BankDataConsent, BankTransaction
from partners import services as partner_services
from tests.conftest import ApiClient
from tests.consumers.api.conftest import SignedIn, SignIn
from tests.helpers import row_counts
from tests.partners.factories import Partner, make_partner

pytestmark = pytest.mark.django_db

ADA = "ada@example.com"


@pytest.fixture
def ada(sign_in: SignIn) -> SignedIn:
    return sign_in(ADA)


@pytest.fixture
def acme(db: None) -> Partner:
    return make_partner(name="Acme Open Banking")


def _stream(partner: Partner, consumer: Consumer) -> int:
    path = f"/api/partners/v1/consumers/{consumer.public_id}/bank-transactions"
    line = {
        "id": "t1",
        "account_id": "acc_checking",
        "booked_on": "2026-03-02",
        "amount": 310_000,
        "currency": "usd",
        "category": "income",
    }
    return ApiClient(partner.test_key).post(path, {"transactions": [line]}, idempotency_key="stream-1").status_code


def test_the_app_grants_a_partner_consent_the_partner_can_use_then_revokes_it(ada: SignedIn, acme: Partner) -> None:
    consumer = Consumer.objects.get(email=ADA)
    assert _stream(acme, consumer) == 404  # no consent yet: the consumer does not exist for it

    granted = ada.client.post(
        "bank-data-consents/partner-grants", {"partner": acme.partner.public_id, "days": "90", "mode": "test"}
    )

    assert granted.status_code == 200, granted.content
    body = granted.json()
    assert (body["shared_by"], body["current"]) == ("Acme Open Banking", True)
    assert _stream(acme, consumer) == 201
    consent = BankDataConsent.objects.get(public_id=body["id"])
    assert BankTransaction.objects.filter(consent=consent).count() == 1

    revoked = ada.client.post(f"bank-data-consents/{consent.public_id}/revoke")

    assert revoked.status_code == 200 and revoked.json()["current"] is False
    assert not BankTransaction.objects.filter(consent=consent).exists()
    assert _stream(acme, consumer) == 404


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"partner": "dpa_nosuchpartner1", "days": "90"}, "partner"),
        ({"partner": "not an id", "days": "90"}, "partner"),
        ({"days": "90"}, "partner"),
        ({"partner": "PARTNER", "days": "30"}, "days"),
        ({"partner": "PARTNER", "days": 90}, "days"),
        ({"partner": "PARTNER", "days": "90", "mode": "sometimes"}, "mode"),
    ],
)
def test_a_grant_the_app_cannot_make_names_the_field_and_writes_nothing(
    ada: SignedIn, acme: Partner, body: dict[str, object], param: str
) -> None:
    body = {key: acme.partner.public_id if value == "PARTNER" else value for key, value in body.items()}
    before = row_counts()

    response = ada.client.post("bank-data-consents/partner-grants", body)

    assert response.status_code == 400, response.content
    assert response.json()["error"]["param"] == param
    assert row_counts() == before


def test_a_suspended_partner_cannot_be_granted_from_the_app(ada: SignedIn, acme: Partner) -> None:
    partner_services.data_partner_suspend(partner=acme.partner)

    response = ada.client.post("bank-data-consents/partner-grants", {"partner": acme.partner.public_id, "days": "90"})

    assert response.status_code == 400 and response.json()["error"]["code"] == "partner_invalid"
