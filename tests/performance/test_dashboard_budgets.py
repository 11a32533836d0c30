"""Query budgets of the merchant dashboard, walked from ``merchants.urls`` with the page list of the
access-rule walk (tests/merchants/test_dashboard_access.py), so that a page added later is measured
without editing this file (a page naming an object this file has no object for fails, asking for one).

Every page is opened by the owner of the small world's merchant and of the large world's
(tests/performance/world.py) on the first object of its kind: a read with a GET, a write with a POST
of its form filled in (``FORMS``; the access walk's generic data for the others), an order operation
at its second, confirmed step (what writes). The count must not grow with the rows, and stays under
the page's ceiling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern

from merchants.views.orders import CONFIRMATIONS_SESSION_KEY
from tests.merchants.test_dashboard_access import PAGES, _client, _method, _parameters, _path
from tests.merchants.test_dashboard_pages import BANK, PROFILE
from tests.performance.budget import assert_within_budget, cost, growth_marks
from tests.performance.world import World

# A page: the signed-in member, the merchant and its mode, the page's own reads, the template.
READ_CEILING = 20
WRITE_CEILING = 50  # a refund or void through the same service the API calls is the heaviest
POST_DATA = {"amount": "1.00", "role": "admin", "email": "budget@example.com"}
# The forms of the writes that need more than the generic data to do what they are for.
FORMS: dict[str, dict[str, Any]] = {
    "onboarding-profile": PROFILE,
    "onboarding-bank-account": BANK,
    "api-key-create": {"kind": "secret", "name": "Budget"},
    "webhook-endpoint-create": {"url": "https://hooks-budget.example.com/bnpl", "enabled_events": ["*"]},
    "webhook-endpoint-update": {"enabled_events": ["*"], "status": "enabled", "description": "Budget"},
    "branding-update": {"display_name": "Budget Shop", "primary_colour": "#112233", "accent_colour": "#445566"},
}
# Writes in two steps (a confirmation page, then the write with its one-use token: order operations
# and destructive actions): the first step is
# taken before counting.
CONFIRMED_WRITES = {
    "order-capture",
    "order-void",
    "order-refund",
    "api-key-revoke",
    "api-key-roll",
    "webhook-endpoint-delete",
    "member-remove",
}

# The object each path parameter names, in a world: the first of its kind.
PARAMETER_OBJECTS: dict[str, Callable[[World], Model]] = {
    "order_id": lambda world: world.order,
    "settlement_id": lambda world: world.settlements[0],
    "key_id": lambda world: world.api_keys[0],
    "endpoint_id": lambda world: world.endpoints[0],
    "delivery_id": lambda world: world.deliveries[0],
    "product_id": lambda world: world.product,
    "document_id": lambda world: world.documents[0],
    "account_id": lambda world: world.bank_accounts[0],
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
    data = {**POST_DATA, **FORMS.get(str(pattern.name), {})}
    if pattern.name in CONFIRMED_WRITES:
        assert client.post(path, data).status_code == 200  # the confirmation page, with its token
        data["confirmation"] = client.session[CONFIRMATIONS_SESSION_KEY][-1]
    else:
        client.get("/merchant/")
    return cost(lambda: client.post(path, data))


def _statuses(pattern: URLPattern) -> frozenset[int]:
    """A read shows its page; a write whose form is filled in is done (and redirects, or shows what it
    made once: a new key); another may refuse the generic data (what saying so costs is measured then)."""
    if _method(pattern) == "get":
        return frozenset({200})
    if pattern.name in FORMS or pattern.name in CONFIRMED_WRITES:
        return frozenset({200, 302})
    return frozenset({200, 302, 400, 409})


def test_the_walk_covers_every_page() -> None:
    assert len(PAGES) >= 40
    names = {str(pattern.name) for pattern in PAGES}
    entries = set(GROWTH_ALLOWANCES) | set(KNOWN_GROWTH) | set(FORMS) | CONFIRMED_WRITES
    assert entries <= names, f"entries for pages that no longer exist: {sorted(entries - names)}"


@pytest.mark.parametrize(
    "pattern",
    [pytest.param(pattern, marks=growth_marks(KNOWN_GROWTH.get(str(pattern.name)))) for pattern in PAGES],
    ids=lambda pattern: pattern.name,
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
        statuses=_statuses(pattern),
    )
