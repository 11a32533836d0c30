"""SELECTs on the hot path, compiled once per process instead of once per call.

Django compiles a queryset's SQL every time it is evaluated: for a lock with its joins and
annotations that is more Python than the round trip it makes. The SQL depends only on the shape
of the queryset, not on the values it is asked for, which are parameters: so a queryset is built
once with a marker value in each place a call's value goes, compiled by Django's own compiler, and
each call runs that statement with its own values put where the markers were, then builds its rows
as the ORM's ``ModelIterable`` does (the same model instances, ``select_related`` rows and
annotations, through the same converters, given the calling thread's connection).

Building the instances is most of a batch's Python: ``Model.__init__`` assigns each column through
its descriptor, which for a row read whole from the database only stores the value. So a model
read whole, whose ``__init__``, ``from_db`` and column descriptors are Django's own, is built by
``RowBuilder``: the instance's state and its columns' values stored at once, ``pre_init`` and
``post_init`` sent as ``__init__`` sends them -- the same instance, a third of the Python.

For querysets whose SQL does not depend on the values (no ``__in`` of a varying length, no value
that changes the shape, such as ``None``): a marker must come out as exactly one parameter, or
compiling refuses it. A batch's rows by a list of ids are one parameter all the same:
``CompiledSelectByIds`` matches them with ``= ANY(%s)`` (``AnyOf``), the list passed as one array.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from django.db import connection, connections, models, transaction
from django.db.models import F, Q
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.lookups import Lookup
from django.db.models.query import get_related_populators  # type: ignore[attr-defined]  # the ORM's own, unstubbed
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.db.models.sql import UpdateQuery

Row = TypeVar("Row", bound=models.Model)
Made = TypeVar("Made")

# Marker values, one per parameter a call fills in: integers nothing else would hold (a text
# column's lookup is given the marker's text: it is found as that).
MARKERS = tuple(-(2**62) - number for number in range(8))
# Markers for a date and for a moment (a timestamp): days in the year 1, which no row holds, each
# compiled as its own parameter.
DAY_MARKERS = tuple(dt.date(1, 1, 1 + number) for number in range(4))
MOMENT_MARKERS = tuple(dt.datetime(1, 1, 1 + number, tzinfo=dt.UTC) for number in range(4))


def per_mode(make: Callable[[bool], Made]) -> dict[bool, Made]:
    """``make(livemode)`` for test mode and for live mode, by mode: a statement that filters on the
    mode is compiled once per mode, since no marker can stand for a boolean (``True`` would be found
    wherever the query filters on another flag)."""
    return {livemode: make(livemode) for livemode in (False, True)}


@dataclass(frozen=True)
class _Compiled:
    sql: str
    params: tuple[Any, ...]
    slots: tuple[int, ...]  # where each of a call's values goes in ``params``, in the call's order
    model: type[models.Model]
    columns: tuple[int, int]  # the model's own columns: start, end
    names: list[str]  # their attribute names
    build: RowBuilder  # the model's instances from their columns' values
    populators: list[_Populator]  # the select_related rows'
    annotations: list[tuple[str, int]]  # (name, column)
    converters: dict[int, Any]  # column -> the converters the ORM applies to it (from_db_value)


class CompiledSelect(Generic[Row]):
    """``build(*markers)``'s SELECT, compiled on first use per database connection alias and vendor.
    ``rows(*values)`` runs it with ``values`` in the markers' places.

    ``markers``: the marker values, for a parameter an integer cannot stand for (a date); each
    must come out of the compiler as itself, once. ``wrap``: the statement run instead of the
    SELECT, given the SELECT's SQL, its number of columns and the position of the model's primary
    key among them (a statement around it whose result is the SELECT's rows: the claim's, which
    also clears what it claims); its text adds no parameter."""

    def __init__(
        self,
        build: Callable[..., models.QuerySet[Row]],
        *,
        arity: int = 1,
        markers: Sequence[Any] | None = None,
        wrap: Callable[[str, int, int], str] | None = None,
    ) -> None:
        self._build = build
        self._markers = tuple(markers) if markers is not None else MARKERS[:arity]
        self._arity = len(self._markers)
        self._wrap = wrap
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    def _compile(self) -> _Compiled:
        markers = self._markers
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
        names = [column[0].target.attname for column in select[start:end]]
        if self._wrap is not None:
            sql = self._wrap(sql, len(select), start + names.index(klass_info["model"]._meta.pk.attname))
        compiled = _Compiled(
            sql=sql,
            params=tuple(params),
            slots=tuple(slots),
            model=klass_info["model"],
            columns=(start, end),
            names=names,
            build=RowBuilder(klass_info["model"], names),
            populators=[_Populator(inner) for inner in get_related_populators(klass_info, select, connection.alias)],
            annotations=list((compiler.annotation_col_map or {}).items()),
            converters=compiler.get_converters(columns),
        )
        return self._compiled.setdefault((connection.alias, connection.vendor), compiled)

    def statement(self, *values: Any) -> tuple[str, list[Any]]:
        """The SQL ``rows(*values)`` runs, and its parameters (to read its plan)."""
        if len(values) != self._arity:
            raise TypeError(f"{self._arity} values expected, {len(values)} given")
        compiled = self._compiled.get((connection.alias, connection.vendor)) or self._compile()
        params = list(compiled.params)
        for slot, value in zip(compiled.slots, values, strict=True):
            params[slot] = value
        return compiled.sql, params

    def rows(self, *values: Any) -> list[Row]:
        sql, params = self.statement(*values)
        compiled = self._compiled[(connection.alias, connection.vendor)]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        return _instances(compiled, fetched)

    def first(self, *values: Any) -> Row | None:
        """The first of ``rows(*values)``, or None (a lookup of one row: its query has its own
        LIMIT or reads by a unique key)."""
        found = self.rows(*values)
        return found[0] if found else None


def _instances(compiled: _Compiled, fetched: Sequence[Any]) -> list[Any]:
    """The rows as ``ModelIterable`` makes them from the same compiler's results."""
    start, end = compiled.columns
    instances = []
    alias = connection.alias  # read once: each read of the proxy is a context-local lookup
    database = connections[alias]
    for fetched_row in fetched:
        row = list(fetched_row)
        for position, (converters, expression) in compiled.converters.items():
            value = row[position]
            for converter in converters:
                value = converter(value, expression, database)
            row[position] = value
        instance = compiled.build(alias, row[start:end])
        for populator in compiled.populators:
            populator.populate(row, instance)
        for name, position in compiled.annotations:
            setattr(instance, name, row[position])
        instances.append(instance)
    return instances


