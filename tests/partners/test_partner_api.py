"""The data-partner API: a partner streams a consumer's bank transactions only while that consumer
has a consent in force for that very partner (in the key's mode); otherwise the consumer does not
exist for it (404, the same answer as for an unknown id). Revoking deletes what was shared; keys are
refused from the request after their revocation; POSTs are idempotent; one partner never sees
another's consumers."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.settings import patched_settings

from bnpl.core.errors import StateError
from bnpl.core.models import AuditLogEntry, Event
from consumers.models import Consumer
from decisioning import bank_data
from decisioning.models import BankDataConsent, BankTransaction, CashFlowMonth, DataSource
from partners import services
from partners.apis import PartnerScopedApi
from partners.models import PartnerApiKey
from partners.schema import SCHEMA_SETTINGS
from tests.conftest import ApiClient
from tests.consumers.factories import make_merchant_consumer, make_verified_consumer
from tests.merchants.factories import Tenant
from tests.partners.factories import Partner, grant, make_partner

pytestmark = pytest.mark.django_db

FROZEN = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)
BASE = "/api/partners/v1"


@pytest.fixture(autouse=True)
def traveller() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(FROZEN, tick=False) as frozen:
        yield frozen


@pytest.fixture
def acme() -> Partner:
    return make_partner()


@pytest.fixture
def other_partner() -> Partner:
    return make_partner(name="Other Aggregator")


@pytest.fixture
def consumer() -> Consumer:
    return make_verified_consumer(email="shares@example.com")


def _path(consumer: Consumer, what: str = "bank-transactions") -> str:
    return f"{BASE}/consumers/{consumer.public_id}/{what}"


def _batch(*ids: str, amount: int = 310_000, category: str = "income") -> dict[str, Any]:
    return {
        "transactions": [
            {
                "id": txn_id,
                "account_id": "acc_checking",
                "booked_on": "2026-03-02",
                "amount": amount,
                "currency": "usd",
                "category": category,
            }
            for txn_id in ids
        ]
    }


def _partner_events() -> list[str]:
    """The consent and stream events (not the partner's onboarding)."""
    return list(
        Event.objects.filter(type__startswith="data_partner_")
        .exclude(type__startswith="data_partner_key.")
        .order_by("pk")
        .values_list("type", flat=True)
    )


def _not_found(response: Any) -> None:
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": "No such consumer.",
            "param": "id",
        }
    }


def test_a_partner_streams_under_the_consent_the_consumer_granted_it(acme: Partner, consumer: Consumer) -> None:
    consent = grant(consumer, acme)
    api = ApiClient(acme.test_key)

    response = api.post(_path(consumer), _batch("t1", "t2"))

    assert response.status_code == 201
    assert response.json() == {
        "object": "bank_transaction_batch",
        "consumer": consumer.public_id,
        "received": 2,
        "created": 2,
        "duplicates": 0,
    }
    source = DataSource.objects.get(partner=acme.partner)
    assert source.kind == "partner" and source.name == "Acme Open Banking"
    stored = BankTransaction.objects.filter(consent=consent)
    assert sorted(stored.values_list("external_id", "source_id", "currency", "amount")) == [
        ("t1", source.pk, "USD", 310_000),
        ("t2", source.pk, "USD", 310_000),
    ]
    month = CashFlowMonth.objects.get(consent=consent)
    assert (month.month, month.income_amount, month.transaction_count) == (dt.date(2026, 3, 1), 620_000, 2)
    event = Event.objects.get(type="data_partner_transactions.received")
    assert event.merchant_id is None
    assert event.data == {
        "object": "bank_transaction_batch",
        "consumer": consumer.public_id,
        "received": 2,
        "created": 2,
        "duplicates": 0,
        "consent": consent.public_id,
        "partner": acme.partner.public_id,
    }
    audit = AuditLogEntry.objects.get(action="data_partner_transactions.received")
    assert (audit.actor_kind, audit.actor_identifier) == ("data_partner_key", acme.test_api_key.public_id)


