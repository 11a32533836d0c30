"""Webhook delivery with two real workers on RabbitMQ, one killed mid-batch: every delivery is made,
none lost. The deliveries the killed worker had claimed (one claim covers up to CLAIM_BATCH) wait
until the claim runs out (it moved their next attempt to then), and are sent by the survivor; the
receiver may see the one in flight twice (webhooks are at least once, and say so to merchants),
never miss one."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from bnpl.core.models import Event
from bnpl.core.services import clock_advance
from merchants import services
from merchants.models import WebhookDelivery
from merchants.tasks import webhook_deliveries_send
from merchants.webhooks import CLAIM_BATCH, CLAIM_DURATION, deliveries_create_for_events
from tests.celery_workers import queue_delete, queue_name, workers
from tests.helpers import wait_until
from tests.merchants.conftest import WebhookReceiver
from tests.merchants.factories import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EVENTS = 60


def test_on_rabbitmq_two_workers_deliver_every_webhook_even_when_one_is_killed(
    tenant: Tenant, receiver: WebhookReceiver, rabbitmq_broker: str, tmp_path: Path
) -> None:
    endpoint = services.webhook_endpoint_create(
        merchant=tenant.merchant, livemode=False, url=receiver.url, enabled_events=["webhook_endpoint.updated"]
    )
    receiver.secret = endpoint.secret
    receiver.delay = 0.05  # a merchant's handler that takes 50 ms: deliveries are in flight when the kill lands
    for number in range(EVENTS):
        services.webhook_endpoint_update(endpoint=endpoint, description=f"v{number}")
    events = set(Event.objects.filter(type="webhook_endpoint.updated").values_list("public_id", flat=True))
    deliveries_create_for_events(event_ids=Event.objects.filter(public_id__in=events).values_list("pk", flat=True))
    assert WebhookDelivery.objects.filter(endpoint=endpoint, status="pending").count() == EVENTS

    def pending() -> int:
        return WebhookDelivery.objects.filter(endpoint=endpoint, status="pending").count()

    seen: list[set[tuple[int, str]]] = []

    def only_the_victims_claim_is_left() -> bool:
        left = set(WebhookDelivery.objects.filter(endpoint=endpoint, status="pending").values_list("pk", "claim_token"))
        tokens = {token for _, token in left}
        settled = bool(seen) and seen[-1] == left  # unchanged for a second: the survivor is idle
        seen.append(left)
        return settled and len(left) <= CLAIM_BATCH and len(tokens) <= 1 and "" not in tokens

    queue = queue_name("webhooks-amqp")
    try:
        with workers(queue, tmp_path, rabbitmq_broker, state=lambda: f"pending={pending()}") as pair:
            victim, survivor = pair
            assert wait_until(pair.ready, timeout=120), pair.diagnosis(queue)
            pair.send(webhook_deliveries_send, queue, times=4)  # as beat and the outbox send it
            assert wait_until(lambda: receiver.count() >= 10, timeout=120), pair.diagnosis(queue)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            # The survivor sends the rest (RabbitMQ hands it the victim's unacknowledged task too); the
            # victim's claimed deliveries wait for their claim to run out: what is left pending is
            # one claim (the victim's) of at most CLAIM_BATCH deliveries, and nothing moves any more.
            assert wait_until(only_the_victims_claim_is_left, timeout=120, every=1.0), pair.diagnosis(queue)
            clock_advance(by=CLAIM_DURATION)  # past the claim: that delivery is due again

            def sent_again() -> bool:  # beat sends the task every 30 s; here every second
                pair.send(webhook_deliveries_send, queue)
                return wait_until(lambda: pending() == 0, timeout=1.0)

            assert wait_until(sent_again, timeout=60), pair.diagnosis(queue)
            assert survivor.poll() is None
    finally:
        queue_delete(rabbitmq_broker, queue)

    delivered = WebhookDelivery.objects.filter(endpoint=endpoint)
    assert set(delivered.values_list("status", flat=True)) == {"succeeded"}
    assert delivered.count() == EVENTS
    arrived = [json.loads(item.body)["id"] for item in receiver.received]
    assert set(arrived) == events  # none lost
    assert len(arrived) - len(events) <= 1  # at most the one the victim had in flight, twice
    assert all(item.signature_valid for item in receiver.received)
