"""Query budgets of the partner API's spine (bench/api.py times the same three requests): an
authenticated read, an idempotent POST that creates an object, and a capture. Each budget is the
count today; a change that adds a query to every request fails here before it shows in the bench.

The counts are those inside a test's transaction, where each block the code opens is a savepoint
(two statements) and nothing runs after commit; ``QUERIES`` names what each request does, by
database (PostgreSQL writes an audit row and its event in one statement, SQLite in two). The sandbox
clock's offset, which each process reads at most once a second (and never outside the sandbox), is
not counted: when it falls due depends on the wall clock. The time stands still in these tests, so
that the per-process memory of an API key (half a second) lasts however slow the machine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bnpl.core import clock
from bnpl.core.models import Event
from merchants.models import WebhookEndpoint
from tests.bnpl.checkout.factories import make_authorized_order
from tests.conftest import ApiClient
from tests.merchants.factories import Tenant

ACCOUNT = "/api/v1/account"

# postgresql / sqlite
QUERIES = {
    # the idempotency claim (in a savepoint: 3), the request's transaction (a savepoint here: 2; the
    # service's block inside it takes none), the endpoint with the audit row and event (1 / 3), the
    # stored response (1)
    "create": {"postgresql": 7, "sqlite": 9},
    # the order named in the path (1), the claim (3), the request's transaction (2), the order locked
    # with its session, plan, the merchant's id for its consumer, its captures and refunds (1: one
    # statement on PostgreSQL, bnpl.servicing.locks; 3 on SQLite: the lock, two prefetches), the
    # journal entry with its postings on their accounts (1 / 3: the entry, the accounts,
    # the postings), the order's new figures with the capture, the audit row and event (1 / 4), the
    # stored response (1)
    "capture": {"postgresql": 10, "sqlite": 17},
    # the order named in the path with its session, plan, the merchant's id for its consumer, its
    # captures and refunds (1: one statement on PostgreSQL, bnpl.checkout.loading.ORDER_REPRESENTATION;
    # 3 on SQLite: the order with its session and plan, its captures, its refunds)
    "retrieve": {"postgresql": 1, "sqlite": 3},
    # the authorizations due to expire (1), the page of orders with the same (1 / 3)
    "list": {"postgresql": 2, "sqlite": 4},
    # the eligible products (1), the claim (3), the request's transaction (2), the session with its
    # audit row and event (1 / 3), the eligible products again for the offers shown (1), the stored
    # response (1)
    "create_session": {"postgresql": 9, "sqlite": 11},
    # the order named in the path (1), the claim (3), the request's transaction (2), the order locked
    # with its session, plan and the merchant's id for its consumer (1) and its captures and refunds
    # (2), the plan reduced with its audit row and event (8), the refund (1), the order's figures (1),
    # the ledger entry (1), the order's disputes (1), the order's audit row and event (1 / 2), the
    # stored response (1); before: 31, the order's rows read again for its record's before and after,
    # and the service's block a savepoint
    "refund": {"postgresql": 23, "sqlite": 27},
}


@pytest.fixture(autouse=True)
def _time_stands_still() -> Iterator[None]:
    with time_machine.travel(clock.real_now(), tick=False):
        yield


def _queries(call: Any) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    return response, sum("core_clockstate" not in query["sql"] for query in captured.captured_queries)


def _warm(api: ApiClient) -> None:
    """What a key's first requests read once (the key, then its last-use stamp read back) is read."""
    api.get(ACCOUNT)
    api.get(ACCOUNT)


def _budget(request: str) -> int:
    return QUERIES[request][connection.vendor]


def test_an_authenticated_read_reads_nothing_once_its_key_is_known(api: ApiClient) -> None:
    # The first request reads the key and stamps it as used; the stamp is read back once.
    first, first_queries = _queries(lambda: api.get(ACCOUNT))
    api.get(ACCOUNT)

    responses = [_queries(lambda: api.get(ACCOUNT)) for _ in range(3)]

    assert first.status_code == 200
    assert first_queries == 2  # the key with its merchant, the last_used_at stamp
    assert [(response.status_code, queries) for response, queries in responses] == [(200, 0)] * 3


def test_an_idempotent_create_stays_within_its_budget(api: ApiClient) -> None:
    _warm(api)
    body = {"url": "https://shop.example.com/hooks", "enabled_events": ["*"]}

    created, queries = _queries(lambda: api.post("/api/v1/webhook_endpoints", body))
    replayed_key = str(uuid.uuid4())
    api.post("/api/v1/webhook_endpoints", body, idempotency_key=replayed_key)
    replay, replay_queries = _queries(lambda: api.post("/api/v1/webhook_endpoints", body, idempotency_key=replayed_key))

    assert created.status_code == 201
    assert queries == _budget("create")
    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert replay_queries == 5  # the claim refused (in a savepoint, rolled back: 4), the stored response (1)
    assert WebhookEndpoint.objects.count() == 2


