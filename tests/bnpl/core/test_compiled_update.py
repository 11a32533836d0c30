"""``CompiledUpdate``: an UPDATE compiled once per process by Django's own compiler, run with each
call's values where its markers were."""

from __future__ import annotations

import pytest
from django.db.models.sql.compiler import SQLUpdateCompiler

from bnpl.core.compiled import CompiledUpdate
from merchants.models import Merchant
from merchants.services import merchant_create
from tests.helpers import compilations

pytestmark = pytest.mark.django_db


def _rename() -> CompiledUpdate:
    return CompiledUpdate(lambda merchant_id: (Merchant.objects.filter(pk=merchant_id), {"name": "Renamed"}))


def test_a_compiled_update_changes_the_rows_its_values_name_and_counts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, second = merchant_create(name="First"), merchant_create(name="Second")
    statement = _rename()
    compiled = compilations(monkeypatch, SQLUpdateCompiler)

    counts = [statement.run(first.pk), statement.run(0)]

    assert counts == [1, 0] and len(compiled) == 1
    assert {row.pk: row.name for row in Merchant.objects.filter(pk__in=[first.pk, second.pk])} == {
        first.pk: "Renamed",
        second.pk: "Second",
    }


def test_a_marker_that_is_not_exactly_one_parameter_is_refused() -> None:
    twice = CompiledUpdate(
        lambda merchant_id: (Merchant.objects.filter(pk=merchant_id).exclude(pk=merchant_id), {"name": "x"})
    )

    with pytest.raises(ValueError, match="2 parameters"):
        twice.run(1)
