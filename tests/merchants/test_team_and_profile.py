"""Profile and team changes made by operators in admin go through the services: audited, evented,
and the last owner is kept. Team members on several merchants switch between them."""

from __future__ import annotations

import pytest
from django.test import Client

from bnpl.accounts.models import User
from bnpl.core.models import AuditLogEntry, Event
from merchants.models import Membership, Merchant
from tests.bnpl.accounts.factories import make_user
from tests.helpers import row_counts, verified_client
from tests.merchants.factories import Tenant, make_member, make_merchant

PASSWORD = "pw-for-tests-1"


@pytest.fixture
def admin_client(db: None) -> Client:
    client = Client()
    verified_client(make_user(email="ops@lender.example", is_staff=True, is_superuser=True), client=client)
    return client


def _merchant_form(merchant: Merchant, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": merchant.name,
        "country": merchant.country,
        "currencies": '["USD"]',
        "website": merchant.website,
        "support_email": merchant.support_email,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "memberships-MIN_NUM_FORMS": "0",
        "memberships-MAX_NUM_FORMS": "1000",
    }
    return {**data, **overrides}


def test_an_operator_edit_of_the_profile_is_audited_and_evented(admin_client: Client, tenant: Tenant) -> None:
    merchant = tenant.merchant
    response = admin_client.post(
        f"/admin/merchants/merchant/{merchant.pk}/change/",
        _merchant_form(merchant, name="Acme Ltd", currencies='["eur", "USD"]'),
    )

    assert response.status_code == 302, response.content[:500]
    merchant.refresh_from_db()
    assert (merchant.name, merchant.currencies, merchant.default_currency) == ("Acme Ltd", ["EUR", "USD"], "EUR")
    entry = AuditLogEntry.objects.get(action="merchant.updated")
    assert entry.actor_kind == "operator"
    assert entry.before is not None and entry.before["name"] == "Merchant A"
    assert entry.after is not None and entry.after["name"] == "Acme Ltd"
    assert sorted(Event.objects.filter(type="merchant.updated").values_list("livemode", flat=True)) == [False, True]


def test_an_unknown_currency_in_admin_is_a_form_error_and_changes_nothing(admin_client: Client, tenant: Tenant) -> None:
    before = row_counts()
    response = admin_client.post(
        f"/admin/merchants/merchant/{tenant.merchant.pk}/change/", _merchant_form(tenant.merchant, currencies='["XYZ"]')
    )

    assert response.status_code == 200
    assert "is not a supported ISO 4217 currency code" in response.content.decode()
    assert row_counts() == before


def test_merchants_cannot_be_deleted_from_admin(admin_client: Client, tenant: Tenant) -> None:
    response = admin_client.get(f"/admin/merchants/merchant/{tenant.merchant.pk}/delete/")
    assert response.status_code == 403


def test_team_changes_in_admin_are_audited_and_the_last_owner_stays(admin_client: Client, tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant, role=Membership.Role.OWNER)
    membership = Membership.objects.get(user=owner)

    demoted = admin_client.post(
        f"/admin/merchants/membership/{membership.pk}/change/", {"role": "analyst"}, follow=True
    )

    membership.refresh_from_db()
    assert membership.role == Membership.Role.OWNER
    assert "last owner cannot leave or be demoted." in demoted.content.decode()
    assert not AuditLogEntry.objects.filter(action="membership.updated").exists()

    second_owner: User = make_member(merchant=tenant.merchant, role=Membership.Role.OWNER)
    admin_client.post(f"/admin/merchants/membership/{membership.pk}/change/", {"role": "analyst"})
    membership.refresh_from_db()
    assert membership.role == Membership.Role.ANALYST
    entry = AuditLogEntry.objects.get(action="membership.updated")
    assert (entry.before, entry.after) == (
        {"id": membership.public_id, "email": owner.email, "role": "owner"},
        {"id": membership.public_id, "email": owner.email, "role": "analyst"},
    )

    admin_client.post(f"/admin/merchants/membership/{membership.pk}/delete/", {"post": "yes"})
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditLogEntry.objects.filter(action="membership.deleted", object_id=membership.public_id).count() == 1
    assert Membership.objects.filter(user=second_owner).exists()


def test_a_member_of_two_merchants_switches_between_them(tenant: Tenant) -> None:
    other = make_merchant(name="Second Shop")
    user = make_member(merchant=tenant.merchant, role=Membership.Role.OWNER)
    Membership.objects.create(merchant=other, user=user, role=Membership.Role.ANALYST)
    client = verified_client(user)

    first = client.get("/merchant/")
    switched = client.get("/merchant/", {"merchant": other.public_id})
    remembered = client.get("/merchant/")
    stranger = client.get("/merchant/", {"merchant": make_merchant(name="Not Mine").public_id})

    assert "<strong>Merchant A</strong>" in first.content.decode() and 'id="merchant-switch"' in first.content.decode()
    assert "<strong>Second Shop</strong>" in switched.content.decode()
    assert "you are analyst" in switched.content.decode()
    assert "<strong>Second Shop</strong>" in remembered.content.decode()
    assert "<strong>Second Shop</strong>" in stranger.content.decode()  # a merchant they are not on is ignored
    assert "Not Mine" not in stranger.content.decode()


def test_adding_a_team_member_on_the_merchant_page_goes_through_the_service(
    admin_client: Client, tenant: Tenant
) -> None:
    newcomer = make_user(email="new@shop.example")
    form = _merchant_form(
        tenant.merchant,
        **{"memberships-TOTAL_FORMS": "1", "memberships-0-user": str(newcomer.pk), "memberships-0-role": "admin"},
    )

    response = admin_client.post(f"/admin/merchants/merchant/{tenant.merchant.pk}/change/", form)

    assert response.status_code == 302, response.content[:500]
    membership = Membership.objects.get(user=newcomer)
    assert (membership.merchant, membership.role) == (tenant.merchant, Membership.Role.ADMIN)
    entry = AuditLogEntry.objects.get(action="membership.created", object_id=membership.public_id)
    assert entry.actor_kind == "operator"
    assert entry.after == {"id": membership.public_id, "email": "new@shop.example", "role": "admin"}
