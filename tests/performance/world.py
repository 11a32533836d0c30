"""The data the query budgets are measured on: one merchant's world, made through the real services,
at a given size ``rows``. The budget tests build it twice, at ``SMALL`` and at ``LARGE`` rows, for two
merchants side by side (each only ever sees its own), and ask every page the same question in both:
a page whose query count grows from one to the other runs queries per row.

At size ``rows`` the merchant has ``rows`` of everything a page lists: orders (each captured and
partly refunded, the first with ``rows`` captures and refunds of its own and a plan of 6 or 24
monthly installments), plans, installments and
payments, disputes, open checkout sessions, credit decisions, settlements (the first with a line per
capture and refund), webhook endpoints (the first with a delivery per event), API keys, members,
invitations, onboarding documents and payout accounts, and consumers as it knows them (the first
with ``rows`` bank transactions). One shopper bought every order: their portal lists ``rows`` plans,
cards, payments and decisions, ``rows`` bank-data consents (one per shop they shared with), and
``rows`` devices of their app.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from bnpl.accounts.models import User
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.disputes import dispute_open
from bnpl.checkout.models import CheckoutSession, Dispute, Order
from bnpl.core import clock
from bnpl.core.models import Event
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.plans.models import PaymentProduct, Plan, ProductKind
from bnpl.tenancy.services import merchant_consumer_ensure
from consumers.devices import device_approve, device_register
from consumers.models import Consumer, Device, MerchantConsumer
from decisioning import bank_data
from decisioning.models import BankDataConsent
from merchants import onboarding, services, webhooks
from merchants.models import (
    ApiKey,
    BankAccount,
    Invitation,
    Membership,
    Merchant,
    MerchantDocument,
    Settlement,
    WebhookDelivery,
    WebhookEndpoint,
)
from merchants.settlements import settlement_create, settlement_pay
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session, product_for
from tests.consumers.factories import make_merchant_consumer, make_verified_consumer
from tests.merchants.factories import Tenant, make_member, make_merchant, make_tenant, make_webhook_endpoint

SMALL = 2
LARGE = SMALL + 8
# The first order's plan, the one plan pages and actions act on: monthly financing, with more
# installments in the large world (both with interest, so that both take the same paths).
FIRST_PLAN_INSTALLMENTS = {SMALL: 6, LARGE: 24}

_sequence = itertools.count(1)


@dataclass
class World:
    """One merchant's data at one size; the first object of each kind is the one pages act on."""

    rows: int
    tenant: Tenant
    owner: User
    shopper: Consumer
    orders: list[Order] = field(default_factory=list)
    disputes: list[Dispute] = field(default_factory=list)
    open_sessions: list[CheckoutSession] = field(default_factory=list)
    settlements: list[Settlement] = field(default_factory=list)
    endpoints: list[WebhookEndpoint] = field(default_factory=list)
    deliveries: list[WebhookDelivery] = field(default_factory=list)
    api_keys: list[ApiKey] = field(default_factory=list)
    memberships: list[Membership] = field(default_factory=list)
    invitations: list[Invitation] = field(default_factory=list)
    documents: list[MerchantDocument] = field(default_factory=list)
    bank_accounts: list[BankAccount] = field(default_factory=list)
    merchant_consumers: list[MerchantConsumer] = field(default_factory=list)
    consents: list[BankDataConsent] = field(default_factory=list)
    devices: list[Device] = field(default_factory=list)

    @property
    def merchant(self) -> Merchant:
        return self.tenant.merchant

    @property
    def order(self) -> Order:
        return self.orders[0]

    @property
    def plan(self) -> Plan:
        return self.orders[0].plan

    @property
    def product(self) -> PaymentProduct:
        return product_for(self.merchant, False)

    @property
    def event(self) -> Event:
        return Event.objects.filter(merchant=self.merchant, livemode=False, type="order.captured").earliest("id")

    @property
    def charge(self) -> Charge:
        """The shopper's first payment (a receipt in the portal)."""
        return Charge.objects.filter(consumer=self.shopper, status=Charge.Status.SUCCEEDED).earliest("id")

    @property
    def card(self) -> PaymentMethod:
        return PaymentMethod.objects.filter(consumer=self.shopper, livemode=False).earliest("id")


def build_world(rows: int) -> World:
    tenant = make_tenant(name=f"Budget merchant {next(_sequence)}")
    merchant = tenant.merchant
    world = World(rows=rows, tenant=tenant, owner=make_member(merchant=merchant), shopper=make_verified_consumer())
    world.endpoints.append(make_webhook_endpoint(merchant=merchant, livemode=False))  # hears what follows
    _orders(world)
    _settlements(world)
    _webhooks(world)
    _team_and_keys(world)
    _consumers(world)
    _devices(world)
    return world