def test_json_lines_are_accepted_as_from_merchants(acme: Partner, consumer: Consumer) -> None:
    grant(consumer, acme)
    lines = "\n".join(json.dumps(item) for item in _batch("l1", "l2", "l3")["transactions"])

    response = Client().post(
        _path(consumer),
        lines,
        content_type="application/x-ndjson",
        headers={"Authorization": f"Bearer {acme.test_key}", "Idempotency-Key": "jsonl-1"},
    )

    assert response.status_code == 201 and response.json()["created"] == 3


def test_without_a_consent_the_consumer_does_not_exist_for_the_partner(acme: Partner, consumer: Consumer) -> None:
    api = ApiClient(acme.test_key)

    _not_found(api.post(_path(consumer), _batch("t1")))
    _not_found(api.get(_path(consumer, "consent")))
    _not_found(api.post(f"{BASE}/consumers/con_00000000000000000000000000/bank-transactions", _batch("t1")))
    _not_found(api.post(f"{BASE}/consumers/not-an-id/bank-transactions", _batch("t1")))

    assert BankTransaction.objects.count() == 0 and CashFlowMonth.objects.count() == 0
    assert _partner_events() == []


def test_another_partners_consent_does_not_count(acme: Partner, other_partner: Partner, consumer: Consumer) -> None:
    grant(consumer, other_partner)

    _not_found(ApiClient(acme.test_key).post(_path(consumer), _batch("t1")))
    assert ApiClient(acme.test_key).get(f"{BASE}/consents").json()["results"] == []

    assert ApiClient(other_partner.test_key).post(_path(consumer), _batch("t1")).status_code == 201
    assert BankTransaction.objects.count() == 1


def test_a_merchants_consent_does_not_count_either(acme: Partner, tenant: Tenant) -> None:
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)  # the merchant recorded a consent
    _not_found(ApiClient(acme.test_key).post(_path(link.consumer), _batch("t1")))


def test_a_consent_in_one_mode_is_not_reached_with_a_key_of_the_other(acme: Partner, consumer: Consumer) -> None:
    grant(consumer, acme, livemode=True)

    _not_found(ApiClient(acme.test_key).post(_path(consumer), _batch("t1")))
    assert ApiClient(acme.live_key).post(_path(consumer), _batch("t1")).status_code == 201


def test_revoked_by_the_consumer_it_is_404_and_what_was_shared_is_deleted(acme: Partner, consumer: Consumer) -> None:
    consent = grant(consumer, acme)
    api = ApiClient(acme.test_key)
    api.post(_path(consumer), _batch("t1", "t2"))

    bank_data.consent_revoke(consent=consent, revoked_by=BankDataConsent.RevokedBy.CONSUMER)

    _not_found(api.post(_path(consumer), _batch("t3")))
    _not_found(api.get(_path(consumer, "consent")))
    assert BankTransaction.objects.count() == 0 and CashFlowMonth.objects.count() == 0
    revoked = Event.objects.get(type="data_partner_consent.revoked")
    assert revoked.merchant_id is None
    assert (revoked.data["status"], revoked.data["transactions_deleted"]) == ("revoked", 2)
    assert not Event.objects.filter(type__startswith="bank_data_consent").exists()


def test_an_expired_consent_is_404_and_the_sweep_deletes_what_was_shared(
    acme: Partner, consumer: Consumer, traveller: time_machine.Traveller
) -> None:
    consent = grant(consumer, acme, days=90)
    api = ApiClient(acme.test_key)
    api.post(_path(consumer), _batch("t1"))

    traveller.move_to(FROZEN + dt.timedelta(days=90))

    _not_found(api.post(_path(consumer), _batch("t2")))
    assert api.get(f"{BASE}/consents").json()["results"] == []
    assert bank_data.consents_expire() == 1
    assert not BankTransaction.objects.filter(consent=consent).exists()
    assert Event.objects.get(type="data_partner_consent.expired").data["transactions_deleted"] == 1


