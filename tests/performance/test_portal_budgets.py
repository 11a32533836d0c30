"""Query budgets of the consumer portal (``/account/``), walked from ``consumers.urls``: every page
must have a request below (a page added later fails here until it has one), and costs the same number
of queries for the shopper of the small world as for the shopper of the large one
(tests/performance/world.py: ``LARGE`` plans, cards, payments, decisions and consents instead of
``SMALL``, and a first plan of 24 installments instead of 6), under the page's ceiling.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern

from bnpl.core import clock
from bnpl.plans.models import Installment
from consumers.selectors import PENDING_IDENTIFIER_KEY, SESSION_KEY
from consumers.urls import urlpatterns
from decisioning.models import BankDataConsent
from partners.models import DataPartner
from partners.services import data_partner_create
from tests.performance.budget import assert_every_page_has_a_request, assert_within_budget, cost, growth_marks
from tests.performance.world import World

READ_CEILING = 20
WRITE_CEILING = 70  # a payment: the charge through the gateway, the ledger, the plan's installments


@dataclass(frozen=True)
class Request:
    method: str  # "get" or "post"
    arguments: Callable[[World], dict[str, str]] = lambda world: {}  # the path's parameters
    data: Callable[[World], dict[str, str]] = lambda world: {}
    signed_in: bool = True  # as the world's shopper; else a visitor who asked for a code
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({200}))


REDIRECT = frozenset({302})


def _plan(world: World) -> dict[str, str]:
    return {"plan_id": world.plan.public_id}


def _next_installment(world: World) -> str:
    row = world.plan.installments.filter(status=Installment.Status.SCHEDULED).order_by("sequence").first()
    assert row is not None
    return str(row.sequence)


def _receipt(world: World) -> dict[str, str]:
    return {"charge_id": world.charge.public_id}


def _partner_grant() -> dict[str, str]:
    """A consent to a data partner (made once, shared by both worlds) for 90 days."""
    partner = DataPartner.objects.filter(name="Budget Open Banking").first()
    partner = partner or data_partner_create(name="Budget Open Banking")
    return {"partner": partner.public_id, "days": "90"}


def _consent(world: World) -> dict[str, str]:
    return {"consent_id": world.consents[0].public_id}


REQUESTS: dict[str, Request] = {
    "sign-in": Request("get", signed_in=False),
    "verify": Request("get", signed_in=False),
    "resend": Request("post", signed_in=False, statuses=REDIRECT),
    "sign-out": Request("post", statuses=REDIRECT),
    "portal": Request("get"),
    "plan": Request("get", _plan),
    "plan-pay": Request("post", _plan, statuses=REDIRECT),
    "plan-pay-early": Request("post", _plan, lambda world: {"amount": "10.00"}, statuses=REDIRECT),
    "plan-pay-off": Request("post", _plan, statuses=REDIRECT),
    "plan-move-due-date": Request(
        "post",
        _plan,
        lambda world: {
            "installment": _next_installment(world),
            "due_date": (clock.today() + dt.timedelta(days=40)).isoformat(),
        },
        statuses=REDIRECT,
    ),
    "plan-hardship": Request("post", _plan, lambda world: {"reason": "Lost my job"}, statuses=REDIRECT),
    "plan-dispute": Request(
        "post",
        _plan,
        lambda world: {"kind": "return", "amount": "10.00", "description": "Sent one back"},
        statuses=REDIRECT,
    ),
    "plan-agreement": Request("get", _plan),
    "dispute-withdraw": Request("post", lambda world: {"dispute_id": world.disputes[0].public_id}, statuses=REDIRECT),
    "cards": Request("get"),
    "card-default": Request("post", lambda world: {"card_id": world.card.public_id}, statuses=REDIRECT),
    "decisions": Request("get"),
    "data-sharing": Request("get"),
    "data-sharing-scope": Request(
        "post", _consent, lambda world: {"scope": BankDataConsent.Scope.ALL_DECISIONS}, statuses=REDIRECT
    ),
    "data-sharing-revoke": Request("post", _consent, statuses=REDIRECT),
    "data-sharing-grant": Request("post", _consent, statuses=REDIRECT),
    "data-sharing-partner-grant": Request("post", data=lambda world: _partner_grant(), statuses=REDIRECT),
    "documents": Request("get"),
    "receipt": Request("get", _receipt),
    "preferences": Request("get"),
    "profile": Request("get"),
    "devices": Request("get"),
    "device-revoke": Request("post", lambda world: {"device_id": world.devices[-1].public_id}, statuses=REDIRECT),
}

PAGES = [pattern for pattern in urlpatterns if isinstance(pattern, URLPattern)]

# Documented exceptions: page name -> (allowed growth, why). None so far.
GROWTH_ALLOWANCES: dict[str, tuple[int, str]] = {}
# Pages whose count grows in code another part of the project owns: xfail until it is fixed there.
KNOWN_GROWTH: dict[str, str] = {}


def browser(world: World, *, signed_in: bool) -> Client:
    """The world's shopper signed in to the portal; or a visitor who asked for a code to their address."""
    client = Client()
    session = client.session
    if signed_in:
        session[SESSION_KEY] = world.shopper.public_id
    else:
        session[PENDING_IDENTIFIER_KEY] = world.shopper.email
    session.save()
    return client


def _measure(pattern: URLPattern, request: Request, world: World) -> Any:
    client = browser(world, signed_in=request.signed_in)
    path = f"/account/{pattern.pattern}"
    for name, value in request.arguments(world).items():
        path = path.replace(f"<str:{name}>", value)
    if request.method == "get":
        client.get(path)  # the same page once first: what every request reads once is warm
        return cost(lambda: client.get(path))
    client.get("/account/profile" if request.signed_in else "/account/sign-in")
    data = request.data(world)
    return cost(lambda: client.post(path, data))


def test_every_page_has_a_request() -> None:
    assert_every_page_has_a_request(PAGES, REQUESTS, GROWTH_ALLOWANCES, KNOWN_GROWTH, module=__name__)


@pytest.mark.parametrize(
    "pattern",
    [pytest.param(pattern, marks=growth_marks(KNOWN_GROWTH.get(str(pattern.name)))) for pattern in PAGES],
    ids=lambda pattern: pattern.name,
)
def test_a_portal_page_costs_the_same_queries_whatever_the_rows(
    pattern: URLPattern, worlds: tuple[World, World], db: None
) -> None:
    request = REQUESTS.get(str(pattern.name))
    assert request is not None, f"{pattern.name}: add its request to {__name__}.REQUESTS"
    small_world, large_world = worlds

    small = _measure(pattern, request, small_world)
    large = _measure(pattern, request, large_world)

    assert_within_budget(
        f"{request.method.upper()} /account/{pattern.pattern}",
        small,
        large,
        ceiling=READ_CEILING if request.method == "get" else WRITE_CEILING,
        allowance=GROWTH_ALLOWANCES.get(str(pattern.name), (0, ""))[0],
        statuses=request.statuses,
    )
