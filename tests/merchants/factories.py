"""Factories for merchants, their keys and team, webhook endpoints and deliveries, and settlements,
made through the real services (so audit rows and events exist as in production)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from bnpl.accounts.models import User
from bnpl.checkout import orders as checkout_orders
from bnpl.core import clock
from bnpl.core.models import Event
from merchants import services, webhooks
from merchants.models import ApiKey, Membership, Merchant, Settlement, WebhookDelivery, WebhookEndpoint
from merchants.settlements import settlement_create, settlement_pay
from tests.bnpl.accounts.factories import make_user
from tests.bnpl.checkout.factories import make_authorized_order

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


def make_member(*, merchant: Merchant, role: str = Membership.Role.OWNER, password: str = "pw-for-tests-1") -> User:
    user = make_user(password=password)
    services.membership_create(merchant=merchant, user=user, role=role)
    return user


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


def make_webhook_delivery(*, merchant: Merchant, livemode: bool) -> WebhookDelivery:
    """A pending delivery of a new endpoint's own ``webhook_endpoint.created`` event, made by the real fan-out."""
    endpoint = make_webhook_endpoint(merchant=merchant, livemode=livemode)
    event = Event.objects.get(type="webhook_endpoint.created", object_id=endpoint.public_id)
    webhooks.deliveries_create_for_events(event_ids=[event.pk])
    return WebhookDelivery.objects.get(endpoint=endpoint, event=event)


def make_settlement(*, merchant: Merchant, livemode: bool) -> Settlement:
    order = make_authorized_order(merchant=merchant, livemode=livemode)
    checkout_orders.order_capture(order=order, amount=order.authorized_amount)
    settlement = settlement_create(
        merchant_id=merchant.pk, livemode=livemode, currency="USD", cutoff=clock.now() + dt.timedelta(seconds=1)
    )
    assert settlement is not None
    return settlement_pay(settlement=settlement)
