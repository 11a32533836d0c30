"""``bnpl.core.inserts`` sends the values Django's own fields would send: a value its field passes
to psycopg2 unchanged (a str in a CharField, an int in an integer field…) goes as it is, without
the field's chain of methods; every other value takes its field's ``get_db_prep_save``."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, models
from psycopg2.extras import Json

from bnpl.core import inserts
from bnpl.core.models import AuditLogEntry, Event
from decisioning import decide
from decisioning.models import CreditDecision
from tests.bnpl.checkout.factories import application_for
from tests.merchants.factories import Tenant

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="psycopg2's path on PostgreSQL"),
]


class _Number(enum.IntEnum):
    ONE = 1


class _Word(models.TextChoices):
    WORD = "word"


_SAMPLES: list[Any] = [
    "text",
    "",
    _Word.WORD,
    0,
    7,
    2**40,
    True,
    False,
    _Number.ONE,
    1.5,
    float("nan"),
    dt.datetime(2026, 12, 7, 4, 0, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 7, 4, 0),  # naive: the field's path (it warns and makes it aware)
    dt.date(2026, 12, 7),
    [1],
    {"a": 1},
]


def test_what_goes_as_it_is_is_what_every_model_s_field_would_send() -> None:
    checked = 0
    for model in apps.get_models():
        for field in inserts._fields(model):
            check = inserts._as_is_check(field)
            if check is None:
                continue
            assert field.get_db_prep_save(None, connection=connection) is None
            for value in _SAMPLES:
                if check(value):
                    prepared = field.get_db_prep_save(value, connection=connection)
                    assert prepared is value, (model, field.name, value)
                    checked += 1
    assert checked > 1000  # most of the project's columns are covered


def _field_path(row: models.Model) -> list[Any]:
    prepared = [
        field.get_db_prep_save(field.pre_save(row, add=True), connection) for field in inserts._fields(type(row))
    ]
    return [value.adapted if isinstance(value, Json) else value for value in prepared]


def test_a_decision_s_rows_take_the_field_path_only_for_their_json(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The three rows of a decision: the same values as their fields' own, and only the JSON
    columns (and the decision's none-valued ones never) run a field's ``get_db_prep_save``."""
    application = application_for(tenant, email="fields@example.com")
    written: list[list[models.Model]] = []
    insert_rows = inserts.insert_rows

    def kept(rows: list[models.Model], **options: Any) -> None:
        written.append(list(rows))
        insert_rows(rows, **options)

    monkeypatch.setattr(inserts, "insert_rows", kept)
    decide(application=application)
    [rows] = written
    assert [type(row) for row in rows] == [CreditDecision, AuditLogEntry, Event]

    through_fields: list[tuple[str, str]] = []
    for row in rows:
        for field in inserts._fields(type(row)):
            prepare = field.get_db_prep_save

            def counted(value: Any, connection: Any, _prepare: Any = prepare, _field: Any = field) -> Any:
                through_fields.append((_field.model.__name__, _field.name))
                return _prepare(value, connection=connection)

            monkeypatch.setattr(field, "get_db_prep_save", counted)
    sent = [inserts.insert_sql(row)[1] for row in rows]
    monkeypatch.undo()

    assert [[value.adapted if isinstance(value, Json) else value for value in values] for values in sent] == [
        _field_path(row) for row in rows
    ]
    assert {name for name, _ in through_fields} <= {"CreditDecision", "AuditLogEntry", "Event"}
    assert all(
        isinstance(type(row)._meta.get_field(name), models.JSONField)
        for row in rows
        for model, name in through_fields
        if model == type(row).__name__
    ), through_fields
