"""What an order's representation reads, loaded with the order: its session and plan joined, the
merchant's id for its consumer annotated, its captures and refunds prefetched.

``orders_with_representation`` does it the ORM's way (two prefetch queries after the order's).
``orders_with_representation_inline`` does it in the order's own query on PostgreSQL: the
captures and refunds come as JSON arrays of their rows, which ``order_related_attach`` turns into
the same instances, prefetched as Django's prefetch leaves them (in the models' ordering), and
the session and plan as their ids and public ids only, so the representation reads nothing more.
A lock taken that way (``bnpl.servicing.locks``) is one statement instead of three.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any, cast

from django.db import connection, models
from django.db.models import QuerySet, prefetch_related_objects
from django.db.models.expressions import RawSQL

from bnpl.checkout.models import Capture, Order, Refund
from bnpl.core.compiled import RowBuilder
from bnpl.tenancy import selectors as tenancy

# The annotation a loaded order carries (a public id): read through checkout.selectors.merchant_consumer_id.
LISTED_MERCHANT_CONSUMER_ID = "listed_merchant_consumer_public_id"
# Prefetch name -> the related model, whose rows the inline query reads as one JSON array.
_INLINE_RELATED: dict[str, type[models.Model]] = {"captures": Capture, "refunds": Refund}
_INLINE_PREFIX = "inline_related_"
# The one-to-one rows the representation shows by public id only: read as that, with their id.
_INLINE_NAMED = ("checkout_session", "plan")
_NAMED_PREFIX = "inline_named_"
# The field types a row read back from JSON may hold: each is JSON as is, or text turned back below.
_JSON_AS_IS = frozenset(
    {"AutoField", "BigAutoField", "BigIntegerField", "IntegerField", "CharField", "TextField", "BooleanField"}
)


def orders_with_representation(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """``queryset`` with what an order's representation reads (see the module)."""
    return (
        queryset.select_related("checkout_session", "plan")
        .prefetch_related(*_INLINE_RELATED)
        .annotate(**{LISTED_MERCHANT_CONSUMER_ID: tenancy.merchant_consumer_id_subquery()})
    )


def orders_with_representation_inline(queryset: QuerySet[Order]) -> QuerySet[Order]:
    """``orders_with_representation`` in one query (PostgreSQL): the captures and refunds are
    annotated as JSON arrays, and the session and plan as the id and public id the
    representation shows (not their whole rows: a session's items and a plan's terms are most of
    what a capture's lock would read and build otherwise); ``order_related_attach`` each order read."""
    assert connection.vendor == "postgresql", "JSON arrays of rows: PostgreSQL's json_agg"
    return queryset.annotate(
        **{LISTED_MERCHANT_CONSUMER_ID: tenancy.merchant_consumer_id_subquery()},
        **{_INLINE_PREFIX + name: _json_rows(model) for name, model in _INLINE_RELATED.items()},
        **{
            f"{_NAMED_PREFIX}{name}_{field}": models.F(f"{name}__{field}")
            for name in _INLINE_NAMED
            for field in ("pk", "public_id")
        },
    )


class _RepresentationLoading:
    """What an order's representation reads, read with the order (``bnpl.tenancy.selectors.Loading``):
    on PostgreSQL in the order's own statement (``orders_with_representation_inline``, then
    ``order_related_attach``); elsewhere the ORM's joins and prefetches
    (``orders_with_representation``: a statement ``scoped_get`` compiles once leaves the prefetches
    out, and the representation reads them itself)."""

    def shape(self, queryset: QuerySet[Order]) -> QuerySet[Order]:
        if connection.vendor == "postgresql":
            return orders_with_representation_inline(queryset)
        return orders_with_representation(queryset)

    def finish(self, order: Order) -> Order:
        return order_related_attach(order) if connection.vendor == "postgresql" else order


ORDER_REPRESENTATION = _RepresentationLoading()


def _json_rows(model: type[models.Model]) -> RawSQL:
    """The order's rows of ``model``, in the model's ordering, as the text of a JSON array of
    objects keyed by column."""
    meta = model._meta
    quote = connection.ops.quote_name
    for field in meta.concrete_fields:
        _check_readable(field)
    ordering = ", ".join(_order_by(meta, name) for name in meta.ordering or ())
    order_column = cast("models.Field[Any, Any]", meta.get_field("order")).column
    order_meta = Order._meta
    return RawSQL(  # noqa: S611  # nosec B611  # names from the models, no values
        f"SELECT coalesce(json_agg(related ORDER BY {ordering}), '[]')::text "  # noqa: S608  # nosec B608  # names from the models
        f"FROM {quote(meta.db_table)} related "
        f"WHERE related.{quote(order_column)} = {quote(order_meta.db_table)}.{quote(order_meta.pk.column)}",
        (),
        output_field=models.TextField(),
    )


