"""``OWNED_OBJECT_FACTORIES`` maps each merchant-owned model that an API path can name to a function
making one for a given merchant and mode. The schema-walking tenancy and bad-input tests use it:
a new endpoint whose path names a new model needs one entry here, and the tests say so if missing.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db.models import Model

from bnpl.checkout.models import CheckoutSession, Dispute, Order
from bnpl.core.models import Event
from bnpl.plans.models import PaymentProduct, Plan
from consumers.models import MerchantConsumer
from merchants.models import Settlement, WebhookDelivery, WebhookEndpoint
from tests.bnpl.checkout.factories import (
    make_checkout_session,
    make_dispute,
    make_order,
    make_payment_product,
    make_plan,
)
from tests.consumers.factories import make_merchant_consumer
from tests.merchants.factories import (
    make_event,
    make_settlement,
    make_webhook_delivery,
    make_webhook_endpoint,
)

OWNED_OBJECT_FACTORIES: dict[type[Model], Callable[..., Model]] = {
    WebhookEndpoint: make_webhook_endpoint,
    Event: make_event,
    CheckoutSession: make_checkout_session,
    Order: make_order,
    Plan: make_plan,
    PaymentProduct: make_payment_product,
    Dispute: make_dispute,
    MerchantConsumer: make_merchant_consumer,
    Settlement: make_settlement,
    WebhookDelivery: make_webhook_delivery,
}
