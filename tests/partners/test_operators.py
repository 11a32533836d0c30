"""Operators onboard data partners and issue and revoke their keys, in the admin or with
``manage.py data_partner``; each change is audited and evented to no merchant."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from bnpl.core.models import AuditLogEntry, Event
from partners.models import DataPartner, PartnerApiKey
from tests.bnpl.accounts.factories import make_user
from tests.conftest import ApiClient
from tests.helpers import verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db: None) -> Client:
    client = Client()
    verified_client(make_user(email="partners@lender.example", is_staff=True, is_superuser=True), client=client)
    return client


def test_the_command_onboards_a_partner_and_issues_and_revokes_a_key() -> None:
    out = StringIO()
    call_command("data_partner", "create", "Acme Open Banking", "--description", "Open-banking aggregator", stdout=out)
    partner = DataPartner.objects.get()
    assert out.getvalue() == f"{partner.public_id}  Acme Open Banking\n"

    out = StringIO()
    call_command("data_partner", "issue-key", partner.public_id, stdout=out, stderr=StringIO())
    key_id, token = out.getvalue().split()
    api_key = PartnerApiKey.objects.get(public_id=key_id)
    assert token.startswith("dpk_test_") and api_key.token_hint == f"dpk_test_…{token[-4:]}"
    assert ApiClient(token).get("/api/partners/v1/consents").status_code == 200

    call_command("data_partner", "revoke-key", key_id, stdout=StringIO())

    assert ApiClient(token).get("/api/partners/v1/consents").json()["error"]["code"] == "api_key_revoked"
    assert list(
        Event.objects.filter(type__startswith="data_partner").order_by("pk").values_list("type", "merchant")
    ) == [
        ("data_partner.created", None),
        ("data_partner_key.created", None),
        ("data_partner_key.revoked", None),
    ]
    actors = set(
        AuditLogEntry.objects.filter(action__startswith="data_partner").values_list("actor_kind", "actor_label")
    )
    assert actors == {("operator", "data_partner")}


def test_in_the_admin_an_operator_creates_a_partner_and_sees_a_key_once(admin_client: Client) -> None:
    created = admin_client.post(
        "/admin/partners/datapartner/add/",
        {"name": "Acme Open Banking", "description": "Open-banking aggregator", "website": ""},
    )
    assert created.status_code == 302
    partner = DataPartner.objects.get()
    assert Event.objects.filter(type="data_partner.created").count() == 1

    issued = admin_client.post(
        "/admin/partners/datapartner/",
        {"action": "issue_test_key", "_selected_action": [partner.pk]},
    )

    page = issued.content.decode()
    token = re.search(r"<code>(dpk_test_\w+)</code>", page)
    assert issued.status_code == 200 and token is not None
    api_key = PartnerApiKey.objects.get(partner=partner)
    assert (
        token.group(1) not in admin_client.get(f"/admin/partners/partnerapikey/{api_key.pk}/change/").content.decode()
    )

    admin_client.post("/admin/partners/partnerapikey/", {"action": "revoke", "_selected_action": [api_key.pk]})

    api_key.refresh_from_db()
    assert api_key.is_revoked
    assert ApiClient(token.group(1)).get("/api/partners/v1/consents").status_code == 401
