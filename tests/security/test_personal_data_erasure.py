"""Security review, issue 13 (last part): personal data in the append-only audit log, and no way
to erase a consumer.

A consumer's email or phone number was written into audit rows (the acting consumer's label) and
events (the checkout session's contact details), which are kept for good and sent on to webhooks.
Now the log names consumers by public id, and ``consumer_erase`` (admin action, ``manage.py
erase_consumer``) erases a consumer's personal data everywhere while the books stay intact."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pyarrow.parquet as parquet
import pytest
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection, transaction
from django.test import Client

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout import disputes
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout import sessions as checkout_sessions
from bnpl.checkout.models import CheckoutSession, Order
from bnpl.checkout.step_up import checkout_card_add
from bnpl.core import clock
from bnpl.core.context import SYSTEM
from bnpl.core.errors import StateError
from bnpl.core.models import AuditLogEntry, Event
from bnpl.core.services import clock_advance
from bnpl.lake import export
from bnpl.ledger.models import JournalEntry, Posting
from bnpl.payments.models import Charge
from bnpl.plans.models import Installment, Plan
from bnpl.servicing import services as servicing
from consumers.erasure import consumer_erase
from consumers.models import Consumer, Identity, OneTimeCode, SandboxMessage
from consumers.services import consumer_preferences_update, consumer_register, identity_submit
from merchants import services as merchant_services
from merchants import webhooks
from merchants.models import WebhookDeliveryAttempt
from merchants.settlements import settlements_run
from tests.bnpl.accounts.factories import make_user
from tests.bnpl.checkout.factories import product_for
from tests.conftest import ApiClient
from tests.consumers.conftest import latest_code
from tests.helpers import ledger_ok, row_counts, verified_client
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

EMAIL = "ermintrude.vanishwell.4471@privacy-probe.example"
PHONE = "+12025550187"
NAME = "Ermintrude Vanishwell"
ADDRESS = "77 Forgettable Crescent"
NEEDLES = [EMAIL, PHONE, PHONE.lstrip("+"), NAME, ADDRESS]
OPERATOR = "privacy@lender.example"
BOOKS = (Plan, Installment, Order, Charge, JournalEntry, Posting)


def _register() -> Consumer:
    with transaction.atomic():
        consumer = consumer_register(email=EMAIL, phone=PHONE)
    identity_submit(
        consumer=consumer,
        legal_name=NAME,
        date_of_birth=dt.date(1979, 8, 3),
        address_line1=ADDRESS,
        city="Oblivion Falls",
        postal_code="80417",
        country="US",
        national_id_last4="5813",
    )
    return consumer


def _sign_in(identifier: str, capture: Any) -> Client:
    """Through the pages, as a person does: ask for a code, read it from the sandbox inbox, enter it."""
    client = Client()
    with capture(execute=True):
        client.post("/account/sign-in", {"identifier": identifier})
    client.post("/account/verify", {"code": latest_code(identifier)})
    return client


def _shop(tenant: Tenant, consumer: Consumer, *, smuggle: bool) -> Plan:
    """The merchant creates a session through the API with the shopper's contact details (and, with
    ``smuggle``, writes them into free text too); the consumer buys, a refund, a dispute, a payoff."""
    free_text = f"{EMAIL} {PHONE} {NAME}" if smuggle else "order 1"
    response = ApiClient(tenant.test_key).post(
        "/api/v1/checkout/sessions",
        {
            "amount": 12_000,
            "currency": "USD",
            "line_items": [{"name": f"Gift for {NAME}" if smuggle else "Lamp", "quantity": 1, "unit_amount": 12_000}],
            "merchant_reference": free_text,
            "customer_email": EMAIL,
            "customer_phone": PHONE,
            "return_url": "https://shop.example.com/thanks",
            "cancel_url": "https://shop.example.com/cart",
        },
    )
    assert response.status_code == 201, response.content
    session = CheckoutSession.objects.get(public_id=response.json()["id"])
    card = checkout_card_add(
        session=session, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    result = checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product_for(tenant.merchant, False), payment_method=card
    )
    assert result.order is not None
    checkout_orders.order_capture(order=result.order, amount=12_000, merchant_reference=free_text)
    checkout_orders.order_refund(order=result.order, amount=1_000, reason=f"{NAME} changed mind" if smuggle else "")
    dispute = disputes.dispute_open(
        order=result.order,
        consumer=consumer,
        kind="dispute",
        reason="not_received",
        amount=500,
        description=f"Call me on {PHONE}, I live at {ADDRESS}" if smuggle else "Never came",
    )
    disputes.dispute_contest(dispute=dispute, evidence=f"Delivered to {ADDRESS}" if smuggle else "Delivered")
    disputes.dispute_decide(dispute=dispute, for_consumer=False, note="Carrier proof.")
    consumer_preferences_update(consumer=consumer, notify_by_email=True, notify_by_sms=False)
    plan = Plan.objects.get(order=result.order)
    servicing.plan_pay_early(plan=plan)  # paid off: nothing is owed any more
    settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))  # the report copies reference and reason
    return plan


def _webhook_endpoint(tenant: Tenant) -> None:
    """A merchant endpoint that refuses connections: the delivery log keeps what was sent to it."""
    merchant_services.webhook_endpoint_create(
        merchant=tenant.merchant, livemode=False, url="http://127.0.0.1:9/hooks", enabled_events=["*"]
    )


def _deliver_webhooks() -> None:
    webhooks.deliveries_create_for_events(event_ids=list(Event.objects.values_list("pk", flat=True)))
    assert webhooks.deliveries_send_due() > 5


def _every_value_in_the_database() -> list[tuple[str, str, str]]:
    """(table, column, text) for every non-empty value of every column of every table, binary values
    decoded, and signed-in sessions decoded too."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if isinstance(value, bytes | memoryview):
                        value = bytes(value).decode(errors="replace")
                    if value not in (None, ""):
                        found.append((table, column, str(value)))
    found += [("django_session", "decoded", json.dumps(session.get_decoded())) for session in Session.objects.all()]
    return found


