"""Query budgets of the hosted checkout (``/checkout/<session>``), the confirmation above all, walked
from ``consumers.checkout_urls``: every page must have a request below (a page added later fails here
until it has one). The world's shopper (tests/performance/world.py: ``LARGE`` plans, cards, payments
and decisions at this shop instead of ``SMALL``) opens an open session of the world's merchant, or the
one that made their first order; the count must not grow with the rows, and stays under the ceiling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import URLPattern

from bnpl.checkout.models import CheckoutSession
from consumers.checkout_urls import urlpatterns
from tests.performance.budget import assert_every_page_has_a_request, assert_within_budget, cost, growth_marks
from tests.performance.test_portal_budgets import browser
from tests.performance.world import World

READ_CEILING = 15
# The confirmation: the credit decision (policy, features of the shopper's history, the model), the
# payment taken today, the order, its plan and installments, the ledger, audit rows and events.
WRITE_CEILING = 90
# Pages held below their kind's ceiling: the confirm with a saved card (49 queries before its records
# stopped reading again what the authorization had just read or written; 40 before the session's
# transition went in with its audit row and event), and the pages whose session is read with its
# merchant's branding (one query fewer each; the approval page's order also with its plan and
# product, its first payment with its card: 10 before).
CEILINGS = {"confirm": 39, "session": 8, "identity": 3, "approved": 7}


def _open(world: World) -> CheckoutSession:
    return world.open_sessions[0]


def _bought(world: World) -> CheckoutSession:
    return world.order.checkout_session


def _with_saved_card(world: World) -> dict[str, str]:
    """Pay in 4 with the shopper's saved card (they have bought here: no code is asked)."""
    return {"product": world.product.public_id, "payment_method": world.card.public_id}


@dataclass(frozen=True)
class Request:
    method: str
    session: Callable[[World], CheckoutSession] = _open
    data: Callable[[World], dict[str, str]] = lambda world: {}
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({200}))


REQUESTS: dict[str, Request] = {
    "session": Request("get"),
    "identity": Request("get"),
    "confirm": Request("post", data=_with_saved_card, statuses=frozenset({302})),
    "step-up-code": Request("post", data=_with_saved_card, statuses=frozenset({403})),
    "approved": Request("get", session=_bought),
    "cancel": Request("post", statuses=frozenset({302})),
}

PAGES = [pattern for pattern in urlpatterns if isinstance(pattern, URLPattern)]

# Documented exceptions: page name -> (allowed growth, why). None so far.
GROWTH_ALLOWANCES: dict[str, tuple[int, str]] = {}
# Pages whose count grows in code another part of the project owns: xfail until it is fixed there.
KNOWN_GROWTH: dict[str, str] = {}


def _measure(pattern: URLPattern, request: Request, world: World) -> Any:
    client = browser(world, signed_in=True)
    path = f"/checkout/{pattern.pattern}".replace("<str:session_id>", request.session(world).public_id)
    if request.method == "get":
        client.get(path)  # the same page once first: what every request reads once is warm
        return cost(lambda: client.get(path))
    client.get(f"/checkout/{request.session(world).public_id}")
    data = request.data(world)
    return cost(lambda: client.post(path, data))


def test_every_page_has_a_request() -> None:
    assert_every_page_has_a_request(PAGES, REQUESTS, GROWTH_ALLOWANCES, KNOWN_GROWTH, module=__name__)


@pytest.mark.parametrize(
    "pattern",
    [pytest.param(pattern, marks=growth_marks(KNOWN_GROWTH.get(str(pattern.name)))) for pattern in PAGES],
    ids=lambda pattern: pattern.name,
)
def test_a_checkout_page_costs_the_same_queries_whatever_the_rows(
    pattern: URLPattern, worlds: tuple[World, World], db: None
) -> None:
    request = REQUESTS.get(str(pattern.name))
    assert request is not None, f"{pattern.name}: add its request to {__name__}.REQUESTS"
    small_world, large_world = worlds

    small = _measure(pattern, request, small_world)
    large = _measure(pattern, request, large_world)

    assert_within_budget(
        f"{request.method.upper()} /checkout/{pattern.pattern}",
        small,
        large,
        ceiling=CEILINGS.get(str(pattern.name), READ_CEILING if request.method == "get" else WRITE_CEILING),
        allowance=GROWTH_ALLOWANCES.get(str(pattern.name), (0, ""))[0],
        statuses=request.statuses,
    )


# The load test's purchase (loadtest/locustfile.py), step by step: the first look at the checkout page
# (which prequalifies every option: the decisions are made and kept), the confirm with a card typed in
# (saved, cleared for this checkout, the payment due today, the order, its plan, the ledger, the
# records), and the approval page. Ceilings at what each step costs today (bench/hosted.py profiles it;
# before: 27, 63 and 10: each option's decision read back and kept on its own, the session's decision
# and order read twice for its record, the new card's default set under a second lock; then 18, 51
# and 10: the merchant's branding read on its own, the new card written and then made the default,
# the card's clearance and the session's transition each a statement apart from their records, the
# approval page's order, plan, product and card each read on their own; then 17: each option's
# decision written in a statement and a commit of its own, now one for all of them).
PURCHASE_CEILINGS = {"checkout page": 15, "confirm": 47, "approved page": 6}
TYPED_CARD = {"card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}


def _purchase(world: World) -> dict[str, Any]:
    client = browser(world, signed_in=True)
    session = world.open_sessions[-1]
    path = f"/checkout/{session.public_id}"
    client.get("/account/profile")  # what every request reads once is warm
    data = {"product": world.product.public_id, **TYPED_CARD}
    return {
        "checkout page": cost(lambda: client.get(path)),
        "confirm": cost(lambda: client.post(f"{path}/confirm", data)),
        "approved page": cost(lambda: client.get(f"{path}/approved")),
    }


def test_a_purchase_as_the_load_test_makes_it_costs_the_same_queries_whatever_the_rows(
    worlds: tuple[World, World], db: None
) -> None:
    small_world, large_world = worlds

    small, large = _purchase(small_world), _purchase(large_world)

    statuses = {"checkout page": frozenset({200}), "confirm": frozenset({302}), "approved page": frozenset({200})}
    for step, ceiling in PURCHASE_CEILINGS.items():
        assert_within_budget(step, small[step], large[step], ceiling=ceiling, statuses=statuses[step])