def test_a_revoked_key_is_refused_at_once_and_other_principals_keys_never_work(
    acme: Partner, consumer: Consumer, tenant: Tenant
) -> None:
    grant(consumer, acme)
    api = ApiClient(acme.test_key)
    assert api.get(f"{BASE}/consents").status_code == 200

    services.partner_api_key_revoke(api_key=acme.test_api_key)

    refused = api.post(_path(consumer), _batch("t1"))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "api_key_revoked"
    assert api.get(f"{BASE}/consents").json()["error"]["code"] == "api_key_revoked"
    assert BankTransaction.objects.count() == 0
    key_events = Event.objects.filter(type="data_partner_key.revoked")
    assert [event.merchant_id for event in key_events] == [None]
    # A merchant's key is no key here, and a partner's key is none on the merchants' API.
    merchant_key = ApiClient(tenant.test_key).get(f"{BASE}/consents")
    assert merchant_key.status_code == 401 and merchant_key.json()["error"]["code"] == "invalid_api_key"
    partner_key = ApiClient(acme.live_key).get("/api/v1/consumers")
    assert partner_key.status_code == 401 and partner_key.json()["error"]["code"] == "invalid_api_key"
    missing = Client().get(f"{BASE}/consents")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "api_key_missing"


def test_a_suspended_partner_is_refused_and_cannot_be_chosen(acme: Partner, consumer: Consumer) -> None:
    grant(consumer, acme)
    services.data_partner_suspend(partner=acme.partner)

    refused = ApiClient(acme.test_key).post(_path(consumer), _batch("t1"))

    assert refused.status_code == 403 and refused.json()["error"]["code"] == "partner_suspended"
    assert BankTransaction.objects.count() == 0
    with pytest.raises(StateError, match="cannot receive consents"):
        grant(consumer, acme)
    services.data_partner_reinstate(partner=acme.partner)
    assert ApiClient(acme.test_key).post(_path(consumer), _batch("t1")).status_code == 201


def test_keys_are_stored_hashed_and_shown_once(acme: Partner) -> None:
    stored = PartnerApiKey.objects.get(pk=acme.test_api_key.pk)
    assert acme.test_key.startswith("dpk_test_") and acme.live_key.startswith("dpk_live_")
    assert acme.test_key not in {stored.token_hash, stored.token_hint}
    assert stored.token_hint == f"dpk_test_…{acme.test_key[-4:]}" and len(stored.token_hash) == 64
    created = Event.objects.filter(type="data_partner_key.created", data__id=stored.public_id).get()
    assert acme.test_key not in json.dumps(created.data)


def test_posts_are_idempotent_and_a_resent_stream_is_skipped(acme: Partner, consumer: Consumer) -> None:
    grant(consumer, acme)
    api = ApiClient(acme.test_key)

    first = api.post(_path(consumer), _batch("t1", "t2"), idempotency_key="batch-1")
    replay = api.post(_path(consumer), _batch("t1", "t2"), idempotency_key="batch-1")
    changed = api.post(_path(consumer), _batch("t9"), idempotency_key="batch-1")
    resent = api.post(_path(consumer), _batch("t1", "t2", "t3"), idempotency_key="batch-2")
    keyless = Client().post(
        _path(consumer),
        _batch("t4"),
        content_type="application/json",
        headers={"Authorization": f"Bearer {acme.test_key}"},
    )

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json() and replay["Idempotent-Replayed"] == "true"
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_key_reused"
    assert resent.json()["created"] == 1 and resent.json()["duplicates"] == 2
    assert keyless.status_code == 400 and keyless.json()["error"]["param"] == "Idempotency-Key"
    assert BankTransaction.objects.count() == 3
    assert _partner_events().count("data_partner_transactions.received") == 2


def test_the_same_idempotency_key_of_two_partners_is_two_keys(
    acme: Partner, other_partner: Partner, consumer: Consumer
) -> None:
    grant(consumer, acme)
    grant(consumer, other_partner)

    mine = ApiClient(acme.test_key).post(_path(consumer), _batch("a1"), idempotency_key="same")
    theirs = ApiClient(other_partner.test_key).post(_path(consumer), _batch("b1", "b2"), idempotency_key="same")

    assert (mine.json()["created"], theirs.json()["created"]) == (1, 2)
    assert "Idempotent-Replayed" not in theirs