class RowBuilder:
    """``model.from_db(db, names, values)``: for a model read whole (``names`` its concrete
    columns' attribute names, in order) whose ``__init__`` and ``from_db`` are Django's and whose
    columns are set through Django's plain descriptors (``DeferredAttribute``, or a foreign key's
    ``ForeignKeyDeferredAttribute``, which on a new instance only stores the value), the values are
    stored as ``__init__`` would store them, its signals sent as it sends them; any other model
    is built by its own ``from_db``."""

    def __init__(self, model: type[models.Model], names: Sequence[str]) -> None:
        self._model, self._names = model, list(names)
        concrete = [field.attname for field in model._meta.concrete_fields]
        self._plain = (
            self._names == concrete
            and model.__init__ is models.Model.__init__
            and getattr(model.from_db, "__func__", None) is getattr(models.Model.from_db, "__func__", ())
            and all(
                type(inspect.getattr_static(model, name, None)) in (DeferredAttribute, ForeignKeyDeferredAttribute)
                for name in self._names
            )
        )

    def __call__(self, db: str, values: Sequence[Any]) -> models.Model:
        model = self._model
        if not self._plain:
            return model.from_db(db, self._names, values)
        pre_init.send(sender=model, args=tuple(values), kwargs={})
        instance = model.__new__(model)
        state = instance._state = ModelState()
        instance.__dict__.update(zip(self._names, values, strict=True))
        post_init.send(sender=model, instance=instance)
        state.adding, state.db = False, db
        return instance


