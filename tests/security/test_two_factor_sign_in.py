"""Finding: a password alone opened the operators' admin and a merchant owner's dashboard.

A phished or reused password gave full control: approving merchants, reading every credit decision,
or (as a merchant owner) issuing API keys, changing payout bank accounts and the team. Now a second
factor (TOTP, django-otp; bnpl.accounts.two_factor) is required:

* operators: no admin page — nor the operators' API — answers a session that has not passed it
  (OPERATOR_TWO_FACTOR_REQUIRED, which production refuses to turn off); the admin's sign-in asks
  for the code beside the password;
* merchant owners (MERCHANT_OWNER_TWO_FACTOR_REQUIRED): enroll from the dashboard (QR code and key,
  confirmed with a code, backup codes shown once) before any other page; anyone who enrolled is
  asked for a code after the password, and no dashboard page answers until they give it.

Enrolling and removing a second factor write an audit row and an event.
"""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from bnpl.accounts import two_factor
from bnpl.core import clock
from bnpl.core.models import AuditLogEntry, Event
from merchants import services
from merchants.models import Membership
from tests.bnpl.accounts.factories import make_user
from tests.helpers import operator_client, row_counts, totp_code, verified_client
from tests.merchants.factories import Tenant, make_member

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"


def _operator(**flags: Any) -> Any:
    return make_user(email="ops@lender.example", password=PASSWORD, **{"is_staff": True, "is_superuser": True, **flags})


def _authenticator(user: Any) -> TOTPDevice:
    device, _codes = two_factor.authenticator_issue(user=user)
    return device


def _password_only(user: Any) -> Client:
    """A session that passed the password and nothing else (as after the first sign-in step)."""
    client = Client()
    client.force_login(user)
    return client


def _admin_pages() -> list[str]:
    pages = ["/admin/", "/admin/core/clockstate/advance/1/", "/admin/decisioning/modelversion/monitoring/"]
    for model in admin.site._registry:
        pages.append(f"/admin/{model._meta.app_label}/{model._meta.model_name}/")
    return pages


# --- Operators ------------------------------------------------------------------------------------


def test_an_operators_password_alone_opens_no_admin_page() -> None:
    operator = _operator()
    _authenticator(operator)
    client = _password_only(operator)

    responses = {page: client.get(page) for page in _admin_pages()}

    assert len(responses) >= 25
    for page, response in responses.items():
        assert response.status_code == 302, page
        assert response["Location"].startswith("/admin/login/"), page


def test_an_operator_without_an_authenticator_is_refused_too() -> None:
    client = _password_only(_operator())

    index = client.get("/admin/")
    signing_in = Client().post("/admin/login/", {"username": "ops@lender.example", "password": PASSWORD})

    assert index.status_code == 302 and index["Location"].startswith("/admin/login/")
    assert signing_in.status_code == 200
    assert "manage.py two_factor_enroll" in signing_in.content.decode()
    assert "_auth_user_id" not in signing_in.wsgi_request.session


def test_the_admin_sign_in_asks_for_the_code_beside_the_password() -> None:
    operator = _operator()
    device = _authenticator(operator)
    client = Client()

    page = client.get("/admin/login/")
    without_code = client.post("/admin/login/", {"username": operator.email, "password": PASSWORD})
    wrong_code = client.post("/admin/login/", {"username": operator.email, "password": PASSWORD, "otp_token": "000000"})
    assert client.get("/admin/").status_code == 302
    with time_machine.travel(clock.real_now() + dt.timedelta(seconds=2), tick=False):  # the wait after a wrong code
        right_code = client.post(
            "/admin/login/?next=/admin/",
            {"username": operator.email, "password": PASSWORD, "otp_token": totp_code(device)},
        )
        index = client.get("/admin/")

    assert 'name="otp_token"' in page.content.decode()
    assert (
        without_code.status_code == 200
        and "Enter the code from your authenticator app." in without_code.content.decode()
    )
    assert wrong_code.status_code == 200 and "That code is not right" in wrong_code.content.decode()
    assert right_code.status_code == 302 and right_code["Location"] == "/admin/"
    assert index.status_code == 200


