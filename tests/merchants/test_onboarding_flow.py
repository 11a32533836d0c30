"""Onboarding as one guided flow that never loses input: each part saved on its own, a part posted
with errors comes back as typed with the error next to the field, real checks of routing numbers,
IBANs and BICs, removing a bank account or a document (audited, evented); the integration
checklist read from what the merchant did; the webhook event picker grouped by object."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.models import AuditLogEntry, Event
from merchants import integration, onboarding, services, webhooks
from merchants.models import ApiKey, BankAccount, BusinessProfile, Merchant, MerchantDocument, WebhookEndpoint
from tests.bnpl.checkout.factories import make_checkout_session
from tests.helpers import verified_client
from tests.merchants.conftest import WebhookReceiver
from tests.merchants.factories import Tenant, make_member, make_merchant
from tests.merchants.test_dashboard_pages import BANK, PROFILE

pytestmark = pytest.mark.django_db


def _owner(tenant: Tenant) -> Client:
    client = Client()
    verified_client(make_member(merchant=tenant.merchant), client=client)
    return client


def _field_errors(html: str, field: str) -> list[str]:
    """The errors shown next to one field (its .field block in merchants/_field.html)."""
    block = re.search(rf'<div class="field"><label for="id_{field}">.*?</div>', html, re.S)
    assert block is not None, f"no field {field} on the page"
    return re.findall(r"<li>(.*?)</li>", block.group(0))


def _value(html: str, field: str) -> str | None:
    tag = re.search(rf'<input[^>]*name="{field}"[^>]*>', html)
    assert tag is not None
    value = re.search(r'value="([^"]*)"', tag.group(0))
    return value.group(1) if value else None


def _pdf(name: str = "registration.pdf") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, b"%PDF-1.4 certificate", content_type="application/pdf")


# --- Checks of bank details --------------------------------------------------------------------


@pytest.mark.parametrize("routing", ["110000000", "021000021", "011000015", "026009593"])
def test_real_routing_numbers_pass_the_aba_checksum(routing: str) -> None:
    assert onboarding.aba_routing_number_valid(routing)


@pytest.mark.parametrize("routing", ["110000001", "021000022", "12345678", "1100000000", "11000000a"])
def test_a_wrong_routing_number_is_refused_naming_the_field(tenant: Tenant, routing: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        onboarding.bank_account_add(
            merchant=tenant.merchant, holder_name="Acme", routing_number=routing, account_number="000123456789"
        )
    assert refused.value.param == "routing_number"
    assert not BankAccount.objects.filter(merchant=tenant.merchant).exists()


@pytest.mark.parametrize(
    ("iban", "bic", "field"),
    [
        ("DE89 3704 0044 0532 0130 01", "COBADEFFXXX", "iban"),  # one digit off: the check digits fail
        ("DE89 3704 0044 0532 0130", "COBADEFFXXX", "iban"),  # too short for Germany
        ("XX89370400440532013000", "COBADEFFXXX", "iban"),  # no such country
        ("DE89370400440532013000", "COBA", "bic"),  # too short
        ("DE89370400440532013000", "COBAXXFF", "bic"),  # no such country
        ("DE89370400440532013000", "", "bic"),
    ],
)
def test_a_wrong_iban_or_bic_is_refused_naming_the_field(tenant: Tenant, iban: str, bic: str, field: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        onboarding.bank_account_add(merchant=tenant.merchant, holder_name="Acme", iban=iban, bic=bic, currency="EUR")
    assert refused.value.param == field


def test_an_iban_account_is_kept_compact_with_its_bic(tenant: Tenant) -> None:
    account = onboarding.bank_account_add(
        merchant=tenant.merchant,
        holder_name="Acme GmbH",
        iban="de89 3704 0044 0532 0130 00",
        bic="cobadeff",
        currency="EUR",
    )
    assert (account.account_number, account.routing_number, account.account_number_last4) == (
        "DE89370400440532013000",
        "COBADEFF",
        "3000",
    )


def test_errors_show_next_to_the_field_with_what_was_typed_kept(tenant: Tenant) -> None:
    client = _owner(tenant)
    typed = {**BANK, "routing_number": "110000001", "account_number": "000987654321", "holder_name": "Acme Typed"}

    page = client.post("/merchant/onboarding/bank-accounts", typed)

    html = page.content.decode()
    assert page.status_code == 400
    assert any("check digit" in error for error in _field_errors(html, "routing_number"))
    assert _field_errors(html, "account_number") == []
    assert (_value(html, "holder_name"), _value(html, "routing_number"), _value(html, "account_number")) == (
        "Acme Typed",
        "110000001",
        "000987654321",
    )

    page = client.post("/merchant/onboarding/bank-accounts", {**typed, "iban": "DE00 1234", "bic": "COBADEFF"})
    assert page.status_code == 400
    assert _field_errors(page.content.decode(), "iban") and not _field_errors(page.content.decode(), "bic")


# --- One flow, parts saved on their own ---------------------------------------------------------


def test_an_invalid_bank_part_keeps_the_saved_business_and_the_typed_bank_values(tenant: Tenant) -> None:
    client = _owner(tenant)
    saved = client.post("/merchant/onboarding/profile", PROFILE)
    assert saved.status_code == 302 and saved["Location"] == "/merchant/onboarding?step=bank"

    page = client.post("/merchant/onboarding/bank-accounts", {**BANK, "routing_number": "123456789"})

    assert page.status_code == 400
    html = page.content.decode()
    assert _value(html, "routing_number") == "123456789" and _value(html, "account_number") == BANK["account_number"]
    profile = BusinessProfile.objects.get(merchant=tenant.merchant)
    assert (profile.legal_name, profile.tax_number, profile.city) == (
        "Acme Outfitters LLC",
        "12-3456789",
        "San Francisco",
    )
    business = client.get("/merchant/onboarding?step=business").content.decode()
    assert _value(business, "legal_name") == "Acme Outfitters LLC" and _value(business, "tax_number") == "12-3456789"
    # the steps say what is done: the business, not yet the bank account
    steps = client.get("/merchant/onboarding?step=review").content.decode()
    assert re.search(r'<li class="done">\s*<a href="\?step=business"', steps)
    assert re.search(r'<li class="">\s*<a href="\?step=bank"', steps)


def test_the_flow_opens_at_the_first_step_not_done_and_moves_on_after_each(tenant: Tenant) -> None:
    client = _owner(tenant)
    assert 'aria-current="step">' in client.get("/merchant/onboarding").content.decode()
    assert 'id="step-business"' in client.get("/merchant/onboarding").content.decode()
    client.post("/merchant/onboarding/profile", PROFILE)
    assert 'id="step-bank"' in client.get("/merchant/onboarding").content.decode()
    assert client.post("/merchant/onboarding/bank-accounts", BANK)["Location"] == "/merchant/onboarding?step=documents"
    assert 'id="step-documents"' in client.get("/merchant/onboarding").content.decode()
    client.post("/merchant/onboarding/documents", {"kind": "registration", "file": _pdf()})
    review = client.get("/merchant/onboarding").content.decode()
    assert 'id="step-review"' in review and "Still missing" not in review


# --- Removing a bank account or a document ------------------------------------------------------


def test_removing_a_bank_account_is_audited_and_evented(tenant: Tenant) -> None:
    client = _owner(tenant)
    client.post("/merchant/onboarding/bank-accounts", BANK)
    account = BankAccount.objects.get(merchant=tenant.merchant)

    response = client.post(f"/merchant/onboarding/bank-accounts/{account.public_id}/remove")

    assert response.status_code == 302
    account.refresh_from_db()
    assert account.removed_at is not None and not account.is_default
    audit = AuditLogEntry.objects.get(action="bank_account.removed", object_id=account.public_id)
    assert audit.before is not None and audit.after is not None
    assert audit.before["removed"] is False and audit.after["removed"] is True
    assert audit.merchant == tenant.merchant
    assert Event.objects.filter(type="bank_account.removed", object_id=account.public_id).count() == 1
    assert account.public_id not in client.get("/merchant/onboarding?step=bank").content.decode()
    assert "a bank account for payouts" in onboarding.application_missing(
        profile=onboarding.business_profile_ensure(merchant=tenant.merchant)
    )
    # removing it again changes nothing (not found: it is no longer the merchant's to remove)
    assert client.post(f"/merchant/onboarding/bank-accounts/{account.public_id}/remove").status_code == 404
    assert AuditLogEntry.objects.filter(action="bank_account.removed").count() == 1


def test_removing_a_document_is_audited_evented_and_keeps_the_file(tenant: Tenant) -> None:
    client = _owner(tenant)
    client.post("/merchant/onboarding/documents", {"kind": "registration", "file": _pdf("mine.pdf")})
    document = MerchantDocument.objects.get(merchant=tenant.merchant)

    assert client.post(f"/merchant/onboarding/documents/{document.public_id}/remove").status_code == 302

    document.refresh_from_db()
    assert document.removed_at is not None and document.file.storage.exists(document.file.name)
    assert AuditLogEntry.objects.filter(action="merchant_document.removed", object_id=document.public_id).count() == 1
    assert Event.objects.filter(type="merchant_document.removed", object_id=document.public_id).count() == 1
    listed = re.search(
        r'<ul class="plain" id="documents">.*?</ul>',
        client.get("/merchant/onboarding?step=documents").content.decode(),
        re.S,
    )
    assert listed is not None and "mine.pdf" not in listed.group(0)
    assert client.get(f"/merchant/onboarding/documents/{document.public_id}").status_code == 404
    assert "at least one document" in onboarding.application_missing(
        profile=onboarding.business_profile_ensure(merchant=tenant.merchant)
    )


def test_nothing_is_removed_while_operators_review_the_application(tenant: Tenant) -> None:
    profile = onboarding.business_profile_ensure(merchant=tenant.merchant)
    onboarding.business_profile_update(
        profile=profile, **{**{k: v for k, v in PROFILE.items() if k != "expected_monthly_volume"}, "country": "US"}
    )
    account = onboarding.bank_account_add(
        merchant=tenant.merchant, holder_name="Acme", routing_number="110000000", account_number="000123456789"
    )
    document = onboarding.document_upload(
        merchant=tenant.merchant, kind="registration", uploaded=_pdf(), uploaded_by=None
    )
    onboarding.application_submit(profile=profile)

    with pytest.raises(StateError):
        onboarding.bank_account_remove(account=account)
    with pytest.raises(StateError):
        onboarding.document_remove(document=document)
    account.refresh_from_db()
    document.refresh_from_db()
    assert account.removed_at is None and document.removed_at is None


# --- The integration checklist ------------------------------------------------------------------


def _done(merchant: Merchant) -> dict[str, bool]:
    return {item.key: item.done for item in integration.integration_checklist(merchant=merchant).items}


def _send_test_event(endpoint: WebhookEndpoint) -> None:
    event = webhooks.webhook_endpoint_test(endpoint=endpoint)
    webhooks.deliveries_send_due(delivery_ids=webhooks.deliveries_create_for_events(event_ids=[event.pk]))


def test_the_checklist_follows_what_the_merchant_did(db: None, receiver: WebhookReceiver) -> None:
    merchant = make_merchant(approved=False)
    client = Client()
    verified_client(make_member(merchant=merchant), client=client)
    assert _done(merchant) == dict.fromkeys(
        ["keys", "checkout_session", "webhook_endpoint", "webhook_delivery", "go_live"], False
    )
    home = client.get("/merchant/").content.decode()
    assert 'id="integration-checklist"' in home and "0 of 5 done" in home

    services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=False)
    make_checkout_session(merchant=merchant, livemode=False)
    endpoint = services.webhook_endpoint_create(
        merchant=merchant, livemode=False, url=receiver.url, enabled_events=["*"]
    )
    receiver.secret = endpoint.secret
    assert _done(merchant) == {
        "keys": True,
        "checkout_session": True,
        "webhook_endpoint": True,
        "webhook_delivery": False,
        "go_live": False,
    }
    receiver.statuses = [500]
    _send_test_event(endpoint)
    assert _done(merchant)["webhook_delivery"] is False  # a 500 is not a delivery
    _send_test_event(endpoint)
    assert _done(merchant)["webhook_delivery"] is True
    assert "3 of 5 done" not in client.get("/merchant/").content.decode()
    assert "4 of 5 done" in client.get("/merchant/").content.decode()

    merchant = services.merchant_approve(merchant=merchant)
    assert _done(merchant)["go_live"] is False  # approved, but no live key yet
    services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=True)
    assert all(_done(merchant).values())
    assert 'id="integration-checklist"' not in client.get("/merchant/").content.decode()  # done: off the home page
    developers = client.get("/merchant/developers").content.decode()
    assert 'id="integration-checklist"' in developers and "5 of 5 done" in developers


# --- The webhook event picker -------------------------------------------------------------------


def test_the_event_picker_is_grouped_by_object_with_readable_labels(tenant: Tenant) -> None:
    html = _owner(tenant).get("/merchant/developers").content.decode()

    groups = dict(re.findall(r'<fieldset class="event-group"><legend>(.*?)</legend>(.*?)</fieldset>', html, re.S))
    assert {"Orders", "Payment plans", "Disputes and returns", "Checkout sessions", "Settlements and payouts"} <= set(
        groups
    )
    orders = re.findall(r'value="([^"]+)"', groups["Orders"])
    assert orders and all(name.startswith("order.") for name in orders)
    assert "Captured (order.captured)</label>" in groups["Orders"]
    assert "Payment succeeded (plan.payment_succeeded)</label>" in groups["Payment plans"]
    assert re.search(r'<input type="checkbox" name="enabled_events" value="\*" id="id_enabled_events_0" checked>', html)
