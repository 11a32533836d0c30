"""Statements of a batch's hot path: selects by a list of ids compiled once per process
(``CompiledSelectByIds``), and JSON values shared by several rows of a batch encoded once
(``JsonEncodedOnce``)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.models.sql.compiler import SQLCompiler
from psycopg2.extras import Json

from bnpl.core.compiled import CompiledSelectByIds
from bnpl.core.models import AuditLogEntry, Event
from bnpl.core.services import Change, change_record, change_record_many
from merchants.models import Merchant
from merchants.services import merchant_create
from tests.helpers import compilations

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's path")


def _merchants_by_ids() -> CompiledSelectByIds[Merchant]:
    return CompiledSelectByIds(
        lambda match: Merchant.objects.select_for_update(of=("self",)).filter(match).order_by("pk")
    )


def test_rows_by_ids_are_the_orm_s_rows_for_any_number_of_ids() -> None:
    merchants = [merchant_create(name=f"Shop {number}") for number in range(3)]
    statement = _merchants_by_ids()

    with transaction.atomic():
        found = {count: statement.rows([merchant.pk for merchant in merchants[:count]]) for count in (0, 1, 3)}

    assert {count: [row.pk for row in rows] for count, rows in found.items()} == {
        0: [],
        1: [merchants[0].pk],
        3: sorted(merchant.pk for merchant in merchants),
    }
    assert [(row.name, row.public_id) for row in found[3]] == [
        (row.name, row.public_id) for row in Merchant.objects.filter(pk__in=[m.pk for m in merchants]).order_by("pk")
    ]


def test_the_primary_keys_of_the_rows_by_ids_come_without_building_a_row() -> None:
    from django.db.models.signals import post_init

    merchants = [merchant_create(name=f"Shop {number}") for number in range(3)]
    statement: CompiledSelectByIds[Merchant] = CompiledSelectByIds(
        lambda match: Merchant.objects.filter(match, name__in=["Shop 0", "Shop 2"]).only("pk").order_by("pk")
    )
    built: list[object] = []

    def count(sender: object, **kwargs: object) -> None:
        built.append(sender)

    post_init.connect(count, weak=False)
    try:
        pks = statement.pks([merchant.pk for merchant in merchants])
    finally:
        post_init.disconnect(count)

    assert pks == [merchants[0].pk, merchants[2].pk]
    assert built == []


@postgresql_only
def test_rows_by_ids_are_compiled_once_whatever_the_number_of_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    merchants = [merchant_create(name=f"Shop {number}") for number in range(4)]
    statement = _merchants_by_ids()
    compiled = compilations(monkeypatch, SQLCompiler)
    with transaction.atomic():
        for count in (1, 2, 4, 3):
            assert len(statement.rows([merchant.pk for merchant in merchants[:count]])) == count

    assert [compiler.query.model for compiler in compiled] == [Merchant]


@pytest.fixture
def encoded(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Each JSON value psycopg2 encodes from now on, in order."""
    values: list[object] = []
    dumps = Json.dumps

    def counting(self: Json, value: object) -> str:
        values.append(value)
        return dumps(self, value)

    monkeypatch.setattr(Json, "dumps", counting)
    return values


@postgresql_only
def test_a_change_s_data_is_encoded_once_for_its_audit_row_and_its_event(encoded: list[object]) -> None:
    merchant = merchant_create(name="Acme")
    encoded.clear()  # what the merchant's creation encoded
    first, second = {"step": 1}, {"step": 2}
    with transaction.atomic():
        change_record_many(
            changes=[
                Change(action="merchant.noted", instance=merchant, before={"step": 0}, data=first),
                Change(action="merchant.noted", instance=merchant, before=first, data=second),  # the next from it
            ]
        )

    # each value once: the first before, each after (its audit row's and its event's), the second
    # change's before being the first's after
    assert encoded == [{"step": 0}, first, second]
    entries = AuditLogEntry.objects.filter(action="merchant.noted").order_by("pk")
    assert [(entry.before, entry.after) for entry in entries] == [({"step": 0}, first), (first, second)]
    assert [event.data for event in Event.objects.filter(type="merchant.noted").order_by("pk")] == [first, second]


@postgresql_only
def test_one_change_s_data_is_encoded_once_for_its_audit_row_and_its_event(encoded: list[object]) -> None:
    """``change_record`` and a credit decision write through ``insert_rows``: one statement, whose
    audit row's "after" and event's payload are the same value, quoted once."""
    merchant = merchant_create(name="Acme")
    encoded.clear()  # what the merchant's creation encoded
    data = {"step": 1}
    with transaction.atomic():
        change_record(action="merchant.noted", instance=merchant, before={"step": 0}, data=data)

    assert encoded == [{"step": 0}, data]
    entry = AuditLogEntry.objects.get(action="merchant.noted")
    assert (entry.before, entry.after) == ({"step": 0}, data)
    assert Event.objects.get(type="merchant.noted").data == data