def test_a_backup_code_signs_an_operator_in_once() -> None:
    operator = _operator()
    _device, codes = two_factor.authenticator_issue(user=operator)

    first = Client().post("/admin/login/", {"username": operator.email, "password": PASSWORD, "otp_token": codes[0]})
    again = Client().post("/admin/login/", {"username": operator.email, "password": PASSWORD, "otp_token": codes[0]})

    assert first.status_code == 302
    assert again.status_code == 200 and "_auth_user_id" not in again.wsgi_request.session
    assert StaticToken.objects.filter(device__user=operator).count() == two_factor.BACKUP_CODE_COUNT - 1


def test_the_operators_api_refuses_a_password_only_session() -> None:
    operator = _operator()
    _authenticator(operator)

    refused = _password_only(operator).get("/ops/api/v1/credit-decisions")
    allowed = verified_client(operator).get("/ops/api/v1/credit-decisions")

    assert refused.status_code == 403
    assert allowed.status_code == 200


def test_with_the_requirement_off_an_operator_who_enrolled_still_needs_the_code(settings: Any) -> None:
    settings.OPERATOR_TWO_FACTOR_REQUIRED = False
    enrolled = _operator()
    _authenticator(enrolled)
    not_enrolled = make_user(email="ops2@lender.example", is_staff=True, is_superuser=True)

    assert _password_only(enrolled).get("/admin/").status_code == 302
    assert _password_only(not_enrolled).get("/admin/").status_code == 200


def test_the_enroll_command_prints_the_key_and_backup_codes_once_and_is_audited() -> None:
    operator = _operator()
    out = StringIO()

    call_command("two_factor_enroll", operator.email, "--no-qr", stdout=out)

    printed = out.getvalue()
    key = re.search(r"key \(time-based, 6 digits, 30 s\): ([A-Z2-7 ]+)\n", printed)
    codes = re.search(r"backup codes \(each works once\): (.+)\n", printed)
    assert key and codes and len(codes.group(1).split()) == two_factor.BACKUP_CODE_COUNT
    assert "otpauth://totp/BNPL%3Aops%40lender.example?secret=" in printed and "&issuer=BNPL" in printed
    signed_in = Client().post(
        "/admin/login/", {"username": operator.email, "password": PASSWORD, "otp_token": totp_code(key.group(1))}
    )
    assert signed_in.status_code == 302
    audit = AuditLogEntry.objects.get(action="two_factor.enrolled")
    assert (audit.actor_label, audit.object_id) == ("two_factor_enroll", str(operator.pk))
    assert audit.after is not None
    assert audit.after["method"] == "issued" and audit.after["operator"] is True
    assert key.group(1).replace(" ", "") not in str(audit.after)
    assert Event.objects.filter(type="two_factor.enrolled", object_id=str(operator.pk)).count() == 1


def test_an_operator_removes_a_lost_phone_in_the_admin_audited() -> None:
    owner = make_user(email="owner@shop.example")
    device = _authenticator(owner)
    client = operator_client()

    response = client.post(
        "/admin/otp_totp/totpdevice/", {"action": "remove_second_factor", "_selected_action": [device.pk]}, follow=True
    )

    assert response.status_code == 200
    assert not TOTPDevice.objects.filter(user=owner).exists()
    assert not StaticDevice.objects.filter(user=owner).exists()
    assert AuditLogEntry.objects.filter(action="two_factor.removed", object_id=str(owner.pk)).count() == 1
    assert Event.objects.filter(type="two_factor.removed", object_id=str(owner.pk)).count() == 1