def test_a_bad_transaction_is_named_and_nothing_is_kept(acme: Partner, consumer: Consumer) -> None:
    grant(consumer, acme)
    body = _batch("ok")
    body["transactions"].append({**body["transactions"][0], "id": "bad", "amount": 0})

    response = ApiClient(acme.test_key).post(_path(consumer), body)

    assert response.status_code == 400 and response.json()["error"]["param"] == "transactions[1].amount"
    assert BankTransaction.objects.count() == 0


def test_the_partner_lists_and_reads_only_the_consents_granted_to_it(
    acme: Partner, other_partner: Partner, consumer: Consumer
) -> None:
    consent = grant(consumer, acme, days=180)
    someone_else = make_verified_consumer(email="else@example.com")
    grant(someone_else, other_partner)
    revoked = make_verified_consumer(email="revoked@example.com")
    bank_data.consent_revoke(consent=grant(revoked, acme), revoked_by=BankDataConsent.RevokedBy.CONSUMER)
    api = ApiClient(acme.test_key)

    listed = api.get(f"{BASE}/consents").json()
    detail = api.get(_path(consumer, "consent")).json()

    expected = {
        "id": consent.public_id,
        "object": "data_partner_consent",
        "partner": acme.partner.public_id,
        "consumer": consumer.public_id,
        "livemode": False,
        "shares": "bank_transactions",
        "purpose": "credit_decisions",
        "granted_at": "2026-03-20T12:00:00Z",
        "expires_at": "2026-09-16T12:00:00Z",
        "revoked_at": None,
        "status": "active",
    }
    assert listed["results"] == [expected] and detail == expected
    _not_found(api.get(_path(someone_else, "consent")))


def test_every_partner_operation_naming_a_consumer_is_404_for_another_partners(
    acme: Partner, other_partner: Partner
) -> None:
    """The isolation sweep, walked from the partner API's own schema: every operation whose path
    names a consumer answers 404 to a partner without that consumer's consent (another partner
    has one), and not 404 to the partner with it; lists show only the partner's own."""
    merchants_document = SchemaGenerator().get_schema(request=None, public=True)
    assert not any(path.startswith(BASE) for path in merchants_document["paths"])
    with patched_settings(SCHEMA_SETTINGS):
        partner_schema = SchemaGenerator().get_schema(request=None, public=True)
    operations = [
        (path, method) for path, item in partner_schema["paths"].items() for method in item if method in {"get", "post"}
    ]
    assert ("/api/partners/v1/consumers/{id}/bank-transactions", "post") in operations
    theirs = make_verified_consumer(email="theirs@example.com")
    grant(theirs, other_partner)
    checked = 0
    for path, method in operations:
        view = resolve(re.sub(r"\{id\}", theirs.public_id, path)).func.view_class  # type: ignore[attr-defined]
        assert issubclass(view, PartnerScopedApi), path
        concrete = path.replace("{id}", theirs.public_id)
        body = _batch(f"iso-{checked}")
        if "{id}" in path:
            _not_found(ApiClient(acme.test_key).request(method, concrete, body))
            assert ApiClient(other_partner.test_key).request(method, concrete, body).status_code in {200, 201}
            checked += 1
        elif method == "get":
            assert ApiClient(acme.test_key).get(concrete).json()["results"] == []
            assert len(ApiClient(other_partner.test_key).get(concrete).json()["results"]) == 1
    assert checked == 2


def test_the_partner_api_has_its_own_schema_and_json_404s() -> None:
    schema = Client().get(f"{BASE}/schema", headers={"Accept": "application/json"})
    unknown = Client().get(f"{BASE}/nothing-here")

    text = schema.content.decode()
    assert schema.status_code == 200
    assert "DataPartnerKey" in text and "/api/partners/v1/consumers/{id}/bank-transactions" in text
    assert "/api/v1/checkout" not in text and "SecretKey" not in text
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "resource_missing"
