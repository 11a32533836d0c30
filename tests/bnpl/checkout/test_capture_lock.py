"""A capture locks its order with everything the order's representation reads in one statement
(``order_lock_with_representation``; on PostgreSQL its captures and refunds come back as JSON
arrays): the order, its captures and refunds are the rows the ORM's prefetch gives, and the audit
row and event record the order exactly as the ORM renders it before and after."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bnpl.checkout import orders
from bnpl.checkout.loading import orders_with_representation
from bnpl.checkout.models import Order
from bnpl.checkout.representations import OrderRepresentation
from bnpl.core.models import AuditLogEntry, Event
from bnpl.servicing.locks import order_lock_with_representation
from tests.bnpl.checkout.factories import make_authorized_order
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def _loaded(order: Order) -> Order:
    """The order as the ORM loads it for its representation (a query and two prefetches)."""
    return orders_with_representation(Order.objects.filter(pk=order.pk)).get()


def _values(row: Any) -> dict[str, Any]:
    return {field.attname: getattr(row, field.attname) for field in type(row)._meta.concrete_fields}


def _order_with_history(tenant: Tenant) -> Order:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=20_000)
    orders.order_capture(order=order, amount=5_000, merchant_reference="shipment-1")
    orders.order_capture(order=order, amount=3_000, merchant_reference='a "quoted" \\ reference é')
    orders.order_refund(order=Order.objects.get(pk=order.pk), amount=1_000, reason="damaged")
    return order


def test_the_lock_reads_the_order_its_captures_and_refunds_as_the_orm_does(tenant: Tenant) -> None:
    order = _order_with_history(tenant)
    expected = _loaded(order)

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = order_lock_with_representation(order_id=order.pk)
        rendered = OrderRepresentation(locked).data

    assert _values(locked) == _values(expected)
    assert locked.merchant == tenant.merchant
    for name in ("captures", "refunds"):
        rows, expected_rows = list(getattr(locked, name).all()), list(getattr(expected, name).all())
        assert [_values(row) for row in rows] == [_values(row) for row in expected_rows]
        assert all(row.order is locked for row in rows)
    assert [capture.amount for capture in locked.captures.all()] == [5_000, 3_000]
    assert rendered == OrderRepresentation(expected).data
    # The lock with its captures and refunds, and nothing read while rendering.
    assert len(queries.captured_queries) == {"postgresql": 1}.get(connection.vendor, 3)
    # A row lock where the database has them (SQLite has none: Django leaves the clause out there).
    assert ("FOR UPDATE" in queries.captured_queries[0]["sql"]) == connection.features.has_select_for_update


@pytest.mark.postgres
def test_the_lock_reads_the_session_and_plan_as_their_public_ids_and_the_rest_on_demand(tenant: Tenant) -> None:
    order = _order_with_history(tenant)
    expected = _loaded(order)

    with transaction.atomic():
        locked = order_lock_with_representation(order_id=order.pk)
        with CaptureQueriesContext(connection) as rendering:
            rendered = OrderRepresentation(locked).data
        session, plan = locked.checkout_session, locked.plan

        assert rendering.captured_queries == []
        assert rendered["checkout_session"] == expected.checkout_session.public_id
        assert rendered["plan"] == expected.plan.public_id
        assert (session.pk, plan.pk) == (expected.checkout_session.pk, expected.plan.pk)
        assert session.order is locked and plan.order is locked
        assert session.get_deferred_fields() == {field.attname for field in session._meta.concrete_fields} - {
            "id",
            "public_id",
        }
        # What was left out is read when asked for, as Django reads a deferred field.
        with CaptureQueriesContext(connection) as reading:
            assert _values(plan) == _values(expected.plan)
            assert _values(session) == _values(expected.checkout_session)
        assert len(reading.captured_queries) > 0


def test_the_lock_reads_an_order_without_captures_or_refunds(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=20_000)

    with transaction.atomic():
        locked = order_lock_with_representation(order_id=order.pk)

    assert (list(locked.captures.all()), list(locked.refunds.all())) == ([], [])
    assert OrderRepresentation(locked).data == OrderRepresentation(_loaded(order)).data


def test_a_capture_records_the_order_before_and_after_as_the_orm_renders_it(tenant: Tenant) -> None:
    order = _order_with_history(tenant)
    before = dict(OrderRepresentation(_loaded(order)).data)

    capture = orders.order_capture(order=order, amount=2_000, merchant_reference="shipment-2")

    after = dict(OrderRepresentation(_loaded(order)).data)
    entry = AuditLogEntry.objects.get(action="order.captured", object_id=order.public_id, after__captured_amount=10_000)
    event = Event.objects.get(type="order.captured", object_id=order.public_id, data__captured_amount=10_000)
    assert entry.before == before
    assert entry.after == after == event.data
    assert [row["id"] for row in after["captures"]][-1] == capture.public_id
    assert (after["captured_amount"], after["open_amount"], after["status"]) == (10_000, 10_000, "part_captured")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_lock_that_waited_for_a_capture_reads_that_capture(tenant: Tenant) -> None:
    # Given a capture made and not yet committed by another request, holding the order's lock
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=20_000)
    orders.order_capture(order=order, amount=5_000)
    captured, release = threading.Event(), threading.Event()

    def capture_then_wait() -> None:
        try:
            with transaction.atomic():
                orders.order_capture(order=Order.objects.get(pk=order.pk), amount=3_000)
                captured.set()
                assert release.wait(timeout=30)
        finally:
            connection.close()

    def lock() -> dict[str, Any]:
        try:
            with transaction.atomic():
                return dict(OrderRepresentation(order_lock_with_representation(order_id=order.pk)).data)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(capture_then_wait)
        assert captured.wait(timeout=30)
        # When a lock's statement starts before that capture commits (it waits for the lock)
        locked = pool.submit(lock)
        _wait_for_a_blocked_query()
        release.set()
        first.result(timeout=30)
        rendered = locked.result(timeout=30)

    # Then it reads the order as it is after that capture: its figures and its captures
    assert (rendered["captured_amount"], [row["amount"] for row in rendered["captures"]]) == (8_000, [5_000, 3_000])
    assert rendered == OrderRepresentation(_loaded(order)).data


def _wait_for_a_blocked_query() -> None:
    """Until another session of this database waits for a row lock (bounded: 30 seconds)."""
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("no query waited for the order's lock")
