"""Factories for webhook deliveries (registered for the schema-walking tests)."""

from __future__ import annotations

from bnpl.core.models import Event
from merchants import webhooks
from merchants.models import Merchant, WebhookDelivery
from tests.factories import make_webhook_endpoint, owned_object_factory


def make_webhook_delivery(*, merchant: Merchant, livemode: bool) -> WebhookDelivery:
    """A pending delivery of a new endpoint's own ``webhook_endpoint.created`` event, made by the real fan-out."""
    endpoint = make_webhook_endpoint(merchant=merchant, livemode=livemode)
    event = Event.objects.get(type="webhook_endpoint.created", object_id=endpoint.public_id)
    webhooks.deliveries_create_for_events(event_ids=[event.pk])
    return WebhookDelivery.objects.get(endpoint=endpoint, event=event)


owned_object_factory(WebhookDelivery)(make_webhook_delivery)  # registered, keeping the precise return type