def _orders(world: World) -> None:
    """``rows`` orders by the one shopper (a card each, as the hosted checkout saves them), captured
    and partly refunded; the first with ``rows`` captures and refunds; ``rows`` returns open."""
    world.orders.append(
        make_authorized_order(
            merchant=world.merchant,
            livemode=False,
            consumer=world.shopper,
            amount=60000,
            kind=ProductKind.FINANCING,
            count=FIRST_PLAN_INSTALLMENTS[world.rows],
        )
    )
    for _ in range(world.rows - 1):
        order = make_authorized_order(merchant=world.merchant, livemode=False, consumer=world.shopper, amount=20000)
        world.orders.append(order)
    first = world.order
    for index in range(world.rows):
        checkout_orders.order_capture(order=first, amount=1000, merchant_reference=f"shipment-{index}")
        checkout_orders.order_refund(order=first, amount=100, reason=f"item {index}")
    for order in world.orders[1:]:
        checkout_orders.order_capture(order=order, amount=5000)
        checkout_orders.order_refund(order=order, amount=500)
    # The shopper reports a return on their second order; the other disputes are other shoppers' (a
    # consumer may open only a few in a month).
    world.orders[1].refresh_from_db()
    world.disputes.append(
        dispute_open(order=world.orders[1], consumer=world.shopper, kind=Dispute.Kind.RETURN, amount=1000)
    )
    for _ in range(world.rows - 1):
        order = make_authorized_order(merchant=world.merchant, livemode=False, amount=20000)
        checkout_orders.order_capture(order=order, amount=5000)
        order.refresh_from_db()
        world.disputes.append(dispute_open(order=order, consumer=order.consumer, kind=Dispute.Kind.RETURN, amount=1000))
    for order in world.orders:
        order.refresh_from_db()
    world.open_sessions = [
        make_checkout_session(merchant=world.merchant, livemode=False, amount=20000) for _ in range(world.rows)
    ]


def _settlements(world: World) -> None:
    """The first batch takes every capture and refund so far; each later one a new capture."""
    cutoff = clock.now() + dt.timedelta(seconds=1)
    for index in range(world.rows):
        if index:
            checkout_orders.order_capture(order=world.orders[index], amount=100)
        settlement = settlement_create(merchant_id=world.merchant.pk, livemode=False, currency="USD", cutoff=cutoff)
        assert settlement is not None
        world.settlements.append(settlement_pay(settlement=settlement))
        cutoff += dt.timedelta(seconds=1)
    for order in world.orders:
        order.refresh_from_db()


def _webhooks(world: World) -> None:
    """The first endpoint gets a delivery of each of ``rows`` events; ``rows`` endpoints in all."""
    first = world.endpoints[0]
    events = Event.objects.filter(merchant=world.merchant, livemode=False, type="order.captured").order_by("id")
    webhooks.deliveries_create_for_events(event_ids=list(events.values_list("pk", flat=True)[: world.rows]))
    world.endpoints += [make_webhook_endpoint(merchant=world.merchant, livemode=False) for _ in range(world.rows - 1)]
    world.deliveries = list(WebhookDelivery.objects.filter(endpoint=first).order_by("id"))
    assert len(world.deliveries) == world.rows


def _team_and_keys(world: World) -> None:
    merchant = world.merchant
    for _ in range(world.rows):
        world.api_keys.append(
            services.api_key_create(merchant=merchant, kind=ApiKey.Kind.SECRET, livemode=False).api_key
        )
        analyst = make_member(merchant=merchant, role=Membership.Role.ANALYST)
        world.memberships.append(Membership.objects.get(merchant=merchant, user=analyst))
        world.invitations.append(
            services.invitation_create(
                merchant=merchant, email=f"invitee{next(_sequence)}@example.com", role="admin"
            ).invitation
        )
        upload = SimpleUploadedFile("certificate.pdf", b"%PDF-1.4 test", content_type="application/pdf")
        world.documents.append(
            onboarding.document_upload(merchant=merchant, kind="registration", uploaded=upload, uploaded_by=None)
        )
        world.bank_accounts.append(
            onboarding.bank_account_add(
                merchant=merchant, holder_name="Budget Shop", routing_number="110000000", account_number="000123456789"
            )
        )


def _devices(world: World) -> None:
    """``rows`` devices of the shopper's app: the first trusted, every other one approved by it."""
    with transaction.atomic():
        for index in range(world.rows):
            device, _ = device_register(consumer=world.shopper, name=f"Phone {index + 1}", platform="ios")
            world.devices.append(device)
    for device in world.devices[1:]:
        device_approve(device=device, approver=world.devices[0])


def _consumers(world: World) -> None:
    """``rows`` consumers as the merchant knows them besides the shopper (the first with ``rows``
    bank transactions), and the shopper's consents: one at this merchant, one at each other shop."""
    for _ in range(world.rows):
        world.merchant_consumers.append(make_merchant_consumer(merchant=world.merchant, livemode=False))
    bank_data.transactions_ingest(
        link=world.merchant_consumers[0],
        transactions=[
            bank_data.IncomingTransaction(
                id=f"txn-{index}",
                account_id="acc_checking",
                booked_on=clock.today() - dt.timedelta(days=index + 1),
                amount=310000 if index % 2 else -4200,
                currency="USD",
            )
            for index in range(world.rows)
        ],
    )
    granted = clock.now() - dt.timedelta(days=1)
    shops = [world.merchant] + [make_merchant(name=f"Another shop {next(_sequence)}") for _ in range(world.rows - 1)]
    for shop in shops:
        link = merchant_consumer_ensure(merchant=shop, livemode=False, consumer=world.shopper)
        world.consents.append(
            bank_data.consent_record(link=link, reference=f"consent-{link.public_id}", granted_at=granted)
        )
