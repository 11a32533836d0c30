"""The account's Data sharing page: every consent to share the consumer's bank data (who, what,
since when, until when, for which decisions), and the choices that are the consumer's alone:
widen to all their decisions, narrow back, revoke (deleting what was shared), grant again what
they revoked. Each is audited as the consumer and evented to the source merchant."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client

from bnpl.core import clock
from bnpl.core.models import AuditLogEntry, Event
from bnpl.tenancy.services import merchant_consumer_ensure
from consumers.models import MerchantConsumer
from decisioning import bank_data
from decisioning.bank_data import IncomingTransaction
from decisioning.models import BankDataConsent, BankTransaction, CashFlowMonth
from tests.consumers.factories import make_merchant_consumer
from tests.helpers import consumer_client
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

FROZEN = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)
PAGE = "/account/data-sharing"


@pytest.fixture(autouse=True)
def traveller() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(FROZEN, tick=False) as frozen:
        yield frozen


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _shared(link: MerchantConsumer) -> BankDataConsent:
    """Ten transactions from two accounts, 2 Jan to 4 Mar 2026, under the link's current consent."""
    bank_data.transactions_ingest(
        link=link,
        transactions=[
            IncomingTransaction(f"t{n}", f"acc{n % 2}", dt.date(2026, 1 + n % 3, 2 + n % 4), 10_000 + n, "USD")
            for n in range(10)
        ],
    )
    consent = bank_data.consent_for_link(link=link)
    assert consent is not None
    return consent


def test_the_page_shows_every_consent_with_what_it_shares(tenant: Tenant, other_tenant: Tenant) -> None:
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    _shared(link)
    other = merchant_consumer_ensure(merchant=other_tenant.merchant, livemode=False, consumer=link.consumer)
    bank_data.consent_record(
        link=other, reference="x", granted_at=clock.now(), expires_at=clock.now() + dt.timedelta(days=90)
    )

    page = consumer_client(link.consumer).get(PAGE).content.decode()

    assert 'href="/account/data-sharing" aria-current="page"' in page
    assert f'{tenant.merchant.name} <span class="badge">test mode</span>' in page
    assert "10 bank transactions from 2 accounts, booked 2 Jan 2026 to 4 Mar 2026" in page
    assert f"Only your purchases at {tenant.merchant.name}" in page
    assert "Nothing at the moment" in page and "18 Jun 2026" in page  # the other's expiry, nothing sent yet
    assert page.count("Use it for all my decisions") == 2 and page.count("Revoke and delete what was shared") == 2


def test_the_page_needs_a_signed_in_consumer_and_shows_only_their_own(tenant: Tenant) -> None:
    theirs = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    mine = make_merchant_consumer(merchant=tenant.merchant, livemode=False, consent=False)

    assert Client().get(PAGE).status_code == 302
    page = consumer_client(mine.consumer).get(PAGE).content.decode()
    consent = bank_data.consent_for_link(link=theirs)
    assert consent is not None and consent.public_id not in page
    assert "No shop shares your bank data with us." in page


def test_widening_and_narrowing_are_the_consumers_audited_choice(tenant: Tenant, other_tenant: Tenant) -> None:
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    consent = _shared(link)
    client = consumer_client(link.consumer)

    widened = client.post(f"{PAGE}/{consent.public_id}/scope", {"scope": "all_decisions"}, follow=True)

    assert _messages(widened) == [
        f"Done: what {tenant.merchant.name} shares may now help any pay-later decision about you."
    ]
    consent.refresh_from_db()
    assert (consent.scope, consent.scope_changed_at) == ("all_decisions", FROZEN)
    elsewhere = bank_data.cash_flow_for(
        consumer=link.consumer, livemode=False, currency="USD", merchant=other_tenant.merchant
    )
    assert elsewhere.consents == (consent.public_id,)
    audit = AuditLogEntry.objects.get(action="bank_data_consent.scope_changed")
    assert (audit.actor_kind, audit.actor_identifier, audit.merchant) == (
        "consumer",
        link.consumer.public_id,
        tenant.merchant,
    )
    assert audit.before is not None and audit.after is not None
    assert (audit.before["scope"], audit.after["scope"]) == ("source", "all_decisions")

    narrowed = client.post(f"{PAGE}/{consent.public_id}/scope", {"scope": "source"}, follow=True)

    assert _messages(narrowed) == [
        f"Done: what {tenant.merchant.name} shares is used only when you buy from {tenant.merchant.name}."
    ]
    elsewhere = bank_data.cash_flow_for(
        consumer=link.consumer, livemode=False, currency="USD", merchant=other_tenant.merchant
    )
    assert (elsewhere.features, elsewhere.consents) == (None, ())
    events = Event.objects.filter(type="bank_data_consent.scope_changed").order_by("id")
    assert [(event.merchant, event.data["scope"]) for event in events] == [
        (tenant.merchant, "all_decisions"),
        (tenant.merchant, "source"),
    ]


