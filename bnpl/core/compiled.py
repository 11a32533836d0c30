"""SELECTs on the hot path, compiled once per process instead of once per call.

Django compiles a queryset's SQL every time it is evaluated: for a lock with its joins and
annotations that is more Python than the round trip it makes. The SQL depends only on the shape
of the queryset, not on the values it is asked for, which are parameters: so a queryset is built
once with a marker value in each place a call's value goes, compiled by Django's own compiler, and
each call runs that statement with its own values put where the markers were, then builds its rows
as the ORM's ``ModelIterable`` does (the same model instances, ``select_related`` rows and
annotations, through the same converters, given the calling thread's connection).

For querysets whose SQL does not depend on the values (no ``__in`` of a varying length, no value
that changes the shape, such as ``None``): a marker must come out as exactly one parameter, or
compiling refuses it. A batch's rows by a list of ids are one parameter all the same:
``CompiledSelectByIds`` matches them with ``= ANY(%s)`` (``AnyOf``), the list passed as one array.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connection, connections, models
from django.db.models import F, Q
from django.db.models.lookups import Lookup
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]  # the ORM's own, unstubbed

Row = TypeVar("Row", bound=models.Model)

# Marker values, one per parameter a call fills in: integers nothing else would hold (a text
# column's lookup is given the marker's text: it is found as that).
MARKERS = tuple(-(2**62) - number for number in range(8))


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[int, ...]  # where each of a call's values goes in ``params``, in the call's order
    model: type[models.Model]
    columns: tuple[int, int]  # the model's own columns: start, end
    names: list[str]  # their attribute names
    populators: list[Any]  # the select_related rows'
    annotations: list[tuple[str, int]]  # (name, column)
    converters: dict[int, Any]  # column -> the converters the ORM applies to it (from_db_value)


class CompiledSelect(Generic[Row]):
    """``build(*markers)``'s SELECT, compiled on first use per database connection alias and vendor.
    ``rows(*values)`` runs it with ``values`` in the markers' places."""

    def __init__(self, build: Callable[..., models.QuerySet[Row]], *, arity: int = 1) -> None:
        self._build = build
        self._arity = arity
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def _compile(self) -> _Compiled:
        markers = MARKERS[: self._arity]
        queryset = self._build(*markers)
        compiler = queryset.query.get_compiler(using=queryset.db)
        sql, params = compiler.as_sql()
        slots = []
        for marker in markers:
            found = [index for index, param in enumerate(params) if param in (marker, str(marker))]
            if len(found) != 1:
                raise ValueError(f"marker {marker} is {len(found)} parameters of the compiled query, not one")
            slots.append(found[0])
        select, klass_info = compiler.select, compiler.klass_info
        assert klass_info is not None
        columns = [column[0] for column in select[: compiler.col_count]]
        if compiler.has_composite_fields(columns):
            raise ValueError("a composite primary key is not read here")
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        compiled = _Compiled(
            sql=sql,
            params=tuple(params),
            slots=tuple(slots),
            model=klass_info["model"],
            columns=(start, end),
            names=[column[0].target.attname for column in select[start:end]],
            populators=get_related_populators(klass_info, select, connection.alias),
            annotations=list((compiler.annotation_col_map or {}).items()),
            converters=compiler.get_converters(columns),
        )
        return self._compiled.setdefault((connection.alias, connection.vendor), compiled)

    def rows(self, *values: Any) -> list[Row]:
        if len(values) != self._arity:
            raise TypeError(f"{self._arity} values expected, {len(values)} given")
        compiled = self._compiled.get((connection.alias, connection.vendor)) or self._compile()
        params = list(compiled.params)
        for slot, value in zip(compiled.slots, values, strict=True):
            params[slot] = value
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, params)
            fetched = cursor.fetchall()
        return _instances(compiled, fetched)


def _instances(compiled: _Compiled, fetched: Sequence[Any]) -> list[Any]:
    """The rows as ``ModelIterable`` makes them from the same compiler's results."""
    start, end = compiled.columns
    instances = []
    database = connections[connection.alias]
    for fetched_row in fetched:
        row = list(fetched_row)
        for position, (converters, expression) in compiled.converters.items():
            value = row[position]
            for converter in converters:
                value = converter(value, expression, database)
            row[position] = value
        instance = compiled.model.from_db(connection.alias, compiled.names, row[start:end])
        for populator in compiled.populators:
            populator.populate(row, instance)
        for name, position in compiled.annotations:
            setattr(instance, name, row[position])
        instances.append(instance)
    return instances


class AnyOf(Lookup):  # type: ignore[type-arg]  # the ORM's Lookup, unstubbed generics
    """``column = ANY(%s)``: a column matching any element of one array parameter (PostgreSQL), so
    that a list of ids of any length is one parameter of a ``CompiledSelect``."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        rhs_sql, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs_sql} = ANY({rhs_sql})", [*lhs_params, *rhs_params]


class CompiledSelectByIds(Generic[Row]):
    """``build(match)``'s rows whose ``field`` is one of a list of ids (a batch's rows, locked or
    read together): on PostgreSQL a ``CompiledSelect`` compiled once per process, ``match`` being
    ``field = ANY(ids)`` with the ids one array parameter; elsewhere the ORM's own query, ``match``
    being ``field__in``. The same rows either way, in the order ``build`` gives them."""

    def __init__(self, build: Callable[[Any], models.QuerySet[Row]], *, field: str = "pk") -> None:
        self._build = build
        self._field = field
        self._compiled: CompiledSelect[Row] = CompiledSelect(lambda ids: build(AnyOf(F(field), ids)))

    def rows(self, ids: Collection[int]) -> list[Row]:
        if connection.vendor == "postgresql":
            return self._compiled.rows(list(ids))
        return list(self._build(Q(**{f"{self._field}__in": list(ids)})))