class _Populator:
    """Django's ``RelatedPopulator.populate`` (a ``select_related`` row set on the row it was read
    with), its instances made by ``RowBuilder``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._build = RowBuilder(inner.model_cls, inner.init_list)
        self._related = [_Populator(related) for related in inner.related_populators]

    def populate(self, row: Sequence[Any], from_obj: models.Model) -> None:
        inner = self._inner
        data = inner.reorder_for_init(row) if inner.reorder_for_init else row[inner.cols_start : inner.cols_end]
        instance = None if data[inner.pk_idx] is None else self._build(inner.db, data)
        if instance is not None:
            for related in self._related:
                related.populate(row, instance)
        inner.local_setter(from_obj, instance)
        if instance is not None:
            inner.remote_setter(instance, from_obj)


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

    def rows(self, ids: Collection[Any]) -> list[Row]:
        if connection.vendor == "postgresql":
            return self._compiled.rows(list(ids))
        return list(self._build(Q(**{f"{self._field}__in": list(ids)})))

    def pks(self, ids: Collection[Any]) -> list[Any]:
        """The primary keys of ``rows(ids)``, without building their instances (a check that only
        needs to know which rows match). The first column ``build`` selects must be the primary
        key (as Django selects it first)."""
        if connection.vendor == "postgresql":
            sql, params = self._compiled.statement(list(ids))
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                return [row[0] for row in cursor.fetchall()]
        return list(self._build(Q(**{f"{self._field}__in": list(ids)})).values_list("pk", flat=True))


class CompiledUpdate:
    """``build(*markers)``'s ``UPDATE`` (a queryset and the values to set, as ``QuerySet.update``
    takes them), compiled on first use per database connection alias and vendor by Django's own
    update compiler; ``run(*values)`` runs it with ``values`` in the markers' places and returns
    how many rows it changed. For an update whose SQL does not depend on the values (as
    ``CompiledSelect``), of one table (no related updates): its filters may join (a subquery of
    ids, as Django makes on PostgreSQL) and exclude with ``Exists``, compiled once instead of on
    every call. ``markers``: as ``CompiledSelect``'s (dates, for a date column)."""

    def __init__(
        self,
        build: Callable[..., tuple[models.QuerySet[Any], dict[str, Any]]],
        *,
        arity: int = 1,
        markers: Sequence[Any] | None = None,
    ) -> None:
        self._build = build
        self._markers = tuple(markers) if markers is not None else MARKERS[:arity]
        self._arity = len(self._markers)
        self._compiled: dict[tuple[str, str], tuple[str, tuple[Any, ...], tuple[int, ...]]] = {}

    def _compile(self) -> tuple[str, tuple[Any, ...], tuple[int, ...]]:
        queryset, assignments = self._build(*self._markers)
        query = cast(UpdateQuery, queryset.query.chain(UpdateQuery))
        query.add_update_values(assignments)
        query.clear_select_clause()
        if query.related_updates:
            raise ValueError("an update of more than one table is not compiled here")
        sql, params = query.get_compiler(queryset.db).as_sql()
        slots = []
        for marker in self._markers:
            found = [index for index, param in enumerate(params) if param in (marker, str(marker))]
            if len(found) != 1:
                raise ValueError(f"marker {marker} is {len(found)} parameters of the compiled update, not one")
            slots.append(found[0])
        compiled = (sql, tuple(params), tuple(slots))
        return self._compiled.setdefault((connection.alias, connection.vendor), compiled)

    def statement(self, *values: Any) -> tuple[str, list[Any]]:
        """The SQL ``run(*values)`` runs, and its parameters."""
        if len(values) != self._arity:
            raise TypeError(f"{self._arity} values expected, {len(values)} given")
        sql, params, slots = self._compiled.get((connection.alias, connection.vendor)) or self._compile()
        filled = list(params)
        for slot, value in zip(slots, values, strict=True):
            filled[slot] = value
        return sql, filled

    def run(self, *values: Any) -> int:
        sql, params = self.statement(*values)
        with transaction.mark_for_rollback_on_error(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            return int(cursor.rowcount)