def _mentions(rows: list[tuple[str, str, str]], needles: list[str]) -> list[tuple[str, str, str]]:
    return [row for row in rows if any(needle.lower() in row[2].lower() for needle in needles)]


def _lake_files(root: Path) -> list[tuple[str, str]]:
    """(file, text) for every manifest and every string cell of every Parquet file in the lake."""
    found = []
    for path in root.rglob("*"):
        if path.suffix == ".json":
            found.append((str(path), path.read_text()))
        elif path.suffix == ".parquet":
            table = parquet.read_table(path)
            for column in table.columns:
                found += [(str(path), str(value)) for value in column.to_pylist() if value is not None]
            found.append((str(path), path.read_bytes().decode(errors="replace")))
    return found


@pytest.fixture
def lake_root(settings: Any, tmp_path: Path) -> Path:
    settings.STORAGES = {
        **settings.STORAGES,
        "lake": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path)}},
    }
    settings.LAKE_S3_BUCKET = ""
    return tmp_path


def test_audit_rows_and_events_name_consumers_by_id_and_carry_no_contact_details(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    _webhook_endpoint(tenant)
    consumer = _register()
    _sign_in(EMAIL, django_capture_on_commit_callbacks)
    _sign_in(PHONE, django_capture_on_commit_callbacks)
    _shop(tenant, consumer, smuggle=False)
    _deliver_webhooks()

    logged = [
        json.dumps([entry.actor_identifier, entry.actor_label, entry.before, entry.after])
        for entry in AuditLogEntry.objects.all()
    ]
    logged += [json.dumps(event.data) for event in Event.objects.all()]
    logged += list(WebhookDeliveryAttempt.objects.values_list("request_body", flat=True))
    assert len(logged) > 40
    assert [text for text in logged if any(needle in text for needle in (EMAIL, PHONE))] == []
    consumer_rows = AuditLogEntry.objects.filter(actor_kind="consumer")
    assert set(consumer_rows.values_list("actor_identifier", "actor_label")) == {(consumer.public_id, "Consumer")}
    session_events = Event.objects.filter(type="checkout_session.created")
    assert session_events.count() == 1 and "customer_email" not in session_events.get().data


def test_erasure_leaves_no_trace_of_the_person_and_the_books_intact(
    tenant: Tenant, django_capture_on_commit_callbacks: Any, lake_root: Path
) -> None:
    _webhook_endpoint(tenant)
    consumer = _register()
    signed_in = _sign_in(EMAIL, django_capture_on_commit_callbacks)
    _sign_in(PHONE, django_capture_on_commit_callbacks)
    plan = _shop(tenant, consumer, smuggle=True)
    _deliver_webhooks()
    export.lake_export()
    assert len(_mentions(_every_value_in_the_database(), NEEDLES)) > 20  # the scan finds them before
    books = {model.__name__: model.objects.count() for model in BOOKS}
    audit_rows, events = AuditLogEntry.objects.count(), Event.objects.count()

    out = StringIO()
    call_command("erase_consumer", consumer.public_id, operator=OPERATOR, stdout=out)

    assert out.getvalue().startswith(f"{consumer.public_id}: personal data erased")
    assert _mentions(_every_value_in_the_database(), NEEDLES) == []
    consumer.refresh_from_db()
    assert (consumer.email, consumer.phone, consumer.status) == (None, None, Consumer.Status.ERASED)
    assert not Identity.objects.filter(consumer=consumer).exists()
    assert not OneTimeCode.objects.exists() and not SandboxMessage.objects.exists()
    assert signed_in.get("/account/").status_code == 302  # the devices signed in are signed out
    assert {model.__name__: model.objects.count() for model in BOOKS} == books
    assert Plan.objects.get(pk=plan.pk).status == Plan.Status.PAID
    assert ledger_ok()
    assert (AuditLogEntry.objects.count(), Event.objects.count()) == (audit_rows + 1, events + 1)
    erased = AuditLogEntry.objects.get(action="consumer.erased")
    assert (erased.actor_kind, erased.actor_identifier, erased.object_id) == ("operator", OPERATOR, consumer.public_id)
    assert Event.objects.get(type="consumer.erased").data["status"] == "erased"

    clock_advance(by=dt.timedelta(hours=1))
    export.lake_export()  # the next snapshot reads the erased rows: nothing identifying comes back
    exported = _lake_files(lake_root)
    assert len(exported) > 100
    assert [
        (path, text[:80]) for path, text in exported if any(needle.lower() in text.lower() for needle in NEEDLES)
    ] == []


def test_erasure_is_refused_while_the_consumer_owes_money(tenant: Tenant) -> None:
    consumer = _register()
    session = checkout_sessions.checkout_session_create(
        merchant=tenant.merchant,
        livemode=False,
        amount=12_000,
        currency="USD",
        line_items=[{"name": "Lamp", "quantity": 1, "unit_amount": 12_000}],
        return_url="https://shop.example.com/thanks",
        cancel_url="https://shop.example.com/cart",
    )
    card = checkout_card_add(
        session=session, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product_for(tenant.merchant, False), payment_method=card
    )
    before = row_counts()

    with pytest.raises(StateError) as refused:
        consumer_erase(consumer=consumer, actor=SYSTEM)

    assert (refused.value.code, refused.value.param) == ("consumer_owes_money", "consumer")
    assert row_counts() == before and Consumer.objects.get(pk=consumer.pk).email == EMAIL


def test_the_admin_action_needs_its_own_permission_and_a_confirmation(tenant: Tenant) -> None:
    consumer = _register()
    operator = make_user(email=OPERATOR, is_staff=True)
    operator.user_permissions.add(Permission.objects.get(codename="view_consumer"))
    client = Client()
    verified_client(operator, client=client)
    changelist = "/admin/consumers/consumer/"
    form = {"action": "erase_personal_data", "_selected_action": [consumer.pk]}

    assert "erase_personal_data" not in client.get(changelist).content.decode()
    client.post(changelist, {**form, "confirmed": "yes"})
    assert Consumer.objects.get(pk=consumer.pk).email == EMAIL  # not allowed: nothing happened

    operator.user_permissions.add(Permission.objects.get(codename="erase_consumer"))
    confirmation = client.post(changelist, form)
    assert confirmation.status_code == 200 and "cannot be undone" in confirmation.content.decode()
    assert Consumer.objects.get(pk=consumer.pk).email == EMAIL
    done = client.post(changelist, {**form, "confirmed": "yes"}, follow=True)

    assert "personal data erased" in done.content.decode()
    assert Consumer.objects.get(pk=consumer.pk).status == Consumer.Status.ERASED
    assert AuditLogEntry.objects.get(action="consumer.erased").actor_identifier == OPERATOR