def test_the_admin_never_shows_or_edits_a_key_or_a_backup_code() -> None:
    owner = make_user(email="owner@shop.example")
    device, codes = two_factor.authenticator_issue(user=owner)
    client = verified_client(_operator())

    listing = client.get("/admin/otp_totp/totpdevice/").content.decode()
    detail = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/").content.decode()
    edit = client.post(f"/admin/otp_totp/totpdevice/{device.pk}/change/", {"key": "00" * 20, "confirmed": "on"})
    static_list = client.get("/admin/otp_static/staticdevice/")

    for page in (listing, detail):
        assert device.key not in page and two_factor.authenticator_setup(device).manual_key not in page
        assert not any(code in page for code in codes)
    assert edit.status_code == 403
    assert TOTPDevice.objects.get(pk=device.pk).key == device.key
    assert static_list.status_code == 404


# --- Merchant owners ------------------------------------------------------------------------------


def test_an_owner_who_enrolled_is_asked_for_the_code_after_the_password(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    device = _authenticator(owner)
    client = Client()

    password_step = client.post(
        "/merchant/login?next=/merchant/orders", {"username": owner.email, "password": PASSWORD}
    )
    pages_before_the_code = [client.get(path) for path in ("/merchant/", "/merchant/developers", "/merchant/team")]
    wrong = client.post("/merchant/login/verify", {"token": "123456", "next": "/merchant/orders"})
    with time_machine.travel(clock.real_now() + dt.timedelta(seconds=2), tick=False):
        right = client.post("/merchant/login/verify", {"token": totp_code(device), "next": "/merchant/orders"})
        orders = client.get("/merchant/orders")

    assert password_step.status_code == 302
    assert password_step["Location"] == "/merchant/login/verify?next=%2Fmerchant%2Forders"
    for response in pages_before_the_code:
        assert response.status_code == 302 and response["Location"].startswith("/merchant/login/verify?next=")
    assert wrong.status_code == 400 and "That code is not right" in wrong.content.decode()
    assert right.status_code == 302 and right["Location"] == "/merchant/orders"
    assert orders.status_code == 200


def test_a_password_only_session_cannot_write_anything_in_the_dashboard(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    _authenticator(owner)
    client = _password_only(owner)
    before = row_counts()

    responses = [
        client.post("/merchant/developers/api-keys", {"kind": "secret"}),
        client.post("/merchant/team/invitations", {"email": "thief@example.com", "role": "owner"}),
        client.post(
            "/merchant/onboarding/bank-accounts", {"holder_name": "x", "routing_number": "1", "account_number": "2"}
        ),
        client.post("/merchant/account/security/remove", {"token": "000000"}),
    ]

    assert [response.status_code for response in responses] == [302] * 4
    assert all(response["Location"].startswith("/merchant/login/verify") for response in responses)
    assert row_counts() == before


def test_a_password_only_session_cannot_accept_an_invitation_as_that_user(tenant: Tenant, other_tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    _authenticator(owner)
    invitation = services.invitation_create(merchant=other_tenant.merchant, email=owner.email, role="owner")

    response = _password_only(owner).post(f"/merchant/invitations/{invitation.token}")

    assert response.status_code == 302 and response["Location"].startswith("/merchant/login/verify")
    assert not Membership.objects.filter(merchant=other_tenant.merchant, user=owner).exists()


def test_an_owner_without_an_authenticator_is_sent_to_enroll_before_any_page(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    client = _password_only(owner)

    pages = [client.get(path) for path in ("/merchant/", "/merchant/orders", "/merchant/developers", "/merchant/team")]
    writes = [client.post("/merchant/developers/api-keys", {"kind": "secret"})]
    security = client.get("/merchant/account/security")

    for response in [*pages, *writes]:
        assert response.status_code == 302 and response["Location"] == "/merchant/account/security"
    assert security.status_code == 200
    assert "Required for owners" in security.content.decode()


def test_an_owner_enrolls_with_the_qr_code_or_key_and_sees_the_backup_codes_once(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    client = _password_only(owner)

    started = client.post("/merchant/account/security/start")
    page = client.get("/merchant/account/security").content.decode()
    key = re.search(r'id="manual-key">([A-Z2-7 ]+)<', page)
    assert key is not None
    wrong = client.post("/merchant/account/security/confirm", {"token": "000000"})
    enrolled_by_a_wrong_code = two_factor.has_second_factor(owner)
    confirmed = client.post("/merchant/account/security/confirm", {"token": totp_code(key.group(1))})
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", confirmed.content.decode())
    reloaded = client.get("/merchant/account/security").content.decode()
    dashboard = client.get("/merchant/")

    assert started.status_code == 302
    assert 'src="data:image/svg+xml' in page and 'alt="QR code' in page
    assert wrong.status_code == 400 and not enrolled_by_a_wrong_code
    assert confirmed.status_code == 200 and confirmed["Cache-Control"] == "no-store"
    assert len(codes) == two_factor.BACKUP_CODE_COUNT
    assert not any(code in reloaded for code in codes)
    assert f"{two_factor.BACKUP_CODE_COUNT} backup codes left" in reloaded
    assert dashboard.status_code == 200  # the session that enrolled has passed the second factor
    audit = AuditLogEntry.objects.get(action="two_factor.enrolled", object_id=str(owner.pk))
    assert audit.actor_identifier == owner.email
    assert audit.before == {"enrolled": False}
    assert audit.after == {
        "user": str(owner.pk),
        "operator": False,
        "enrolled": True,
        "method": "authenticator_app",
        "replaced": False,
        "backup_codes": two_factor.BACKUP_CODE_COUNT,
    }
    event = Event.objects.get(type="two_factor.enrolled", object_id=str(owner.pk))
    assert event.merchant is None and event.data == audit.after


def test_confirming_twice_keeps_one_authenticator(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    client = _password_only(owner)
    client.post("/merchant/account/security/start")
    client.post("/merchant/account/security/start")
    device = TOTPDevice.objects.get(user=owner)

    first = client.post("/merchant/account/security/confirm", {"token": totp_code(device)})
    again = client.post("/merchant/account/security/confirm", {"token": totp_code(device)})

    assert first.status_code == 200 and again.status_code == 302
    assert TOTPDevice.objects.filter(user=owner).count() == 1
    assert AuditLogEntry.objects.filter(action="two_factor.enrolled").count() == 1


def test_turning_it_off_takes_a_current_code_and_is_audited(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    _device, codes = two_factor.authenticator_issue(user=owner)
    client = verified_client(owner)

    refused = client.post("/merchant/account/security/remove", {"token": "not-a-code"})
    still_on = two_factor.has_second_factor(owner)
    with time_machine.travel(clock.real_now() + dt.timedelta(seconds=2), tick=False):  # the wait after a wrong code
        removed = client.post("/merchant/account/security/remove", {"token": codes[0]})
        next_page = client.get("/merchant/orders")

    assert refused.status_code == 400 and still_on
    assert removed.status_code == 302 and not two_factor.has_second_factor(owner)
    assert next_page.status_code == 302 and next_page["Location"] == "/merchant/account/security"
    assert AuditLogEntry.objects.filter(action="two_factor.removed", object_id=str(owner.pk)).count() == 1
    assert Event.objects.filter(type="two_factor.removed", object_id=str(owner.pk)).count() == 1


def test_members_who_are_not_owners_may_but_need_not_enroll(tenant: Tenant) -> None:
    analyst = make_member(merchant=tenant.merchant, role=Membership.Role.ANALYST)

    page = _password_only(analyst).get("/merchant/orders")

    assert page.status_code == 200


def test_with_the_owner_requirement_off_an_owner_need_not_enroll(tenant: Tenant, settings: Any) -> None:
    settings.MERCHANT_OWNER_TWO_FACTOR_REQUIRED = False
    owner = make_member(merchant=tenant.merchant)
    enrolled = make_member(merchant=tenant.merchant)
    _authenticator(enrolled)

    assert _password_only(owner).get("/merchant/orders").status_code == 200
    assert _password_only(enrolled).get("/merchant/orders").status_code == 302  # enrolled: the code, always
