"""Query budgets of the partner API, walked from the OpenAPI schema so that every operation added later
is measured without editing this file (an operation whose path names a model this file has no object
for fails, asking for one).

Every operation is called as the small world's merchant and as the large world's (tests/performance/
world.py): a list with ``limit=100`` (every row on one page), a detail or an action on the first object
of its kind, a write with its documented request example. The count must not grow with the rows, and
stays under its ceiling: a read costs at most ``READ_CEILING`` queries whatever the page's length
(issue 16: ``GET /api/v1/orders?limit=10`` "a constant number of queries (<= 8) whatever the limit").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Model

from bnpl.checkout.models import CheckoutSession, Dispute, Order
from bnpl.core.models import Event
from bnpl.plans.models import Plan
from consumers.models import MerchantConsumer
from merchants.models import Settlement, WebhookDelivery, WebhookEndpoint
from tests.conftest import ApiClient
from tests.performance.budget import assert_within_budget, cost, growth_marks
from tests.performance.world import World
from tests.tenancy.test_isolation import LIST_OPERATIONS, OPERATIONS, PATH_PARAMETER, _view_path_models

READ_CEILING = 8
# Writes: authentication, the idempotency claim and its completion, the locks, the rows written, the
# audit row and the event are each a query or two; the heaviest (accepting a dispute: a refund, so the
# order, its plan, installments and ledger postings, and the dispute closed) stays under this.
WRITE_CEILING = 65

# The object each path parameter names, in a world: the first of its kind.
PATH_OBJECTS: dict[type[Model], Callable[[World], Model]] = {
    CheckoutSession: lambda world: world.open_sessions[0],
    Order: lambda world: world.order,
    Plan: lambda world: world.plan,
    Dispute: lambda world: world.disputes[0],
    Event: lambda world: world.event,
    WebhookEndpoint: lambda world: world.endpoints[0],
    WebhookDelivery: lambda world: world.deliveries[0],
    Settlement: lambda world: world.settlements[0],
    MerchantConsumer: lambda world: world.merchant_consumers[0],
}

LIST_PATHS = {path for path, method, _ in LIST_OPERATIONS if method == "get"}

# Documented exceptions: operation -> (allowed growth, why). None so far.
GROWTH_ALLOWANCES: dict[tuple[str, str], tuple[int, str]] = {}
# Operations whose count grows in code another part of the project owns: xfail until it is fixed there.
KNOWN_GROWTH: dict[tuple[str, str], str] = {}


def _url(path: str, world: World) -> str:
    objects: dict[str, Any] = {}
    for name, model in _view_path_models(path).items():
        object_for = PATH_OBJECTS.get(model)
        assert object_for is not None, f"{path}: add the object it names to PATH_OBJECTS in {__name__}"
        objects[name] = object_for(world)
    return PATH_PARAMETER.sub(lambda match: objects[match.group(1)].public_id, path)


def _example(operation: dict[str, Any]) -> Any:
    content = (operation.get("requestBody") or {}).get("content", {}).get("application/json", {})
    examples = content.get("examples")
    return next(iter(examples.values()))["value"] if examples else {}


def _measure(path: str, method: str, operation: dict[str, Any], world: World) -> Any:
    api = ApiClient(world.tenant.test_key)
    url = _url(path, world)
    if method == "get":
        params = {"limit": 100} if path in LIST_PATHS else None
        api.get(url, params)  # the same page once first: what every request reads once is warm
        return cost(lambda: api.get(url, params))
    api.get("/api/v1/account")
    if method == "delete":
        return cost(lambda: api.delete(url))
    return cost(lambda: api.post(url, _example(operation)))


def test_the_walk_covers_every_operation() -> None:
    assert len(OPERATIONS) >= 25
    assert len(LIST_PATHS) >= 6
    assert {key for key in GROWTH_ALLOWANCES} | {key for key in KNOWN_GROWTH} <= {
        (method, path) for path, method, _ in OPERATIONS
    }, "an allowance or a known growth names an operation that no longer exists"


@pytest.mark.parametrize(
    ("path", "method", "operation"),
    [
        pytest.param(path, method, operation, marks=growth_marks(KNOWN_GROWTH.get((method, path))))
        for path, method, operation in OPERATIONS
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_an_operation_costs_the_same_queries_whatever_the_rows(
    path: str, method: str, operation: dict[str, Any], worlds: tuple[World, World], db: None
) -> None:
    small_world, large_world = worlds

    small = _measure(path, method, operation, small_world)
    large = _measure(path, method, operation, large_world)

    allowance = GROWTH_ALLOWANCES.get((method, path), (0, ""))[0]
    ceiling = READ_CEILING if method == "get" else WRITE_CEILING
    assert_within_budget(
        f"{method.upper()} {path}",
        small,
        large,
        ceiling=ceiling,
        allowance=allowance,
        statuses=frozenset({200, 201}),
    )
