"""Operators' admin: merchant approval, suspension and reinstatement (audited, as the operator), API
keys shown by hint only, a read-only audit log, and the sandbox clock's buttons."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.contrib.messages import constants as message_levels
from django.test import Client

from bnpl.accounts.models import User
from bnpl.core import clock
from bnpl.core.models import AuditLogEntry, ClockState, Event
from bnpl.tenancy.keys import api_key_hash
from merchants import services
from merchants.models import ApiKey, Merchant
from merchants.representations import merchant_data
from tests.bnpl.accounts.factories import make_user
from tests.conftest import ApiClient
from tests.helpers import row_counts, verified_client
from tests.merchants.factories import Tenant, make_merchant

CHANGELIST = "/admin/merchants/merchant/"


@pytest.fixture
def operator(db: None) -> User:
    return make_user(email="ops@lender.example", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(operator: User) -> Client:
    client = Client()
    verified_client(operator, client=client)
    return client


def _act(client: Client, action: str, *merchants: Merchant) -> Any:
    return client.post(
        CHANGELIST, {"action": action, "_selected_action": [merchant.pk for merchant in merchants]}, follow=True
    )


def _messages(response: object) -> list[tuple[int, str]]:
    return [(message.level, message.message) for message in response.context["messages"]]  # type: ignore[attr-defined]


def _account_status(token: str) -> tuple[int, str | None]:
    response = ApiClient(token).get("/api/v1/account")
    body = response.json()
    return response.status_code, body["error"]["code"] if "error" in body else body["status"]


# --- Merchant actions ---------------------------------------------------------------------------


def test_approving_a_pending_merchant_opens_live_mode_audited_as_the_operator(
    admin_client: Client, operator: User
) -> None:
    merchant = make_merchant(name="Pending Shop", approved=False)
    before_data = merchant_data(merchant)
    moment = clock.real_now()

    with time_machine.travel(moment, tick=False):
        response = _act(admin_client, "approve", merchant)

    merchant.refresh_from_db()
    assert response.status_code == 200
    assert _messages(response) == [(message_levels.SUCCESS, "Pending Shop: approved.")]
    assert merchant.status == Merchant.Status.ACTIVE
    assert merchant.approved_at == moment
    assert merchant.suspended_at is None
    audit = AuditLogEntry.objects.get(action="merchant.approved")
    assert audit.actor_kind == "operator"
    assert audit.actor_identifier == "ops@lender.example"
    assert audit.object_id == merchant.public_id
    assert audit.merchant == merchant
    assert audit.before == before_data
    assert audit.after == merchant_data(merchant)
    assert audit.before["status"] == "pending"
    assert audit.after["status"] == "active"
    events = Event.objects.filter(type="merchant.approved").order_by("livemode")
    assert [(event.object_id, event.livemode) for event in events] == [
        (merchant.public_id, False),
        (merchant.public_id, True),
    ]
    assert all(event.data == merchant_data(merchant) for event in events)
    assert all(event.request_id == audit.request_id != "" for event in events)
    live_key = services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=True).token
    assert _account_status(live_key) == (200, "active")


def test_suspending_refuses_every_key_and_reinstating_restores_them(admin_client: Client, tenant: Tenant) -> None:
    publishable = services.api_key_create(merchant=tenant.merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=True).token
    second_secret = services.api_key_create(merchant=tenant.merchant, kind=ApiKey.Kind.SECRET, livemode=False).token
    every_key = [tenant.test_key, tenant.live_key, publishable, second_secret]

    suspended = _act(admin_client, "suspend", tenant.merchant)
    while_suspended = [_account_status(token) for token in every_key]
    suspended_merchant = Merchant.objects.get(pk=tenant.merchant.pk)
    reinstated = _act(admin_client, "reinstate", tenant.merchant)
    after_reinstating = [_account_status(token) for token in (tenant.test_key, tenant.live_key, second_secret)]

    assert _messages(suspended) == [(message_levels.SUCCESS, "Merchant A: suspended.")]
    assert suspended_merchant.status == Merchant.Status.SUSPENDED
    assert suspended_merchant.suspended_at is not None
    assert while_suspended == [(403, "merchant_suspended")] * 4
    assert _messages(reinstated) == [(message_levels.SUCCESS, "Merchant A: reinstated.")]
    merchant = Merchant.objects.get(pk=tenant.merchant.pk)
    assert merchant.status == Merchant.Status.ACTIVE
    assert merchant.suspended_at is None
    assert merchant.approved_at == tenant.merchant.approved_at
    assert after_reinstating == [(200, "active")] * 3
    assert list(
        AuditLogEntry.objects.filter(action__in=["merchant.suspended", "merchant.reinstated"])
        .order_by("id")
        .values_list("action", "actor_kind", "before__status", "after__status")
    ) == [
        ("merchant.suspended", "operator", "active", "suspended"),
        ("merchant.reinstated", "operator", "suspended", "active"),
    ]


def test_reinstating_a_merchant_never_approved_returns_it_to_pending(admin_client: Client) -> None:
    merchant = make_merchant(name="Never Approved", approved=False)
    _act(admin_client, "suspend", merchant)

    response = _act(admin_client, "reinstate", merchant)

    merchant.refresh_from_db()
    assert _messages(response) == [(message_levels.SUCCESS, "Never Approved: reinstated.")]
    assert merchant.status == Merchant.Status.PENDING
    assert merchant.approved_at is None


def test_approving_an_active_merchant_shows_an_error_and_changes_nothing(admin_client: Client, tenant: Tenant) -> None:
    before = row_counts()
    approved_at = tenant.merchant.approved_at

    response = _act(admin_client, "approve", tenant.merchant)

    merchant = Merchant.objects.get(pk=tenant.merchant.pk)
    assert response.status_code == 200
    [(level, text)] = _messages(response)
    assert level == message_levels.ERROR
    assert text.startswith("Merchant A: ")
    assert text.endswith(" active merchant cannot be approved.")
    assert merchant.status == Merchant.Status.ACTIVE
    assert merchant.approved_at == approved_at
    assert row_counts() == before
    assert _account_status(tenant.live_key) == (200, "active")


def test_the_error_for_approving_an_active_merchant_reads_correctly(admin_client: Client, tenant: Tenant) -> None:
    response = _act(admin_client, "approve", tenant.merchant)

    # The article agrees with the status ("An active …").
    assert _messages(response) == [(message_levels.ERROR, "Merchant A: An active merchant cannot be approved.")]


def test_one_refusal_does_not_stop_the_other_merchants_in_the_selection(admin_client: Client, tenant: Tenant) -> None:
    pending = make_merchant(name="Pending Shop", approved=False)

    response = _act(admin_client, "approve", tenant.merchant, pending)

    pending.refresh_from_db()
    assert pending.status == Merchant.Status.ACTIVE
    assert Merchant.objects.get(pk=tenant.merchant.pk).status == Merchant.Status.ACTIVE
    assert [level for level, _ in _messages(response)] == [message_levels.ERROR, message_levels.SUCCESS]
    assert AuditLogEntry.objects.filter(action="merchant.approved", merchant=pending).count() == 1
    assert (
        AuditLogEntry.objects.filter(
            action="merchant.approved", merchant=tenant.merchant, actor_kind="operator"
        ).count()
        == 0
    )


def test_a_merchant_user_cannot_use_the_admin(tenant: Tenant) -> None:
    staffless = Client()
    staffless.force_login(make_user(password="pw-for-tests-1"))
    before = row_counts()

    response = staffless.post(CHANGELIST, {"action": "suspend", "_selected_action": [tenant.merchant.pk]})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert Merchant.objects.get(pk=tenant.merchant.pk).status == Merchant.Status.ACTIVE
    assert row_counts() == before


# --- API keys -----------------------------------------------------------------------------------


def test_the_api_key_pages_never_show_the_hash_or_the_secret(admin_client: Client, tenant: Tenant) -> None:
    api_key = ApiKey.objects.get(token_hash=api_key_hash(tenant.test_key))

    change = admin_client.get(f"/admin/merchants/apikey/{api_key.pk}/change/")
    changelist = admin_client.get("/admin/merchants/apikey/")

    for response in (change, changelist):
        content = response.content.decode()
        assert response.status_code == 200
        assert api_key.token_hint in content
        assert api_key.token_hash not in content
        assert tenant.test_key not in content
        assert tenant.live_key not in content
        assert "token_hash" not in content
    assert "token_hash" not in change.context["adminform"].form.fields
    assert "token_hash" not in [
        field for fieldset in change.context["adminform"] for line in fieldset for field in line
    ]


def test_api_keys_cannot_be_added_or_deleted_in_the_admin(admin_client: Client, tenant: Tenant) -> None:
    api_key = ApiKey.objects.get(token_hash=api_key_hash(tenant.test_key))
    keys_before = ApiKey.objects.count()

    add = admin_client.get("/admin/merchants/apikey/add/")
    delete = admin_client.post(f"/admin/merchants/apikey/{api_key.pk}/delete/", {"post": "yes"})

    assert add.status_code == 403
    assert delete.status_code == 403
    assert ApiKey.objects.count() == keys_before


def test_the_operator_revokes_keys_from_the_admin(admin_client: Client, tenant: Tenant) -> None:
    api_key = ApiKey.objects.get(token_hash=api_key_hash(tenant.test_key))

    response = admin_client.post(
        "/admin/merchants/apikey/", {"action": "revoke", "_selected_action": [api_key.pk]}, follow=True
    )

    assert _messages(response) == [(message_levels.SUCCESS, "1 key(s) revoked.")]
    assert _account_status(tenant.test_key) == (401, "api_key_revoked")
    audit = AuditLogEntry.objects.get(action="api_key.revoked")
    assert (audit.actor_kind, audit.actor_identifier, audit.object_id) == (
        "operator",
        "ops@lender.example",
        api_key.public_id,
    )


# --- Audit log ----------------------------------------------------------------------------------


def test_the_audit_log_admin_cannot_add_change_or_delete(admin_client: Client, tenant: Tenant) -> None:
    entry = AuditLogEntry.objects.filter(merchant=tenant.merchant).order_by("id").first()
    assert entry is not None
    before = row_counts()
    snapshot = list(AuditLogEntry.objects.order_by("id").values())

    changelist = admin_client.get("/admin/core/auditlogentry/")
    add_page = admin_client.get("/admin/core/auditlogentry/add/")
    add_post = admin_client.post("/admin/core/auditlogentry/add/", {"action": "forged", "actor_kind": "operator"})
    change_post = admin_client.post(f"/admin/core/auditlogentry/{entry.pk}/change/", {"action": "tampered"})
    delete_post = admin_client.post(f"/admin/core/auditlogentry/{entry.pk}/delete/", {"post": "yes"})
    bulk_delete = admin_client.post(
        "/admin/core/auditlogentry/", {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )

    assert changelist.status_code == 200
    assert "/admin/core/auditlogentry/add/" not in changelist.content.decode()
    assert "delete_selected" not in changelist.content.decode()
    assert add_page.status_code == 403
    assert add_post.status_code == 403
    assert change_post.status_code == 403
    assert delete_post.status_code == 403
    assert bulk_delete.status_code == 200  # no actions at all: the list is shown again
    assert row_counts() == before
    assert list(AuditLogEntry.objects.order_by("id").values()) == snapshot


def test_the_audit_log_entry_page_is_read_only(admin_client: Client, tenant: Tenant) -> None:
    entry = AuditLogEntry.objects.filter(merchant=tenant.merchant).order_by("id").first()
    assert entry is not None

    response = admin_client.get(f"/admin/core/auditlogentry/{entry.pk}/change/")

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert response.context["has_delete_permission"] is False
    assert 'name="_save"' not in response.content.decode()


# --- Sandbox clock ------------------------------------------------------------------------------


def test_the_plus_one_day_button_moves_the_project_clock_a_day(admin_client: Client) -> None:
    with time_machine.travel(clock.real_now(), tick=False):
        before = clock.now()

        response = admin_client.post("/admin/core/clockstate/advance/1/")

        after = clock.now()

    assert response.status_code == 302
    assert response["Location"] == "/admin/core/clockstate/"
    assert after - before == dt.timedelta(days=1)
    assert ClockState.objects.get().offset_seconds == 86_400
    audit = AuditLogEntry.objects.get(action="clock.advanced")
    assert (audit.actor_kind, audit.actor_identifier) == ("operator", "ops@lender.example")
    assert audit.before == {"offset_seconds": 0}
    assert audit.after is not None and audit.after["offset_seconds"] == 86_400
    assert Event.objects.filter(type="clock.advanced").count() == 1


def test_a_staff_user_without_permissions_cannot_move_the_clock(db: None) -> None:
    support = Client()
    verified_client(make_user(email="support@lender.example", is_staff=True), client=support)
    before = row_counts()

    page = support.get("/admin/core/clockstate/")
    response = support.post("/admin/core/clockstate/advance/7/")

    # admin_view only checks is_staff: moving the clock needs the core.advance_clock permission too.
    assert page.status_code == 403
    assert response.status_code == 403
    assert clock.offset() == dt.timedelta(0)
    assert row_counts() == before


def test_the_clock_page_shows_the_buttons_and_a_get_moves_nothing(admin_client: Client) -> None:
    before = row_counts()

    page = admin_client.get("/admin/core/clockstate/")
    get_advance = admin_client.get("/admin/core/clockstate/advance/1/")

    assert page.status_code == 200
    assert 'action="/admin/core/clockstate/advance/1/"' in page.content.decode()
    assert get_advance.status_code == 302
    assert clock.offset() == dt.timedelta(0)
    assert row_counts() == before
