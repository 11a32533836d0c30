from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from bnpl.core.context import Actor, acting_as, request_id_var
from bnpl.core.models import AppendOnlyError, AuditLogEntry, Event
from bnpl.core.services import change_record, event_emit
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