def _order_by(meta: Any, name: Any) -> str:
    assert isinstance(name, str), "orderings by name only"
    descending = name.startswith("-")
    column = meta.get_field(name.lstrip("-")).column
    return f"related.{connection.ops.quote_name(column)}{' DESC' if descending else ''}"


def _check_readable(field: models.Field[Any, Any]) -> None:
    internal = field.get_internal_type()
    if internal not in _JSON_AS_IS and internal not in ("ForeignKey", "DateTimeField"):
        raise ValueError(f"{field.model.__name__}.{field.name}: a {internal} is not read back from JSON here")


def order_related_attach(order: Order) -> Order:
    """Turn the order's inline JSON arrays into its prefetched captures and refunds: the instances
    and querysets Django's prefetch would have left (``order.captures.all()`` reads nothing), each
    row knowing its order.

    A locked read sees the order's row as it is once the lock is granted, but the arrays as the
    statement's snapshot saw them when it started (READ COMMITTED): a capture or refund that
    committed while the lock waited for it is in the row's figures, not in the arrays. The rows
    then disagree with the figures (the captures' amounts sum to ``captured_amount`` and the
    refunds' to ``refunded_amount``: the only writers of either write both, under this lock, and
    every amount is positive), and they are read again, by statements that see that commit."""
    _named_attach(order)
    caches = getattr(order, "_prefetched_objects_cache", None)
    if caches is None:
        caches = {}
        order._prefetched_objects_cache = caches  # type: ignore[attr-defined]
    for name, model in _INLINE_RELATED.items():
        items = json.loads(getattr(order, _INLINE_PREFIX + name))
        delattr(order, _INLINE_PREFIX + name)
        rows = [_row_from_json(model, item) for item in items]
        order_field = model._meta.get_field("order")
        for row in rows:
            order_field.set_cached_value(row, order)  # type: ignore[union-attr]
        related = getattr(order, name).get_queryset()
        related._result_cache = rows
        related._prefetch_done = True
        caches[name] = related
    if not _related_agree(order):
        caches.clear()
        prefetch_related_objects([order], *_INLINE_RELATED)
    return order


def _named_attach(order: Order) -> None:
    """The order's session and plan as instances holding their id and public id only (the rest of
    each is deferred: read, it is loaded, as Django loads a deferred field), each knowing its order,
    where ``select_related`` would have put them. No plan: as ``select_related`` leaves it."""
    for name in _INLINE_NAMED:
        pk, public_id = (getattr(order, f"{_NAMED_PREFIX}{name}_{field}") for field in ("pk", "public_id"))
        for field in ("pk", "public_id"):
            delattr(order, f"{_NAMED_PREFIX}{name}_{field}")
        descriptor = getattr(Order, name)
        forward = hasattr(descriptor, "field")  # the session: the order's own column; the plan: the plan's
        relation = descriptor.field if forward else descriptor.related
        related_model = relation.remote_field.model if forward else relation.related_model
        row = None if pk is None else related_model.from_db(connection.alias, ["id", "public_id"], [pk, public_id])
        relation.set_cached_value(order, row)
        if row is not None:
            (relation.remote_field if forward else relation.field).set_cached_value(row, order)


def _related_agree(order: Order) -> bool:
    captures, refunds = order.captures.all(), order.refunds.all()
    return (
        sum(capture.amount for capture in captures) == order.captured_amount
        and sum(refund.amount for refund in refunds) == order.refunded_amount
    )


def _row_from_json(model: type[models.Model], item: dict[str, Any]) -> models.Model:
    build, columns = _json_reader(model)
    values = [item[column] for column, _ in columns]
    for index, (_, is_time) in enumerate(columns):
        if is_time and values[index] is not None:
            values[index] = dt.datetime.fromisoformat(values[index])
    return build(connection.alias, values)


@functools.cache
def _json_reader(model: type[models.Model]) -> tuple[RowBuilder, list[tuple[str, bool]]]:
    """How ``model``'s rows are made from JSON objects: its builder, and its concrete fields'
    columns with which are times; worked out once per process."""
    fields = model._meta.concrete_fields
    columns = [(field.column, field.get_internal_type() == "DateTimeField") for field in fields]
    return RowBuilder(model, [field.attname for field in fields]), columns
