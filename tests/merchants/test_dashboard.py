"""The merchant dashboard's developers page: signing in, seeing the account's keys (per mode), issuing
a key whose secret is shown exactly once, and revoking keys. Writes need an owner or admin;
analysts only read."""

from __future__ import annotations

import re

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from bnpl.core import clock
from bnpl.core.models import AuditLogEntry, Event
from bnpl.tenancy.keys import api_key_hash
from merchants.models import ApiKey, Membership
from merchants.representations import api_key_data
from tests.bnpl.accounts.factories import make_user
from tests.conftest import ApiClient
from tests.helpers import confirmed_post, row_counts, totp_code
from tests.merchants.factories import Tenant, make_member, make_merchant

PASSWORD = "pw-for-tests-1"
REVEALED_TOKEN = re.compile(r'<code class="token" id="revealed-token">([^<]*)</code>')


def _signed_in(user: object, *, backup_code: bool = False) -> Client:
    """Through the sign-in pages: the password, then (owners have an authenticator) the code from
    the app — or a backup code (an app's code works once, so a second session the same half-minute
    uses one)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=True
    )
    code = totp_code(device)
    if backup_code:
        code = "backup01"
        StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True).token_set.create(token=code)
    client = Client()
    response = client.post("/merchant/login", {"username": user.email, "password": PASSWORD})  # type: ignore[attr-defined]
    assert response.status_code == 302
    assert response["Location"] == "/merchant/login/verify?next=%2Fmerchant%2F"
    response = client.post(response["Location"], {"token": code})
    assert response.status_code == 302
    assert response["Location"] == "/merchant/"
    return client


def _live(client: Client) -> Client:
    """Switch the dashboard to live data (the sandbox switch)."""
    assert client.post("/merchant/mode", {"livemode": "true"}).status_code == 302
    return client


def _key(token: str) -> ApiKey:
    return ApiKey.objects.get(token_hash=api_key_hash(token))


def _messages(response: object) -> list[str]:
    return [message.message for message in get_messages(response.wsgi_request)]  # type: ignore[attr-defined]


# --- Signing in and seeing ----------------------------------------------------------------------


def test_a_signed_out_visitor_is_sent_to_the_login_page(db: None) -> None:
    response = Client().get("/merchant/")

    assert response.status_code == 302
    assert response["Location"] == "/merchant/login?next=/merchant/"


def test_a_wrong_password_does_not_sign_in(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    client = Client()

    response = client.post("/merchant/login", {"username": owner.email, "password": "not-the-password"})
    dashboard = client.get("/merchant/")

    assert response.status_code == 200
    assert response.context["form"].errors != {}
    assert dashboard.status_code == 302
    assert dashboard["Location"] == "/merchant/login?next=/merchant/"


def test_the_owner_sees_the_merchant_and_its_keys_by_hint_only_one_mode_at_a_time(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    client = _signed_in(owner)

    response = client.get("/merchant/developers")
    live = _live(client).get("/merchant/developers")

    content = response.content.decode()
    assert response.status_code == 200
    assert "Merchant A" in content
    assert f"you are owner ({owner.email})" in content
    assert _key(tenant.test_key).token_hint in content
    assert _key(tenant.live_key).token_hint not in content
    assert _key(tenant.live_key).token_hint in live.content.decode()
    for page in (content, live.content.decode()):
        assert tenant.test_key not in page
        assert tenant.live_key not in page
        assert 'id="revealed-token"' not in page
    assert [key.public_id for key in response.context["api_keys"]] == [_key(tenant.test_key).public_id]
    assert [key.public_id for key in live.context["api_keys"]] == [_key(tenant.live_key).public_id]


def test_a_user_without_a_membership_gets_a_403_page_and_cannot_create_keys(tenant: Tenant) -> None:
    stranger = make_user(password=PASSWORD)
    client = _signed_in(stranger)
    before = row_counts()
    keys_before = ApiKey.objects.count()

    page = client.get("/merchant/developers")
    create = client.post("/merchant/developers/api-keys", {"kind": "secret"})
    revoke = client.post(f"/merchant/developers/api-keys/{_key(tenant.test_key).public_id}/revoke")

    assert page.status_code == 403
    assert page.templates[0].name == "merchants/no_membership.html"
    assert "No merchant account" in page.content.decode()
    assert f"You are signed in as {stranger.email}" in page.content.decode()
    assert "Merchant A" not in page.content.decode()
    assert create.status_code == 403
    assert revoke.status_code == 403
    assert row_counts() == before
    assert ApiKey.objects.count() == keys_before
    assert _key(tenant.test_key).revoked_at is None


# --- Creating keys ------------------------------------------------------------------------------


def test_a_new_secret_key_is_revealed_exactly_once_and_only_its_hash_is_stored(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    client = _signed_in(owner)

    first_view = client.post("/merchant/developers/api-keys", {"kind": "secret", "name": "Checkout server"})
    reload = client.get("/merchant/developers")

    assert first_view.status_code == 200
    assert first_view["Cache-Control"] == "no-store"
    revealed = REVEALED_TOKEN.findall(first_view.content.decode())
    assert len(revealed) == 1
    token = revealed[0]
    assert re.fullmatch(r"sk_test_[0-9A-Za-z]{32}", token)
    assert token not in reload.content.decode()
    assert 'id="revealed-token"' not in reload.content.decode()

    api_key = ApiKey.objects.get(name="Checkout server")
    assert api_key.merchant == tenant.merchant
    assert api_key.kind == ApiKey.Kind.SECRET
    assert api_key.livemode is False
    assert api_key.created_by == owner
    assert api_key.token_hash == api_key_hash(token)
    assert api_key.token_hint == f"sk_test_…{token[-4:]}"
    assert api_key.publishable_token == ""
    assert api_key.revoked_at is None
    for field in ApiKey._meta.concrete_fields:
        assert token not in str(field.value_from_object(api_key)), field.name
    assert api_key.token_hint in reload.content.decode()


def test_the_new_key_authenticates_on_the_api(tenant: Tenant) -> None:
    client = _signed_in(make_member(merchant=tenant.merchant))
    created = client.post("/merchant/developers/api-keys", {"kind": "secret"})
    token = REVEALED_TOKEN.findall(created.content.decode())[0]

    response = ApiClient(token).get("/api/v1/account")

    assert response.status_code == 200
    assert response.json()["id"] == tenant.merchant.public_id
    assert _key(token).last_used_at is not None


def test_creating_a_key_is_audited_without_the_secret_and_the_secret_leaves_no_trace(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    client = _signed_in(owner)

    created = client.post("/merchant/developers/api-keys", {"kind": "secret", "name": "Audited"})
    token = REVEALED_TOKEN.findall(created.content.decode())[0]

    api_key = _key(token)
    audit = AuditLogEntry.objects.get(action="api_key.created", object_id=api_key.public_id)
    event = Event.objects.get(type="api_key.created", object_id=api_key.public_id)
    assert audit.actor_kind == "merchant_user"
    assert audit.actor_identifier == owner.email
    assert audit.merchant == tenant.merchant
    assert audit.before is None
    assert audit.after == api_key_data(api_key)
    assert event.merchant == tenant.merchant
    assert event.livemode is False
    assert event.data == api_key_data(api_key)
    assert token not in str(audit.after)
    assert token not in str(event.data)
    # the token never reaches the session store
    assert all(token not in str(session.get_decoded()) for session in Session.objects.all())


def test_a_live_key_for_a_pending_merchant_is_refused_with_a_message_and_no_row(db: None) -> None:
    merchant = make_merchant(name="Pending Shop", approved=False)
    owner = make_member(merchant=merchant)
    client = _signed_in(owner)
    before = row_counts()

    response = _live(client).post("/merchant/developers/api-keys", {"kind": "secret"})
    page = client.get("/merchant/developers")

    assert response.status_code == 302
    assert response["Location"] == "/merchant/developers"
    assert _messages(page) == ["Live keys are issued once the merchant is approved."]
    assert "Live keys are issued once the merchant is approved." in page.content.decode()
    assert 'id="revealed-token"' not in page.content.decode()
    assert not ApiKey.objects.filter(merchant=merchant).exists()
    assert row_counts() == before


def test_an_invalid_key_form_is_refused_with_a_message_and_no_row(tenant: Tenant) -> None:
    client = _signed_in(make_member(merchant=tenant.merchant))
    before = row_counts()
    keys_before = ApiKey.objects.count()

    response = client.post("/merchant/developers/api-keys", {"kind": "root"})

    assert response.status_code == 400
    assert "Select a valid choice. root is not one of the available choices." in response.content.decode()
    assert ApiKey.objects.count() == keys_before
    assert row_counts() == before


def test_an_analyst_cannot_create_or_revoke_keys(tenant: Tenant) -> None:
    analyst = make_member(merchant=tenant.merchant, role=Membership.Role.ANALYST)
    client = _signed_in(analyst)
    before = row_counts()
    keys_before = ApiKey.objects.count()
    test_key = _key(tenant.test_key)

    page = client.get("/merchant/developers")
    create = client.post("/merchant/developers/api-keys", {"kind": "secret"})
    revoke = client.post(f"/merchant/developers/api-keys/{test_key.public_id}/revoke")

    assert page.status_code == 200
    assert "Analysts have read-only access." in page.content.decode()
    assert "Create a key" not in page.content.decode()
    assert f"/merchant/developers/api-keys/{test_key.public_id}/revoke" not in page.content.decode()
    for response in (create, revoke):
        assert response.status_code == 403
        assert response.content == b"Analysts have read-only access. Ask an owner or admin."
    assert ApiKey.objects.count() == keys_before
    assert list(ApiKey.objects.values_list("revoked_at", flat=True)) == [None, None]
    assert row_counts() == before
    assert ApiClient(tenant.test_key).get("/api/v1/account").status_code == 200


def test_creating_a_key_needs_a_post(tenant: Tenant) -> None:
    client = _signed_in(make_member(merchant=tenant.merchant))
    before = row_counts()

    response = client.get("/merchant/developers/api-keys", {"kind": "secret"})

    assert response.status_code == 405
    assert row_counts() == before


# --- Revoking keys ------------------------------------------------------------------------------


def test_the_owner_revokes_a_key_with_an_audit_row_and_an_event(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    test_key = _key(tenant.test_key)
    moment = clock.real_now()

    with time_machine.travel(moment, tick=False):
        client = _signed_in(owner)
        response = confirmed_post(client, f"/merchant/developers/api-keys/{test_key.public_id}/revoke")
        page = client.get("/merchant/developers")

    revoked = _key(tenant.test_key)
    assert response.status_code == 302
    assert response["Location"] == "/merchant/developers"
    assert _messages(page) == [f"Key {test_key.token_hint} revoked."]
    assert revoked.revoked_at == moment
    assert _key(tenant.live_key).revoked_at is None
    audit = AuditLogEntry.objects.get(action="api_key.revoked")
    assert audit.actor_kind == "merchant_user"
    assert audit.actor_identifier == owner.email
    assert audit.object_id == test_key.public_id
    assert audit.merchant == tenant.merchant
    assert audit.after == api_key_data(revoked)
    assert audit.before == {**api_key_data(revoked), "revoked_at": None}
    event = Event.objects.get(type="api_key.revoked")
    assert event.object_id == test_key.public_id
    assert event.merchant == tenant.merchant
    assert event.livemode is False
    assert event.data == api_key_data(revoked)
    assert ApiClient(tenant.test_key).get("/api/v1/account").json()["error"]["code"] == "api_key_revoked"
    assert ApiClient(tenant.live_key).get("/api/v1/account").status_code == 200


def test_an_admin_member_may_revoke_too(tenant: Tenant) -> None:
    client = _live(_signed_in(make_member(merchant=tenant.merchant, role=Membership.Role.ADMIN)))

    response = confirmed_post(client, f"/merchant/developers/api-keys/{_key(tenant.live_key).public_id}/revoke")

    assert response.status_code == 302
    assert _key(tenant.live_key).revoked_at is not None


def test_revoking_another_merchants_key_is_not_found_and_changes_nothing(tenant: Tenant, other_tenant: Tenant) -> None:
    client = _signed_in(make_member(merchant=tenant.merchant))
    theirs = _key(other_tenant.test_key)
    before = row_counts()

    response = client.post(f"/merchant/developers/api-keys/{theirs.public_id}/revoke")

    assert response.status_code == 404
    assert _key(other_tenant.test_key).revoked_at is None
    assert row_counts() == before
    assert ApiClient(other_tenant.test_key).get("/api/v1/account").status_code == 200


@pytest.mark.parametrize("key_id", ["key_doesnotexist000000000000", "not a key", "x" * 500])
def test_revoking_an_unknown_key_id_is_not_found(tenant: Tenant, key_id: str) -> None:
    client = _signed_in(make_member(merchant=tenant.merchant))
    before = row_counts()

    response = client.post(f"/merchant/developers/api-keys/{key_id}/revoke")

    assert response.status_code == 404
    assert list(ApiKey.objects.values_list("revoked_at", flat=True)) == [None, None]
    assert row_counts() == before


def test_revoking_twice_writes_one_audit_row(tenant: Tenant) -> None:
    client = _signed_in(make_member(merchant=tenant.merchant))
    key_id = _key(tenant.test_key).public_id

    first = confirmed_post(client, f"/merchant/developers/api-keys/{key_id}/revoke")
    revoked_at = _key(tenant.test_key).revoked_at
    second = confirmed_post(client, f"/merchant/developers/api-keys/{key_id}/revoke")

    assert first.status_code == second.status_code == 302
    assert _key(tenant.test_key).revoked_at == revoked_at
    assert AuditLogEntry.objects.filter(action="api_key.revoked").count() == 1
    assert Event.objects.filter(type="api_key.revoked").count() == 1


def test_signing_out_ends_the_session(tenant: Tenant) -> None:
    client = _signed_in(make_member(merchant=tenant.merchant))

    response = client.post("/merchant/logout")
    after = client.get("/merchant/")

    assert response.status_code == 302
    assert response["Location"] == "/merchant/login"
    assert after.status_code == 302
    assert after["Location"] == "/merchant/login?next=/merchant/"


def test_the_revealed_token_is_not_shown_to_another_session(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    first, second = _signed_in(owner), _signed_in(owner, backup_code=True)

    own_view = first.post("/merchant/developers/api-keys", {"kind": "secret"})
    other_view = second.get("/merchant/developers")

    assert 'id="revealed-token"' not in other_view.content.decode()
    assert len(REVEALED_TOKEN.findall(own_view.content.decode())) == 1
