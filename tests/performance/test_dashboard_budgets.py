"""Query budgets of the merchant dashboard, walked from ``merchants.urls`` with the page list of the
access-rule walk (tests/merchants/test_dashboard_access.py), so that a page added later is measured
without editing this file (a page naming an object this file has no object for fails, asking for one).

Every page is opened by the owner of the small world's merchant and of the large world's
(tests/performance/world.py) on the first object of its kind: a read with a GET, a write with a POST
of the same form data the access walk sends. The count must not grow with the rows, and stays under
the page's ceiling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern

from tests.merchants.test_dashboard_access import PAGES, _client, _method, _parameters, _path
from tests.performance.budget import assert_within_budget, cost
from tests.performance.world import World

# A page: the signed-in member, the merchant and its mode, the page's own reads, the template.
READ_CEILING = 20
WRITE_CEILING = 35  # the confirmation steps, or the write through the same service the API calls
POST_DATA = {"amount": "1.00", "role": "admin", "email": "budget@example.com"}

# The object each path parameter names, in a world: the first of its kind.
PARAMETER_OBJECTS: dict[str, Callable[[World], Model]] = {
    "order_id": lambda world: world.order,
    "settlement_id": lambda world: world.settlements[0],
    "key_id": lambda world: world.api_keys[0],
    "endpoint_id": lambda world: world.endpoints[0],
    "delivery_id": lambda world: world.deliveries[0],
    "product_id": lambda world: world.product,
    "document_id": lambda world: world.documents[0],
    "invitation_id": lambda world: world.invitations[0],
    "membership_id": lambda world: world.memberships[0],
}

# Documented exceptions: page name -> (allowed growth, why). None so far.
GROWTH_ALLOWANCES: dict[str, tuple[int, str]] = {}
# Pages whose count grows in code another part of the project owns: xfail until it is fixed there.
KNOWN_GROWTH: dict[str, str] = {}


def _measure(pattern: URLPattern, world: World) -> Any:
    objects = {}
    for name in _parameters(pattern):
        object_for = PARAMETER_OBJECTS.get(name)
        assert object_for is not None, f"{pattern.name}: add the object {name} names to PARAMETER_OBJECTS"
        objects[name] = object_for(world)
    client: Client = _client(world.owner)
    path = _path(pattern, objects)
    if _method(pattern) == "get":
        client.get(path)  # the same page once first: what every request reads once is warm
        return cost(lambda: client.get(path))
    client.get("/merchant/")
    return cost(lambda: client.post(path, POST_DATA))


def _marks(pattern: URLPattern) -> list[Any]:
    reason = KNOWN_GROWTH.get(str(pattern.name))
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def test_the_walk_covers_every_page() -> None:
    assert len(PAGES) >= 40
    names = {str(pattern.name) for pattern in PAGES}
    assert set(GROWTH_ALLOWANCES) | set(KNOWN_GROWTH) <= names, "an entry names a page that no longer exists"


@pytest.mark.parametrize(
    "pattern", [pytest.param(pattern, marks=_marks(pattern)) for pattern in PAGES], ids=lambda pattern: pattern.name
)
def test_a_page_costs_the_same_queries_whatever_the_rows(
    pattern: URLPattern, worlds: tuple[World, World], db: None
) -> None:
    small_world, large_world = worlds

    small = _measure(pattern, small_world)
    large = _measure(pattern, large_world)

    is_read = _method(pattern) == "get"
    assert_within_budget(
        f"{_method(pattern).upper()} /merchant/{pattern.pattern}",
        small,
        large,
        ceiling=READ_CEILING if is_read else WRITE_CEILING,
        allowance=GROWTH_ALLOWANCES.get(str(pattern.name), (0, ""))[0],
        statuses=frozenset({200}) if is_read else frozenset({200, 302, 400, 409}),
    )
