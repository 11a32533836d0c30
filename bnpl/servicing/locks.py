"""Row locks for the writes that move an order's or a plan's money, and the one order they are
taken in, written once:

**the consumer (where locked), then the order, then its plan**, then the plan's installments,
charges and balances.

Every writer that touches both an order and its plan -- capture, void, refund and expiry; disputes;
pay now, pay early and applying a payment; late fees and charge-off; a balance paying a plan --
takes them in this order through these helpers, so two writers never wait on each other in
opposite orders (no deadlock). A writer that needs only the plan (a due-date move, hardship, a
plan reduction inside a refund that already holds the order) may lock the plan alone, but never
locks the order after it. Checkout confirmation and opening a dispute lock the consumer first, so
per-consumer limits hold under concurrent requests.

Each helper locks its own row only (``of=self``): related rows read alongside are not locked, so
other orders of the same merchant or consumer go on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from django.db import connection
from django.db.models import QuerySet

from bnpl.checkout.loading import order_related_attach, orders_with_representation, orders_with_representation_inline
from bnpl.checkout.models import Order
from bnpl.core.compiled import CompiledSelect, CompiledSelectByIds
from bnpl.plans.models import Plan
from consumers.models import Consumer


def order_lock(
    *,
    order_id: int | None = None,
    plan_id: int | None = None,
    loading: Callable[[QuerySet[Order]], QuerySet[Order]] | None = None,
) -> Order:
    """The order (by its id, or its plan's), with its merchant and consumer read alongside, and
    whatever ``loading`` adds to the query (a capture loads what the order's representation reads,
    so its audit row's before and after read nothing twice)."""
    filters = {"pk": order_id} if order_id is not None else {"plan__pk": plan_id}
    queryset = Order.objects.select_related("merchant", "consumer")
    if loading is not None:
        queryset = loading(queryset)
    return queryset.select_for_update(of=("self",)).get(**filters)


# The order locked with what its representation reads, in one statement compiled once (PostgreSQL).
_order_with_representation = CompiledSelect(
    lambda order_id: (
        orders_with_representation_inline(Order.objects.select_related("merchant"))
        .select_for_update(of=("self",))
        .filter(pk=order_id)
    )
)


def order_lock_with_representation(*, order_id: int) -> Order:
    """``order_lock`` with what the order's representation reads (a capture renders the order
    before and after for its audit row, reading nothing twice): on PostgreSQL one statement,
    compiled once per process, with the captures and refunds in it
    (``bnpl.checkout.loading.orders_with_representation_inline``); elsewhere the ORM's lock and
    its two prefetches. The same row lock either way."""
    if connection.vendor != "postgresql":
        return order_lock(order_id=order_id, loading=orders_with_representation)
    found = _order_with_representation.rows(order_id)
    if not found:
        raise Order.DoesNotExist(f"Order matching query does not exist: id {order_id}.")
    return order_related_attach(found[0])


def plan_lock(*, plan_id: int | None = None, order_id: int | None = None) -> Plan:
    """The plan (by its id, or its order's), with its product and order read alongside."""
    filters = {"pk": plan_id} if plan_id is not None else {"order_id": order_id}
    return Plan.objects.select_related("product", "order").select_for_update(of=("self",)).get(**filters)


# A batch's orders (by their plans' ids) and plans locked, each set in id order, compiled once per
# process (PostgreSQL).
_orders_by_plan_ids: CompiledSelectByIds[Order] = CompiledSelectByIds(
    lambda match: (
        Order.objects.select_related("merchant", "consumer")
        .select_for_update(of=("self",))
        .filter(match)
        .order_by("pk")
    ),
    field="plan",
)
_plans_by_ids: CompiledSelectByIds[Plan] = CompiledSelectByIds(
    lambda match: Plan.objects.select_related("product").select_for_update(of=("self",)).filter(match).order_by("pk")
)


def orders_lock_many(*, plan_ids: Collection[int]) -> dict[int, Order]:
    """``order_lock`` for a batch, by the plans' ids (so a caller holding only those need not read
    the plans first): every order locked in id order, with its merchant and consumer read
    alongside, in one statement compiled once (``CompiledSelectByIds``); by order id."""
    return {order.pk: order for order in _orders_by_plan_ids.rows(plan_ids)}


def plans_lock_many(*, plan_ids: Collection[int], orders: dict[int, Order] | None = None) -> dict[int, Plan]:
    """``plan_lock`` for a batch (by id): every plan locked in id order, with its product read
    alongside; each plan takes its order from ``orders`` (just locked) instead of reading it again."""
    plans = {plan.pk: plan for plan in _plans_by_ids.rows(plan_ids)}
    for plan in plans.values():
        if orders is not None and plan.order_id in orders:
            plan.order = orders[plan.order_id]
    return plans


def order_and_plan_lock(*, order_id: int | None = None, plan_id: int | None = None) -> tuple[Order, Plan]:
    """The order, then its plan: the order every writer of both takes them in."""
    order = order_lock(order_id=order_id, plan_id=plan_id)
    return order, plan_lock(order_id=order.pk)


# The consumer's row, first of the lock order: every confirm and every card saved take it (compiled
# once per process). Only the id is read: the lock is the point.
_CONSUMER_LOCK: CompiledSelect[Consumer] = CompiledSelect(
    lambda consumer_id: Consumer.objects.select_for_update().filter(pk=consumer_id).only("pk")
)


def consumer_lock(*, consumer_id: int) -> None:
    """Lock the consumer's row for the caller's transaction (their checkouts' per-consumer limits,
    their cards' default): Consumer.DoesNotExist when there is none."""
    if not _CONSUMER_LOCK.rows(consumer_id):
        raise Consumer.DoesNotExist