def test_a_bad_scope_changes_nothing_and_says_why(tenant: Tenant) -> None:
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    consent = bank_data.consent_for_link(link=link)
    assert consent is not None

    response = consumer_client(link.consumer).post(
        f"{PAGE}/{consent.public_id}/scope", {"scope": "everything"}, follow=True
    )

    assert _messages(response) == ["Choose where this data may be used."]
    consent.refresh_from_db()
    assert consent.scope == "source"
    assert not Event.objects.filter(type="bank_data_consent.scope_changed").exists()


def test_revoking_deletes_what_was_shared_and_only_the_consumer_grants_it_again(tenant: Tenant) -> None:
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    consent = _shared(link)
    client = consumer_client(link.consumer)
    client.post(f"{PAGE}/{consent.public_id}/scope", {"scope": "all_decisions"}, follow=True)

    revoked = client.post(f"{PAGE}/{consent.public_id}/revoke", follow=True)

    assert _messages(revoked) == [
        f"Revoked: {tenant.merchant.name} can no longer share your bank data, and what it shared is deleted."
    ]
    consent.refresh_from_db()
    assert (consent.status, consent.revoked_by, consent.scope) == ("revoked", "consumer", "source")
    assert not BankTransaction.objects.filter(consent=consent).exists()
    assert not CashFlowMonth.objects.filter(consent=consent).exists()
    event = Event.objects.get(type="bank_data_consent.revoked")
    assert (event.merchant, event.data["revoked_by"], event.data["transactions_deleted"]) == (
        tenant.merchant,
        "consumer",
        10,
    )
    page = client.get(PAGE).content.decode()
    assert "(by you)" in page and f"Let {tenant.merchant.name} share again" in page
    refused = client.post(f"{PAGE}/{consent.public_id}/scope", {"scope": "all_decisions"}, follow=True)
    assert _messages(refused) == ["This consent is no longer in force."]
    consent.refresh_from_db()
    assert consent.scope == "source"

    granted = client.post(f"{PAGE}/{consent.public_id}/grant", follow=True)

    assert _messages(granted) == [
        f"Granted: {tenant.merchant.name} may share your bank data again, for its own decisions."
    ]
    consent.refresh_from_db()
    assert (consent.status, consent.granted_at, consent.expires_at, consent.scope) == ("active", FROZEN, None, "source")
    assert Event.objects.filter(type="bank_data_consent.granted", merchant=tenant.merchant).count() == 1
    assert (
        bank_data.transactions_ingest(
            link=link, transactions=[IncomingTransaction("again", "acc", dt.date(2026, 3, 1), 5_000, "USD")]
        ).created
        == 1
    )


def test_a_consent_its_source_revoked_is_not_granted_again_from_the_account(tenant: Tenant) -> None:
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    consent = bank_data.consent_for_link(link=link)
    assert consent is not None
    bank_data.consent_revoke(consent=consent, revoked_by="source")

    response = consumer_client(link.consumer).post(f"{PAGE}/{consent.public_id}/grant", follow=True)

    assert _messages(response) == [
        "Only a consent you revoked can be granted again here; the shop asks for the others."
    ]
    consent.refresh_from_db()
    assert (consent.status, consent.revoked_by) == ("revoked", "source")
