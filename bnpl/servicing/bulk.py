"""Writing a batch's changed rows with few statements: rows that take the same new values share
one ``UPDATE`` (Django's ``bulk_update`` would spell a ``CASE`` per row and column, which costs more
to build than the rows it writes), whose text is made once per model and columns (on PostgreSQL
``… WHERE id = ANY(%s)``, the ids one array parameter: the same statement for any number of rows;
elsewhere the ORM's own ``update``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from typing import Any

from django.db import connection, models

from bnpl.core.inserts import update_statement


def rows_update(model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Save ``fields`` of ``rows`` (instances of ``model``): one ``UPDATE`` per distinct set of
    values among them, so a batch whose rows mostly end alike (attempts succeeded, plans paid) costs
    a statement or two whatever its size."""
    names = [_attribute(model, field) for field in fields]
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for row in rows:
        groups[tuple(getattr(row, name) for name in names)].append(row.pk)
    for values, ids in groups.items():
        ids_update(model, ids, dict(zip(names, values, strict=True)))


def ids_update(model: type[models.Model], ids: Collection[Any], values: dict[str, Any]) -> None:
    """``model.objects.filter(pk__in=ids).update(**values)`` for plain values (no expression), each
    prepared by its field as ``update`` prepares it; on PostgreSQL an ``UPDATE`` whose text is made
    once per model and columns. Nothing is written for no ids."""
    if not ids:
        return
    if connection.vendor != "postgresql":
        model._default_manager.filter(pk__in=list(ids)).update(**values)
        return
    sql, fields = update_statement(model, tuple(values), many=True)
    params = []
    for field, value in zip(fields, values.values(), strict=True):
        if hasattr(value, "resolve_expression"):
            raise ValueError(f"{model.__name__}.{field.name}: an expression, not a value")
        params.append(field.get_db_prep_save(value, connection=connection))
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, list(ids)])


def _attribute(model: type[models.Model], field_name: str) -> str:
    """The attribute a concrete field's value is kept in (``plan_id`` for ``plan``)."""
    field = model._meta.get_field(field_name)
    assert isinstance(field, models.Field), f"{field_name} is not a concrete field"
    return field.attname
