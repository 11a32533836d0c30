"""The ledger's admin pages show accounts, entries with their postings, and postings, and change nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from bnpl.ledger.models import Account, JournalEntry, Posting
from tests.bnpl.accounts.factories import make_user
from tests.bnpl.ledger.factories import ledger_row_counts, post_capture
from tests.consumers.factories import make_consumer
from tests.helpers import verified_client
from tests.merchants.factories import make_merchant

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db: None) -> Client:
    client = Client()
    verified_client(make_user(email="ops@lender.example", is_staff=True, is_superuser=True), client=client)
    return client


def test_the_ledger_admin_shows_accounts_entries_and_postings_read_only(admin_client: Client) -> None:
    entry = post_capture(merchant=make_merchant(name="Acme"), consumer=make_consumer(), amount=10_000, fee_amount=300)
    receivable = Account.objects.get(code="consumer_receivable")

    accounts = admin_client.get("/admin/ledger/account/")
    entries = admin_client.get("/admin/ledger/journalentry/")
    detail = admin_client.get(f"/admin/ledger/journalentry/{entry.pk}/change/")
    postings = admin_client.get("/admin/ledger/posting/")
    account_detail = admin_client.get(f"/admin/ledger/account/{receivable.pk}/change/")

    assert [page.status_code for page in (accounts, entries, detail, postings, account_detail)] == [200] * 5
    assert accounts.context["cl"].result_count == 3
    assert sorted(account.balance_amount for account in accounts.context["cl"].result_list) == [-9_700, -300, 10_000]
    assert entry.public_id in entries.content.decode()
    inline = detail.context["inline_admin_formsets"][0]
    assert sorted(form.original.amount for form in inline) == [-9_700, -300, 10_000]
    assert postings.context["cl"].result_count == 3
    assert detail.context["has_change_permission"] is False
    assert admin_client.get("/admin/ledger/journalentry/add/").status_code == 403


def test_the_ledger_admin_refuses_deletes(admin_client: Client) -> None:
    entry = post_capture(merchant=make_merchant(name="Acme"), consumer=make_consumer())
    posting = Posting.objects.first()
    assert posting is not None
    before = ledger_row_counts()

    responses = [
        admin_client.post(f"/admin/ledger/journalentry/{entry.pk}/delete/", {"post": "yes"}),
        admin_client.post(f"/admin/ledger/posting/{posting.pk}/delete/", {"post": "yes"}),
    ]

    assert [response.status_code for response in responses] == [403, 403]
    assert ledger_row_counts() == before
    assert JournalEntry.objects.filter(pk=entry.pk).exists()
