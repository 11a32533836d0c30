"""Operators see webhook deliveries read-only, with their attempts inline, and can replay them
(audited as the operator) when they hold the replay permission."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import constants as message_levels
from django.test import Client

from bnpl.accounts.models import User
from bnpl.core import clock
from bnpl.core.models import AuditLogEntry
from merchants import webhooks
from merchants.models import WebhookDelivery
from tests.bnpl.accounts.factories import make_user
from tests.helpers import row_counts, verified_client
from tests.merchants.factories import Tenant, make_webhook_delivery

CHANGELIST = "/admin/merchants/webhookdelivery/"


@pytest.fixture
def operator(db: None) -> User:
    return make_user(email="ops@lender.example", is_staff=True, is_superuser=True)


def _client(user: User) -> Client:
    client = Client()
    verified_client(user, client=client)
    return client


def _failed_delivery(tenant: Tenant) -> WebhookDelivery:
    delivery = make_webhook_delivery(merchant=tenant.merchant, livemode=False)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="failed", next_attempt_at=None, attempt_count=12)
    delivery.refresh_from_db()
    return delivery


def _replay(client: Client, *deliveries: WebhookDelivery) -> Any:
    return client.post(
        CHANGELIST, {"action": "replay", "_selected_action": [delivery.pk for delivery in deliveries]}, follow=True
    )


def test_deliveries_are_listed_and_shown_with_their_attempts(operator: User, tenant: Tenant) -> None:
    delivery = make_webhook_delivery(merchant=tenant.merchant, livemode=False)
    [claim] = webhooks.deliveries_claim(delivery_ids=[delivery.pk])
    webhooks._attempt_record(
        webhooks._Sent(
            claim=claim,
            attempted_at=clock.now(),
            headers={"Bnpl-Signature": "t=1,v1=ab"},
            body="{}",
            answer=webhooks.Answer(status=418, body="I am a teapot", error="", duration_ms=7),
        )
    )
    client = _client(operator)

    listing = client.get(CHANGELIST)
    page = client.get(f"{CHANGELIST}{delivery.pk}/change/")

    assert listing.status_code == 200
    assert delivery.public_id in listing.content.decode()
    assert page.status_code == 200
    content = page.content.decode()
    assert "I am a teapot" in content
    assert "418" in content
    assert 'name="_save"' not in content  # read-only: nothing to save


def test_the_delivery_log_cannot_be_changed_from_the_admin(operator: User, tenant: Tenant) -> None:
    delivery = make_webhook_delivery(merchant=tenant.merchant, livemode=False)
    client = _client(operator)
    before = row_counts()

    change = client.post(f"{CHANGELIST}{delivery.pk}/change/", {"status": "succeeded"})
    delete = client.post(f"{CHANGELIST}{delivery.pk}/delete/", {"post": "yes"})
    add = client.get(f"{CHANGELIST}add/")

    assert (change.status_code, delete.status_code, add.status_code) == (403, 403, 403)
    assert row_counts() == before
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "pending"


def test_an_operator_replays_deliveries_audited_as_the_operator(operator: User, tenant: Tenant) -> None:
    first, second = _failed_delivery(tenant), _failed_delivery(tenant)

    response = _replay(_client(operator), first, second)

    assert [(message.level, message.message) for message in response.context["messages"]] == [
        (message_levels.SUCCESS, "2 deliveries will be sent again now.")
    ]
    for delivery in (first, second):
        delivery.refresh_from_db()
        assert delivery.status == "pending"
        assert delivery.next_attempt_at is not None
        assert delivery.attempt_count == 12
    entries = AuditLogEntry.objects.filter(action="webhook_delivery.replayed")
    assert sorted((entry.object_id, entry.actor_kind, entry.actor_identifier) for entry in entries) == sorted(
        [(first.public_id, "operator", "ops@lender.example"), (second.public_id, "operator", "ops@lender.example")]
    )


def test_staff_without_the_replay_permission_cannot_replay(tenant: Tenant) -> None:
    viewer = make_user(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    delivery = _failed_delivery(tenant)
    client = _client(viewer)

    listing = client.get(CHANGELIST)
    response = _replay(client, delivery)

    assert listing.status_code == 200
    assert 'value="replay"' not in listing.content.decode()
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert (delivery.status, delivery.next_attempt_at) == ("failed", None)
    assert not AuditLogEntry.objects.filter(action="webhook_delivery.replayed").exists()
