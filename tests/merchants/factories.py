"""Test data, made through the real services (so audit rows and events exist as in production).

``OWNED_OBJECT_FACTORIES`` maps each merchant-owned model that an API path can name to a function
making one for a given merchant and mode. The schema-walking tenancy and bad-input tests use it:
a new endpoint whose path names a new model needs one entry here, and the tests say so if missing.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Model

from bnpl.accounts.models import User
from bnpl.core.models import Event
from consumers.models import Consumer
from consumers.services import consumer_register
from merchants import services
from merchants.models import ApiKey, Membership, Merchant, WebhookEndpoint

_sequence = itertools.count(1)


@dataclass(frozen=True)
class Tenant:
    merchant: Merchant
    test_key: str  # sk_test_…
    live_key: str  # sk_live_…


def make_merchant(
    *, name: str | None = None, approved: bool = True, currencies: tuple[str, ...] = ("USD",)
) -> Merchant:
    merchant = services.merchant_create(name=name or f"Merchant {next(_sequence)}", currencies=currencies)
    if approved:
        merchant = services.merchant_approve(merchant=merchant)
    return merchant


def make_tenant(*, name: str | None = None) -> Tenant:
    merchant = make_merchant(name=name)
    test_key = services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=False).token
    live_key = services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=True).token
    return Tenant(merchant=merchant, test_key=test_key, live_key=live_key)


def make_user(*, email: str | None = None, password: str = "pw-for-tests-1", **flags: Any) -> User:
    return User.objects.create_user(email or f"user{next(_sequence)}@example.com", password, **flags)


def make_member(*, merchant: Merchant, role: str = Membership.Role.OWNER, password: str = "pw-for-tests-1") -> User:
    user = make_user(password=password)
    services.membership_create(merchant=merchant, user=user, role=role)
    return user


def make_consumer(*, email: str | None = None) -> Consumer:
    with transaction.atomic():
        return consumer_register(email=email or f"shopper{next(_sequence)}@example.com")


def make_webhook_endpoint(*, merchant: Merchant, livemode: bool) -> WebhookEndpoint:
    return services.webhook_endpoint_create(
        merchant=merchant,
        livemode=livemode,
        url=f"https://hooks{next(_sequence)}.example.com/bnpl",
        enabled_events=["*"],
    )


def make_event(*, merchant: Merchant, livemode: bool) -> Event:
    """A merchant-visible event (creating a webhook endpoint emits one)."""
    endpoint = make_webhook_endpoint(merchant=merchant, livemode=livemode)
    return Event.objects.get(object_id=endpoint.public_id, type="webhook_endpoint.created")


OWNED_OBJECT_FACTORIES: dict[type[Model], Callable[..., Model]] = {
    WebhookEndpoint: make_webhook_endpoint,
    Event: make_event,
}


FactoryFunction = TypeVar("FactoryFunction", bound=Callable[..., Model])


def owned_object_factory(model: type[Model]) -> Callable[[FactoryFunction], FactoryFunction]:
    """Register ``factory(merchant=, livemode=)`` for ``model`` (used by the schema-walking tests).
    Per-app factory modules use it; they are imported at the bottom of this file."""

    def register(factory: FactoryFunction) -> FactoryFunction:
        OWNED_OBJECT_FACTORIES[model] = factory
        return factory

    return register


from tests import checkout_factories, consumer_factories, settlement_factories, webhook_factories  # noqa: E402, F401  (they register their factories)
