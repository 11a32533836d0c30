"""The app's devices in the consumer portal: listed with their status, removable (the app there is
signed out at once), and another consumer's device is a 404."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from consumers.models import Consumer, Device
from consumers.selectors import SESSION_KEY
from tests.consumers.api.conftest import SignIn

pytestmark = pytest.mark.django_db


def _portal(consumer: Consumer) -> Client:
    client = Client()
    session = client.session
    session[SESSION_KEY] = consumer.public_id
    session.save()
    return client


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def test_the_devices_page_lists_the_apps_devices_and_removes_one(sign_in: SignIn) -> None:
    phone = sign_in("ada@example.com", device_name="Ada's phone")
    tablet = sign_in("ada@example.com", device_name="Kitchen tablet")
    portal = _portal(Consumer.objects.get(email="ada@example.com"))

    page = portal.get("/account/devices").content.decode()

    assert "Ada&#x27;s phone" in page and "Kitchen tablet" in page
    assert "waiting for approval" in page and "your first device" in page
    response = portal.post(f"/account/devices/{tablet.device_id}/revoke", follow=True)
    assert _messages(response) == [
        "Removed Kitchen tablet: the app there is signed out, and can sign in again only as a new device."
    ]
    assert Device.objects.get(public_id=tablet.device_id).status == "revoked"
    assert tablet.client.get("device").json()["error"]["code"] == "token_revoked"
    assert phone.client.get("device").status_code == 200


def test_another_consumers_device_is_not_found_in_the_portal(sign_in: SignIn) -> None:
    bob = sign_in("bob@example.com")
    sign_in("ada@example.com")
    portal = _portal(Consumer.objects.get(email="ada@example.com"))

    assert bob.device_id not in portal.get("/account/devices").content.decode()
    assert portal.post(f"/account/devices/{bob.device_id}/revoke").status_code == 404
    assert Device.objects.get(public_id=bob.device_id).status == "trusted"


def test_the_devices_page_needs_a_signed_in_consumer(db: None) -> None:
    response = Client().get("/account/devices")

    assert response.status_code == 302
    assert response["Location"].startswith("/account/sign-in")
