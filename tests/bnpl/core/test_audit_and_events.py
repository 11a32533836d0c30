from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import DatabaseError, connection, transaction

from bnpl.core.context import Actor, acting_as, request_id_var
from bnpl.core.models import AppendOnlyError, AuditLogEntry, Event
from bnpl.core.services import audit_log_redact, change_record, event_emit, redaction_allowed
from merchants.models import Merchant
from merchants.services import merchant_approve, merchant_create

pytestmark = pytest.mark.django_db


def test_a_state_change_writes_an_audit_row_and_an_event_with_who_what_and_from_what() -> None:
    merchant = merchant_create(name="Acme")
    token = request_id_var.set("req_test_123")
    try:
        with acting_as(Actor(kind="operator", identifier="ops@example.com", label="Ops")):
            merchant_approve(merchant=merchant)
    finally:
        request_id_var.reset(token)

    entry = AuditLogEntry.objects.get(action="merchant.approved")
    assert (entry.actor_kind, entry.actor_identifier, entry.request_id) == (
        "operator",
        "ops@example.com",
        "req_test_123",
    )
    assert (entry.object_type, entry.object_id, entry.merchant_id) == (
        "merchants.merchant",
        merchant.public_id,
        merchant.pk,
    )
    assert entry.before is not None and entry.before["status"] == "pending"
    assert entry.after is not None and entry.after["status"] == "active"
    events = Event.objects.filter(type="merchant.approved").order_by("livemode")
    assert [event.livemode for event in events] == [False, True]
    assert all(event.data["status"] == "active" and event.request_id == "req_test_123" for event in events)


def test_an_event_and_its_change_commit_or_roll_back_together() -> None:
    merchant = merchant_create(name="Acme")
    with pytest.raises(RuntimeError, match="boom"), transaction.atomic():
        Merchant.objects.filter(pk=merchant.pk).update(name="Renamed")
        change_record(action="merchant.created", instance=merchant, merchant=merchant, data={"name": "Renamed"})
        raise RuntimeError("boom")
    assert Merchant.objects.get(pk=merchant.pk).name == "Acme"
    assert Event.objects.filter(data__name="Renamed").count() == 0
    assert AuditLogEntry.objects.filter(after__name="Renamed").count() == 0


@pytest.mark.django_db(transaction=True)
def test_an_event_cannot_be_written_outside_a_transaction() -> None:
    merchant = merchant_create(name="Acme")
    with pytest.raises(RuntimeError, match="inside the transaction"):
        event_emit(type="merchant.created", instance=merchant, data={})


def test_the_audit_log_is_append_only_through_the_model() -> None:
    entry = AuditLogEntry.objects.get(action="merchant.created", object_id=merchant_create(name="Acme").public_id)
    entry.action = "tampered"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    assert AuditLogEntry.objects.get(pk=entry.pk).action == "merchant.created"


@pytest.mark.postgres
def test_postgresql_itself_refuses_updates_and_deletes_of_the_audit_log() -> None:
    merchant = merchant_create(name="Acme")
    entry = AuditLogEntry.objects.get(object_id=merchant.public_id)
    for statement in (
        "UPDATE core_auditlogentry SET action = 'x' WHERE id = %s",
        "DELETE FROM core_auditlogentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [entry.pk])
    assert AuditLogEntry.objects.get(pk=entry.pk).action == "merchant.created"


@pytest.mark.postgres
def test_a_redaction_may_change_only_the_recorded_values_and_only_when_allowed() -> None:
    merchant = merchant_create(name="Acme")
    entry = AuditLogEntry.objects.get(object_id=merchant.public_id)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():  # not allowed: refused
        AuditLogEntry.objects.filter(pk=entry.pk).update(after={"name": "[erased]"})
    for forbidden in ({"action": "x"}, {"object_id": "x"}, {"actor_identifier": "x"}):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), redaction_allowed():
            AuditLogEntry.objects.filter(pk=entry.pk).update(after={"name": "[erased]"}, **forbidden)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), redaction_allowed():
        AuditLogEntry.objects.filter(pk=entry.pk).delete()
    with transaction.atomic():
        with redaction_allowed():
            AuditLogEntry.objects.filter(pk=entry.pk).update(after={"name": "[erased]"})
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():  # off again on leaving
            AuditLogEntry.objects.filter(pk=entry.pk).update(before={})

    entry.refresh_from_db()
    assert (entry.action, entry.after, entry.before) == ("merchant.created", {"name": "[erased]"}, None)


def test_audit_log_redact_erases_identifiers_everywhere_and_words_only_in_the_objects_named() -> None:
    acme, other = merchant_create(name="Acme for Ermintrude"), merchant_create(name="Ermintrude's rival")
    with transaction.atomic():
        change_record(action="note.added", instance=acme, data={"text": "mail erm@example.com", "n": 1})

    with transaction.atomic():
        redaction = audit_log_redact(
            everywhere=["ERM@example.com"], within_objects=["Ermintrude"], object_ids={acme.public_id}
        )

    notes = AuditLogEntry.objects.get(action="note.added")
    assert notes.after == {"text": "mail [erased]", "n": 1}
    assert Event.objects.get(type="note.added").data == {"text": "mail [erased]", "n": 1}
    assert AuditLogEntry.objects.get(action="merchant.created", object_id=acme.public_id).after["name"] == (  # type: ignore[index]
        "Acme for [erased]"
    )
    assert AuditLogEntry.objects.get(action="merchant.created", object_id=other.public_id).after["name"] == (  # type: ignore[index]
        "Ermintrude's rival"
    )
    assert (redaction.audit_rows, redaction.events) == (2, 2)


def test_the_migration_redacts_contact_details_written_before_consumers_were_named_by_id() -> None:
    """core.0004 rewrites rows of the old shape once (an operator action) and records that it did."""
    migration = importlib.import_module("bnpl.core.migrations.0004_personal_data_redaction")
    merchant = merchant_create(name="Acme")
    old_session = {"id": "cs_1", "customer_email": "ada@example.com", "customer_phone": "+14155552671", "amount": 5}
    with transaction.atomic(), acting_as(Actor(kind="consumer", identifier="con_1", label="ada@example.com")):
        change_record(action="consumer.signed_in", instance=merchant, data={"id": "con_1"})
    old_shape = {"object_type": "checkout.checkoutsession", "object_id": "cs_1"}
    AuditLogEntry.objects.create(
        action="checkout_session.created",
        actor_kind="api_key",
        actor_identifier="key_1",
        after=old_session,
        **old_shape,
    )
    Event.objects.create(type="checkout_session.created", data=old_session, **old_shape)

    with transaction.atomic(), connection.cursor() as cursor:
        schema_editor = SimpleNamespace(connection=connection, execute=lambda sql, params=None: cursor.execute(sql))
        migration.forwards(apps, schema_editor)

    assert AuditLogEntry.objects.get(action="consumer.signed_in").actor_label == "Consumer"
    assert AuditLogEntry.objects.get(action="checkout_session.created").after == {"id": "cs_1", "amount": 5}
    assert Event.objects.get(type="checkout_session.created").data == {"id": "cs_1", "amount": 5}
    record = AuditLogEntry.objects.get(action="audit_log.redacted")
    assert (record.actor_kind, record.after["audit_rows"], record.after["events"]) == ("operator", 2, 1)  # type: ignore[index]