@pytest.mark.parametrize("earlier_captures", [0, 5])
def test_a_capture_stays_within_its_budget_however_many_captures_came_before(
    tenant: Tenant, api: ApiClient, earlier_captures: int
) -> None:
    _warm(api)
    # The merchant's first capture opens its ledger accounts (two more queries, once).
    first = make_authorized_order(merchant=tenant.merchant, livemode=False)
    assert api.post(f"/api/v1/orders/{first.public_id}/captures", {"amount": 100}).status_code == 201
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=150_000)
    path = f"/api/v1/orders/{order.public_id}/captures"
    for _ in range(earlier_captures):
        assert api.post(path, {"amount": 100}).status_code == 201

    captured, queries = _queries(lambda: api.post(path, {"amount": 100}))

    assert captured.status_code == 201
    assert captured.json()["amount"] == 100
    assert queries == _budget("capture")


@pytest.mark.parametrize("earlier_captures", [0, 3])
def test_an_order_is_read_with_what_it_shows_in_one_statement(
    tenant: Tenant, api: ApiClient, earlier_captures: int
) -> None:
    _warm(api)
    orders = [make_authorized_order(merchant=tenant.merchant, livemode=False, amount=150_000) for _ in range(3)]
    for order in orders:
        for _ in range(earlier_captures):
            assert api.post(f"/api/v1/orders/{order.public_id}/captures", {"amount": 100}).status_code == 201
    if earlier_captures:
        assert api.post(f"/api/v1/orders/{orders[0].public_id}/refunds", {"amount": 50}).status_code == 201
    path = f"/api/v1/orders/{orders[0].public_id}"
    api.get(path)

    retrieved, queries = _queries(lambda: api.get(path))
    listed, list_queries = _queries(lambda: api.get("/api/v1/orders", {"limit": 10}))

    assert retrieved.status_code == 200
    shown = retrieved.json()
    assert [capture["amount"] for capture in shown["captures"]] == [100] * earlier_captures
    assert [refund["amount"] for refund in shown["refunds"]] == ([50] if earlier_captures else [])
    assert shown["checkout_session"] == orders[0].checkout_session.public_id
    assert shown["plan"] == orders[0].plan.public_id
    assert queries == _budget("retrieve")
    assert listed.status_code == 200
    assert [order["id"] for order in listed.json()["results"]] == [order.public_id for order in reversed(orders)]
    assert [order for order in listed.json()["results"] if order["id"] == orders[0].public_id] == [shown]
    assert list_queries == _budget("list")


def test_a_new_checkout_session_is_written_with_its_records_and_shown_without_reading_it_back(api: ApiClient) -> None:
    _warm(api)
    body = {
        "amount": 12_000,
        "currency": "USD",
        "line_items": [{"name": "Lamp", "quantity": 1, "unit_amount": 12_000}],
        "return_url": "https://shop.example.com/done",
        "cancel_url": "https://shop.example.com/cart",
    }
    api.post("/api/v1/checkout/sessions", body)

    created, queries = _queries(lambda: api.post("/api/v1/checkout/sessions", body))

    assert created.status_code == 201
    shown = created.json()
    assert (shown["status"], shown["outcome"], shown["order"], shown["consumer"]) == ("open", None, None, None)
    assert shown["offers"]
    assert api.get(f"/api/v1/checkout/sessions/{shown['id']}").json() == shown
    assert queries == _budget("create_session")


def test_a_refund_reads_the_order_with_what_its_records_show_once(tenant: Tenant, api: ApiClient) -> None:
    _warm(api)
    orders = [make_authorized_order(merchant=tenant.merchant, livemode=False, amount=20_000) for _ in range(2)]
    for order in orders:
        assert api.post(f"/api/v1/orders/{order.public_id}/captures", {"amount": 20_000}).status_code == 201
    assert api.post(f"/api/v1/orders/{orders[0].public_id}/refunds", {"amount": 1_000}).status_code == 201
    path = f"/api/v1/orders/{orders[1].public_id}/refunds"

    refunded, queries = _queries(lambda: api.post(path, {"amount": 2_500}))

    assert refunded.status_code == 201
    shown = api.get(f"/api/v1/orders/{orders[1].public_id}").json()
    assert [refund["amount"] for refund in shown["refunds"]] == [2_500]
    recorded = Event.objects.filter(type="order.refunded", object_id=orders[1].public_id).get().data
    assert {key: value for key, value in recorded.items() if key != "refund"} == shown
    assert queries == _budget("refund")
