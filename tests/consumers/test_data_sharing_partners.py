"""Data partners on the account's Data sharing page: the consumer grants a named partner consent to
share their bank transactions for their pay-later decisions until a date they choose, sees it with
its name, what it shares and until when, revokes it (deleting what was shared) and grants it again.
Each is audited as the consumer and evented to no merchant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client

from bnpl.core.models import AuditLogEntry, Event
from decisioning import bank_data
from decisioning.bank_data import IncomingTransaction
from decisioning.models import BankDataConsent, BankTransaction, CashFlowMonth
from partners import services
from tests.consumers.factories import make_verified_consumer
from tests.helpers import consumer_client
from tests.partners.factories import Partner, grant, make_partner

pytestmark = pytest.mark.django_db

FROZEN = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)
PAGE = "/account/data-sharing"
GRANT = f"{PAGE}/partners/grant"


@pytest.fixture(autouse=True)
def traveller() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(FROZEN, tick=False) as frozen:
        yield frozen


@pytest.fixture
def acme() -> Partner:
    return make_partner()


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _share(consent: BankDataConsent, count: int = 3) -> None:
    bank_data.partner_transactions_ingest(
        consent=consent,
        transactions=[
            IncomingTransaction(f"t{n}", "acc", dt.date(2026, 3, 1 + n), 10_000, "USD") for n in range(count)
        ],
    )


def test_the_page_offers_the_active_partners_with_their_names(acme: Partner) -> None:
    suspended = make_partner(name="Gone Aggregator")
    services.data_partner_suspend(partner=suspended.partner)
    consumer = make_verified_consumer(email="page@example.com")

    page = consumer_client(consumer).get(PAGE).content.decode()

    assert "Share through a data partner" in page
    assert f'<option value="{acme.partner.public_id}">Acme Open Banking (Open-banking aggregator)</option>' in page
    assert "Gone Aggregator" not in page
    assert '<option value="365" selected>365 days</option>' in page


def test_the_consumer_grants_a_partner_consent_until_a_date(acme: Partner) -> None:
    consumer = make_verified_consumer(email="grant@example.com")
    client = consumer_client(consumer)

    response = client.post(GRANT, {"partner": acme.partner.public_id, "days": "180", "mode": "live"}, follow=True)

    consent = BankDataConsent.objects.get(consumer=consumer)
    assert (consent.source.partner, consent.livemode, consent.scope) == (acme.partner, True, "all_decisions")
    assert (consent.granted_at, consent.expires_at) == (FROZEN, FROZEN + dt.timedelta(days=180))
    assert _messages(response) == [
        "Granted: Acme Open Banking may share your bank transactions with us for your pay-later decisions "
        "until 16 Sep 2026."
    ]
    page = response.content.decode()
    assert 'Acme Open Banking <span class="badge">data partner</span></h2>' in page
    assert "Your bank transactions, for your pay-later decisions: nothing at the moment" in page
    assert "<dt>Until</dt><dd>16 Sep 2026</dd>" in page
    assert "All your pay-later decisions, at any shop" in page
    assert f"<code>{consumer.public_id}</code>" in page
    assert "Use it for all my decisions" not in page  # a partner's consent has no narrower use
    event = Event.objects.get(type="data_partner_consent.granted")
    assert event.merchant_id is None and event.livemode is True
    assert (event.data["partner"], event.data["consumer"], event.data["expires_at"]) == (
        acme.partner.public_id,
        consumer.public_id,
        "2026-09-16T12:00:00Z",
    )
    audit = AuditLogEntry.objects.get(action="data_partner_consent.granted")
    assert (audit.actor_kind, audit.actor_identifier, audit.before) == ("consumer", consumer.public_id, None)


def test_a_grant_names_what_is_wrong_and_changes_nothing(acme: Partner) -> None:
    consumer = make_verified_consumer(email="wrong@example.com")
    client = consumer_client(consumer)

    no_partner = client.post(GRANT, {"partner": "dpa_00000000000000000000000000", "days": "90"}, follow=True)
    bad_days = client.post(GRANT, {"partner": acme.partner.public_id, "days": "5000"}, follow=True)

    assert _messages(no_partner) == ["Choose a data partner."]
    assert _messages(bad_days) == ["Choose how long it may share."]
    assert not BankDataConsent.objects.exists() and not Event.objects.filter(type__startswith="data_partner_c").exists()
    assert Client().post(GRANT, {"partner": acme.partner.public_id, "days": "90"}).status_code == 302  # sign in first
    assert not BankDataConsent.objects.exists()


def test_revoking_deletes_what_the_partner_shared_and_granting_again_starts_afresh(acme: Partner) -> None:
    consumer = make_verified_consumer(email="revoke@example.com")
    consent = grant(consumer, acme)
    _share(consent)
    client = consumer_client(consumer)
    assert "3 bank transactions from 1 account, booked 1 Mar 2026 to 3 Mar 2026" in client.get(PAGE).content.decode()

    revoked = client.post(f"{PAGE}/{consent.public_id}/revoke", follow=True)

    assert _messages(revoked) == [
        "Revoked: Acme Open Banking can no longer share your bank data, and what it shared is deleted."
    ]
    assert BankTransaction.objects.count() == 0 and CashFlowMonth.objects.count() == 0
    consent.refresh_from_db()
    assert (consent.revoked_at, consent.revoked_by) == (FROZEN, "consumer")
    page = revoked.content.decode()
    assert "Let Acme Open Banking share again for 365 days" in page
    audit = AuditLogEntry.objects.get(action="data_partner_consent.revoked")
    assert audit.after is not None and (audit.actor_kind, audit.after["transactions_deleted"]) == ("consumer", 3)

    again = client.post(GRANT, {"partner": acme.partner.public_id, "days": "365", "mode": "test"}, follow=True)

    consent.refresh_from_db()
    assert (consent.revoked_at, consent.expires_at, consent.scope) == (
        None,
        FROZEN + dt.timedelta(days=365),
        "all_decisions",
    )
    assert BankDataConsent.objects.count() == 1 and "Granted: Acme Open Banking" in _messages(again)[0]


def test_an_expired_consent_granted_again_does_not_bring_back_what_was_shared(
    acme: Partner, traveller: time_machine.Traveller
) -> None:
    consumer = make_verified_consumer(email="lapsed@example.com")
    consent = grant(consumer, acme, days=90)
    _share(consent)
    traveller.move_to(FROZEN + dt.timedelta(days=91))
    assert "expired" in consumer_client(consumer).get(PAGE).content.decode()

    grant(consumer, acme)

    assert BankTransaction.objects.filter(consent=consent).count() == 0


def test_the_scope_of_a_partners_consent_is_not_the_consumers_to_narrow(acme: Partner) -> None:
    consumer = make_verified_consumer(email="scope@example.com")
    consent = grant(consumer, acme)

    response = consumer_client(consumer).post(f"{PAGE}/{consent.public_id}/scope", {"scope": "source"}, follow=True)

    assert _messages(response) == [
        "A data partner's consent serves all your pay-later decisions; revoke it to stop sharing."
    ]
    consent.refresh_from_db()
    assert consent.scope == "all_decisions"


def test_another_consumer_cannot_revoke_it(acme: Partner) -> None:
    owner = make_verified_consumer(email="owner@example.com")
    consent = grant(owner, acme)
    intruder = make_verified_consumer(email="intruder@example.com")

    response = consumer_client(intruder).post(f"{PAGE}/{consent.public_id}/revoke")

    assert response.status_code == 404
    consent.refresh_from_db()
    assert consent.revoked_at is None
    assert consent.public_id not in consumer_client(intruder).get(PAGE).content.decode()
