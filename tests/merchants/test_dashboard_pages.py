"""The dashboard's sections through the Django test client: onboarding and the operators' queue,
order operations with confirmation, CSV exports, webhooks (test event, secret, replay), keys
rolled, team invitations, product settings and the branding the hosted checkout shows."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bnpl.core.models import AuditLogEntry, Event
from bnpl.plans.models import PaymentProduct
from bnpl.tenancy.keys import api_key_hash
from merchants.models import (
    ApiKey,
    BankAccount,
    Branding,
    BusinessProfile,
    Membership,
    Merchant,
    WebhookDelivery,
)
from tests.bnpl.accounts.factories import make_user
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session
from tests.conftest import ApiClient
from tests.helpers import confirmed_post, totp_code, verified_client
from tests.merchants.conftest import WebhookReceiver
from tests.merchants.factories import Tenant, make_member, make_merchant, make_settlement

PROFILE = {
    "legal_name": "Acme Outfitters LLC",
    "registration_number": "C1234567",
    "tax_number": "12-3456789",
    "address_line1": "1 Market St",
    "city": "San Francisco",
    "region": "CA",
    "postal_code": "94105",
    "country": "us",
    "website": "https://acme.example.com",
    "category": "apparel",
    "expected_monthly_volume": "25000.00",
}
BANK = {
    "holder_name": "Acme Outfitters LLC",
    "bank_name": "First Bank",
    "routing_number": "110000000",
    "account_number": "000123456789",
    "currency": "USD",
}


def _client(user: object) -> Client:
    client = Client()
    verified_client(user, client=client)
    return client


def _pdf() -> SimpleUploadedFile:
    return SimpleUploadedFile("registration.pdf", b"%PDF-1.4 certificate", content_type="application/pdf")


# --- Onboarding ---------------------------------------------------------------------------------


def test_a_merchant_signs_up_applies_and_is_approved_by_an_operator(db: None) -> None:
    client = Client()
    signup = client.post(
        "/merchant/signup",
        {
            "business_name": "Acme",
            "email": "Owner@Acme.example.com",
            "password": "a-long-pass-phrase",
            "currency": "USD",
        },
    )
    merchant = Merchant.objects.get(name="Acme")
    membership = Membership.objects.get(merchant=merchant)

    assert signup.status_code == 302 and signup["Location"] == "/merchant/onboarding"
    assert merchant.status == Merchant.Status.PENDING
    assert membership.role == "owner" and membership.user.email == "owner@acme.example.com"
    # a new owner sets up two-step sign-in before anything else
    assert client.get("/merchant/onboarding")["Location"] == "/merchant/account/security"
    assert client.post("/merchant/account/security/start").status_code == 302
    key = re.search(r'id="manual-key">([^<]+)<', client.get("/merchant/account/security").content.decode())
    assert key is not None
    assert client.post("/merchant/account/security/confirm", {"token": totp_code(key.group(1))}).status_code == 200
    # test keys at once, live keys refused before approval
    assert client.post("/merchant/developers/api-keys", {"kind": "secret"}).status_code == 200
    client.post("/merchant/mode", {"livemode": "true"})
    client.post("/merchant/developers/api-keys", {"kind": "secret"})
    assert not ApiKey.objects.filter(merchant=merchant, livemode=True).exists()
    client.post("/merchant/mode", {"livemode": "false"})

    incomplete = client.post("/merchant/onboarding/submit")
    assert incomplete.status_code == 302
    assert BusinessProfile.objects.get(merchant=merchant).status == "draft"

    assert client.post("/merchant/onboarding/profile", PROFILE).status_code == 302
    assert client.post("/merchant/onboarding/bank-accounts", BANK).status_code == 302
    assert client.post("/merchant/onboarding/documents", {"kind": "registration", "file": _pdf()}).status_code == 302
    assert client.post("/merchant/onboarding/submit").status_code == 302

    profile = BusinessProfile.objects.get(merchant=merchant)
    account = BankAccount.objects.get(merchant=merchant)
    assert profile.status == "submitted"
    assert profile.country == "US" and profile.expected_monthly_volume_amount == 2_500_000
    assert account.account_number == "000123456789" and account.account_number_last4 == "6789"
    raw = BankAccount.objects.filter(pk=account.pk).values_list("account_number", flat=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT account_number FROM merchants_bankaccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert "000123456789" not in stored and list(raw) == ["000123456789"]
    assert "000123456789" not in str(list(AuditLogEntry.objects.filter(action="bank_account.added").values("after")))
    page = client.get("/merchant/onboarding").content.decode()
    assert "••••6789" in page and "000123456789" not in page

    operator = make_user(is_staff=True, is_superuser=True)
    admin = _client(operator)
    queue = admin.get("/admin/merchants/businessprofile/", follow=True)
    assert "Acme Outfitters LLC" in queue.content.decode()
    change_page = admin.get(f"/admin/merchants/businessprofile/{profile.pk}/change/").content.decode()
    assert "••••6789" in change_page and "000123456789" not in change_page
    assert 'id="decision-form"' in change_page and "registration.pdf" in change_page
    refused = admin.post(f"/admin/merchants/businessprofile/{profile.pk}/decide/", {"decision": "reject", "note": ""})
    assert refused.status_code == 302
    assert BusinessProfile.objects.get(pk=profile.pk).status == "submitted"  # a rejection needs a note
    approved = admin.post(f"/admin/merchants/businessprofile/{profile.pk}/decide/", {"decision": "approve", "note": ""})

    assert approved.status_code == 302
    assert BusinessProfile.objects.get(pk=profile.pk).status == "approved"
    assert Merchant.objects.get(pk=merchant.pk).status == "active"
    audit = AuditLogEntry.objects.get(action="business_profile.approved")
    assert audit.actor_identifier == operator.email and audit.before["status"] == "submitted"  # type: ignore[index]
    assert Event.objects.filter(type="business_profile.approved", object_id=profile.public_id).count() == 1
    assert Event.objects.filter(type="merchant.approved", object_id=merchant.public_id).count() == 2  # both modes
    client.post("/merchant/mode", {"livemode": "true"})
    live = client.post("/merchant/developers/api-keys", {"kind": "secret"})
    assert re.search(r"sk_live_[0-9A-Za-z]{32}", live.content.decode())
    document = admin.get(
        f"/admin/merchants/businessprofile/documents/{merchant.documents.get().public_id}/"  # type: ignore[attr-defined]
    )
    assert b"".join(document.streaming_content) == b"%PDF-1.4 certificate"  # type: ignore[attr-defined]


def test_an_operator_asks_for_more_and_the_merchant_submits_again(db: None) -> None:
    merchant = make_merchant(name="Needs More", approved=False)
    owner = make_member(merchant=merchant)
    client = _client(owner)
    client.post("/merchant/onboarding/profile", PROFILE)
    client.post("/merchant/onboarding/bank-accounts", BANK)
    client.post("/merchant/onboarding/documents", {"kind": "tax", "file": _pdf()})
    client.post("/merchant/onboarding/submit")
    profile = BusinessProfile.objects.get(merchant=merchant)
    admin = _client(make_user(is_staff=True, is_superuser=True))

    admin.post(
        f"/admin/merchants/businessprofile/{profile.pk}/decide/",
        {"decision": "request_information", "note": "Upload the certificate of registration."},
    )
    page = client.get("/merchant/onboarding").content.decode()
    locked = client.post("/merchant/onboarding/profile", {**PROFILE, "legal_name": "Changed"})
    resubmitted = client.post("/merchant/onboarding/submit")

    assert "Upload the certificate of registration." in page
    assert locked.status_code == 302
    assert resubmitted.status_code == 302
    assert BusinessProfile.objects.get(pk=profile.pk).status == "submitted"
    assert Merchant.objects.get(pk=merchant.pk).status == "pending"


def test_uploads_that_are_not_documents_are_refused(db: None) -> None:
    merchant = make_merchant(approved=False)
    client = _client(make_member(merchant=merchant))
    script = SimpleUploadedFile("x.html", b"<script>alert(1)</script>", content_type="text/html")

    response = client.post("/merchant/onboarding/documents", {"kind": "other", "file": script})

    assert response.status_code == 400
    assert "Upload a PDF, PNG or JPEG file: this file" in response.content.decode()
    assert not merchant.documents.exists()  # type: ignore[attr-defined]


# --- Orders -------------------------------------------------------------------------------------


def test_capture_and_refund_from_the_page_ask_first_then_act_once_through_the_services(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    client = _client(make_member(merchant=tenant.merchant, role=Membership.Role.ADMIN))
    path = f"/merchant/orders/{order.public_id}"

    asked = client.post(f"{path}/capture", {"amount": "60.00", "text": "box 1"})
    assert asked.status_code == 200
    assert "Capture <strong>$60.00</strong>" in asked.content.decode()
    order.refresh_from_db()
    assert order.captured_amount == 0  # nothing until confirmed
    token = asked.context["confirmation"]
    done = client.post(f"{path}/capture", {"amount": "60.00", "text": "box 1", "confirmation": token})
    again = client.post(f"{path}/capture", {"amount": "60.00", "text": "box 1", "confirmation": token})
    order.refresh_from_db()

    assert done.status_code == again.status_code == 302
    assert order.captured_amount == 6_000 and order.status == "part_captured"
    assert order.captures.get().merchant_reference == "box 1"  # type: ignore[attr-defined]

    refused = client.post(f"{path}/refund", {"amount": "70.00"})  # refused at the form, before asking
    assert refused.status_code == 400 and "confirmation" not in refused.context
    assert "At most $60.00 of this order can be refunded." in refused.content.decode()

    ask = client.post(f"{path}/refund", {"amount": "25.50", "text": "returned"})
    client.post(f"{path}/refund", {"amount": "25.50", "text": "returned", "confirmation": ask.context["confirmation"]})
    ask = client.post(f"{path}/void", {})
    client.post(f"{path}/void", {"confirmation": ask.context["confirmation"]})
    order.refresh_from_db()
    page = client.get(path).content.decode()

    assert order.refunded_amount == 2_550 and order.voided_amount == 4_000 and order.status == "captured"
    for sentence in (
        "authorized: capture it as you ship.",
        "Captured: $60.00",
        "Refunded: $25.50",
        "voided.",
        "plan started",
    ):
        assert sentence in page
    assert "<code>order." not in page  # plain words, no event names
    assert AuditLogEntry.objects.filter(action="order.captured", object_id=order.public_id).count() == 1


def test_bad_amounts_are_refused_without_a_confirmation(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    client = _client(make_member(merchant=tenant.merchant))

    for amount in ("", "abc", "-5", "0", "1.001"):
        response = client.post(f"/merchant/orders/{order.public_id}/capture", {"amount": amount})
        assert response.status_code == 400, amount
        assert "confirmation" not in response.context
    order.refresh_from_db()
    assert order.captured_amount == 0


def test_orders_are_filtered_and_exported_as_csv(tenant: Tenant) -> None:
    small = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=4_000)
    large = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=50_000)
    large_email = str(large.consumer.email)
    client = _client(make_member(merchant=tenant.merchant, role=Membership.Role.ANALYST))

    by_amount = client.get("/merchant/orders", {"amount_min": "100"})
    by_email = client.get("/merchant/orders", {"customer_email": large_email})
    by_reference = client.get("/merchant/orders", {"reference": small.merchant_reference})
    by_status = client.get("/merchant/orders", {"status": "captured"})
    export = client.get("/merchant/orders/export.csv", {"amount_max": "100"})

    assert [row["order"] for row in by_amount.context["rows"]] == [large]
    assert [row["order"] for row in by_email.context["rows"]] == [large]
    assert [row["order"] for row in by_reference.context["rows"]] == [small]
    assert by_status.context["rows"] == []
    rows = list(csv.reader(io.StringIO(export.content.decode())))
    assert export["Content-Type"] == "text/csv; charset=utf-8"
    assert rows[0][:3] == ["id", "created_at", "status"]
    assert [row[0] for row in rows[1:]] == [small.public_id]
    assert rows[1][6] == "4000"


# --- Settlements --------------------------------------------------------------------------------


def test_a_payout_shows_its_lines_and_its_report(tenant: Tenant) -> None:
    settlement = make_settlement(merchant=tenant.merchant, livemode=False)
    client = _client(make_member(merchant=tenant.merchant, role=Membership.Role.ANALYST))

    listing = client.get("/merchant/settlements").content.decode()
    detail = client.get(f"/merchant/settlements/{settlement.public_id}").content.decode()
    report = client.get(f"/merchant/settlements/{settlement.public_id}/report.csv")
    api_report = ApiClient(tenant.test_key).get(f"/api/v1/settlements/{settlement.public_id}/report.csv")

    line = settlement.lines.get()
    assert settlement.public_id in listing
    assert line.source_id in detail and line.order_id in detail
    assert report.content == api_report.content  # the same report as the API's
    assert report["Content-Disposition"] == f'attachment; filename="{settlement.public_id}.csv"'


# --- Developers ---------------------------------------------------------------------------------


def test_rolling_a_key_reveals_a_new_one_and_stops_the_old(tenant: Tenant) -> None:
    old = ApiKey.objects.get(token_hash=api_key_hash(tenant.test_key))
    client = _client(make_member(merchant=tenant.merchant))

    response = confirmed_post(client, f"/merchant/developers/api-keys/{old.public_id}/roll")

    token = re.findall(r'id="revealed-token">([^<]*)<', response.content.decode())[0]
    assert ApiClient(token).get("/api/v1/account").status_code == 200
    assert ApiClient(tenant.test_key).get("/api/v1/account").status_code == 401
    assert ApiKey.objects.get(token_hash=api_key_hash(token)).name == old.name


def test_a_test_event_reaches_the_receiver_signed_and_shows_in_the_log(
    tenant: Tenant, receiver: WebhookReceiver
) -> None:
    client = _client(make_member(merchant=tenant.merchant))
    created = client.post(
        "/merchant/developers/webhooks",
        {"url": receiver.url, "description": "shop", "enabled_events": ["order.captured"]},
    )
    endpoint_path = created["Location"]
    secret_page = client.post(f"{endpoint_path}/secret")
    receiver.secret = re.findall(r'id="endpoint-secret">([^<]*)<', secret_page.content.decode())[0]

    sent = client.post(f"{endpoint_path}/test")
    log = client.get(endpoint_path).content.decode()

    assert sent.status_code == 302
    assert receiver.count() == 1
    assert receiver.received[0].signature_valid
    assert b'"type":"webhook_endpoint.test"' in receiver.received[0].body
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "succeeded"
    assert delivery.public_id in log
    detail = client.get(f"/merchant/developers/deliveries/{delivery.public_id}").content.decode()
    assert "Your endpoint answered 200 OK." in detail and "Bnpl-Signature" in detail
    assert AuditLogEntry.objects.filter(action="webhook_endpoint.secret_revealed").count() == 1

    replay = client.post(f"/merchant/developers/deliveries/{delivery.public_id}/replay")
    delivery.refresh_from_db()
    assert replay.status_code == 302 and delivery.status == "pending"
    assert AuditLogEntry.objects.filter(action="webhook_delivery.replayed").count() == 1


def test_the_event_filter_is_saved(tenant: Tenant) -> None:
    client = _client(make_member(merchant=tenant.merchant))
    created = client.post(
        "/merchant/developers/webhooks", {"url": "https://hooks.example.com/x", "enabled_events": ["*"]}
    )

    client.post(
        f"{created['Location']}/update",
        {"enabled_events": ["order.captured", "order.refunded"], "description": "ops", "status": "disabled"},
    )

    page = client.get(created["Location"])
    endpoint = page.context["endpoint"]
    assert endpoint.enabled_events == ["order.captured", "order.refunded"]
    assert endpoint.status == "disabled" and endpoint.description == "ops"


# --- Settings and team --------------------------------------------------------------------------


def test_products_are_switched_and_limited_through_the_audited_service(tenant: Tenant) -> None:
    product = PaymentProduct.objects.filter(merchant=tenant.merchant, livemode=False).first()
    assert product is not None
    client = _client(make_member(merchant=tenant.merchant, role=Membership.Role.ADMIN))

    client.post(f"/merchant/settings/products/{product.public_id}", {"min_amount": "50.00", "max_amount": "900.00"})
    product.refresh_from_db()

    assert (product.is_enabled, product.min_amount, product.max_amount) == (False, 5_000, 90_000)
    assert AuditLogEntry.objects.filter(action="payment_product.updated", object_id=product.public_id).count() == 1


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)


def test_branding_shows_on_the_hosted_checkout(tenant: Tenant) -> None:
    client = _client(make_member(merchant=tenant.merchant))
    logo = SimpleUploadedFile("logo.png", PNG, content_type="image/png")

    saved = client.post(
        "/merchant/settings/branding",
        {"display_name": "Acme Shop", "primary_colour": "#AA3300", "accent_colour": "#112233", "logo": logo},
    )
    bad = client.post(
        "/merchant/settings/branding", {"display_name": "x", "primary_colour": "red", "accent_colour": "#112233"}
    )
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    checkout = Client().get(f"/checkout/{session.public_id}").content.decode()
    logo_response = Client().get(f"/merchant/branding/{tenant.merchant.public_id}/logo")

    assert saved.status_code == 302 and bad.status_code == 400
    branding = Branding.objects.get(merchant=tenant.merchant)
    assert (branding.primary_colour, branding.accent_colour) == ("#aa3300", "#112233")
    assert "--brand: #aa3300; --brand-accent: #112233;" in checkout
    assert f'src="/merchant/branding/{tenant.merchant.public_id}/logo"' in checkout
    assert 'alt="Acme Shop"' in checkout  # the logo, named by the display name
    assert b"".join(logo_response.streaming_content) == PNG  # type: ignore[attr-defined]
    assert Event.objects.filter(type="branding.updated").count() == 1


def test_an_owner_invites_an_analyst_who_joins_and_can_only_read(tenant: Tenant) -> None:
    owner = make_member(merchant=tenant.merchant)
    client = _client(owner)

    invited = client.post("/merchant/team/invitations", {"email": "ana@example.com", "role": "analyst"})
    link = re.findall(r'id="invitation-link">([^<]*)<', invited.content.decode())[0]
    path = urlsplit(link).path
    newcomer = Client()
    weak = newcomer.post(path, {"password": "12345678"})  # long enough, but fails the password rules
    assert weak.status_code == 400 and not get_user_model().objects.filter(email="ana@example.com").exists()
    joined = newcomer.post(path, {"password": "another-long-pass"})
    reused = Client().post(path, {"password": "another-long-pass"})

    assert len(mail.outbox) == 1 and link in mail.outbox[0].body
    assert joined.status_code == 302
    membership = Membership.objects.get(user__email="ana@example.com")
    assert membership.merchant == tenant.merchant and membership.role == "analyst"
    assert reused.status_code == 404
    assert newcomer.get("/merchant/orders").status_code == 200
    assert newcomer.post("/merchant/developers/api-keys", {"kind": "secret"}).status_code == 403

    demoted = client.post(f"/merchant/team/members/{membership.public_id}/role", {"role": "admin"})
    assert demoted.status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == "admin"
    last_owner = confirmed_post(client, f"/merchant/team/members/{Membership.objects.get(user=owner).public_id}/remove")
    assert last_owner.status_code == 302
    assert Membership.objects.filter(user=owner).exists()  # the last owner stays


@pytest.mark.parametrize("livemode", [False, True])
def test_the_mode_switch_chooses_the_data_every_page_shows(tenant: Tenant, livemode: bool) -> None:
    test_order = make_authorized_order(merchant=tenant.merchant, livemode=False)
    live_order = make_authorized_order(merchant=tenant.merchant, livemode=True)
    client = _client(make_member(merchant=tenant.merchant, role=Membership.Role.ANALYST))

    switched = client.post("/merchant/mode", {"livemode": str(livemode).lower(), "next": "/merchant/orders"})
    page = client.get("/merchant/orders").content.decode()

    assert switched["Location"] == "/merchant/orders"
    assert (live_order.public_id in page) is livemode
    assert (test_order.public_id in page) is not livemode


def test_the_mode_switch_only_returns_to_dashboard_pages(tenant: Tenant) -> None:
    client = _client(make_member(merchant=tenant.merchant))

    response = client.post("/merchant/mode", {"livemode": "true", "next": "https://evil.example.com/"})

    assert response["Location"] == "/merchant/"
