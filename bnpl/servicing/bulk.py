"""Writing a batch's changed rows with few statements: rows that take the same new values share
one ``UPDATE`` (Django's ``bulk_update`` would spell a ``CASE`` per row and column, which costs more
to build than the rows it writes)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import models


def rows_update(model: type[models.Model], rows: Sequence[models.Model], fields: Sequence[str]) -> None:
    """Save ``fields`` of ``rows`` (instances of ``model``): one ``UPDATE`` per distinct set of
    values among them, so a batch whose rows mostly end alike (attempts succeeded, plans paid) costs
    a statement or two whatever its size."""
    names = [_attribute(model, field) for field in fields]
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for row in rows:
        groups[tuple(getattr(row, name) for name in names)].append(row.pk)
    for values, ids in groups.items():
        model._default_manager.filter(pk__in=ids).update(**dict(zip(names, values, strict=True)))


def _attribute(model: type[models.Model], field_name: str) -> str:
    """The attribute a concrete field's value is kept in (``plan_id`` for ``plan``)."""
    field = model._meta.get_field(field_name)
    assert isinstance(field, models.Field), f"{field_name} is not a concrete field"
    return field.attname
