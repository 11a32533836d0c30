"""Device binding: a later device waits for approval from a trusted one (pushed to it), or a
one-time code; approval, denial, the code fallback, revocation; and one consumer never sees or acts
on another's devices (404)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from bnpl.core.context import SYSTEM
from bnpl.core.models import Event, IdempotencyKey
from consumers.erasure import consumer_erase
from consumers.models import Channel, Consumer, Device, OneTimeCode, RefreshTokenFamily, SandboxMessage
from tests.consumers.api.conftest import AppClient, SignIn, device_code
from tests.consumers.conftest import another_code, latest_code
from tests.helpers import row_counts

pytestmark = pytest.mark.django_db

ADA = "ada@example.com"


def events(object_id: str) -> list[str]:
    return list(Event.objects.filter(object_id=object_id).order_by("id").values_list("type", flat=True))


def test_a_later_device_is_pending_and_the_trusted_one_is_asked_by_push(sign_in: SignIn) -> None:
    phone = sign_in(ADA, device_name="Phone")

    tablet = sign_in(ADA, device_name="Kitchen tablet")

    assert (tablet.body["device"]["status"], tablet.body["device"]["trusted_by"]) == ("pending", None)
    push = SandboxMessage.objects.get(channel=Channel.PUSH)
    assert push.destination == phone.device_id
    assert push.subject == "New sign-in to your account"
    assert push.body == (
        "Someone signed in on Kitchen tablet (iOS). If it was you, approve it. "
        "If it was not, deny it: it will be signed out."
    )
    refused = tablet.client.get("devices")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "device_not_trusted"
    own = tablet.client.get("device")
    assert own.status_code == 200
    assert (own.json()["id"], own.json()["status"], own.json()["current"]) == (tablet.device_id, "pending", True)
    pending = phone.client.get("devices").json()["results"]
    assert [(row["id"], row["status"], row["current"]) for row in pending] == [
        (tablet.device_id, "pending", False),
        (phone.device_id, "trusted", True),
    ]


def test_a_trusted_device_approves_a_pending_one(sign_in: SignIn) -> None:
    phone = sign_in(ADA, device_name="Phone")
    tablet = sign_in(ADA, device_name="Tablet")

    response = phone.client.post(f"devices/{tablet.device_id}/approve")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["trusted_by"], body["approved_by"]) == ("trusted", "approval", phone.device_id)
    assert tablet.client.get("devices").status_code == 200  # the same tokens now reach everything
    assert events(tablet.device_id) == ["device.registered", "device.trusted"]
    again = phone.client.post(f"devices/{tablet.device_id}/approve")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "device_not_pending"


def test_a_pending_device_cannot_approve_itself_or_act_on_others(sign_in: SignIn) -> None:
    phone = sign_in(ADA, device_name="Phone")
    stranger = sign_in(ADA, device_name="Unknown")

    for action in ("approve", "deny", "revoke"):
        for target in (stranger.device_id, phone.device_id):
            response = stranger.client.post(f"devices/{target}/{action}")
            assert response.status_code == 403, (action, target)
            assert response.json()["error"]["code"] == "device_not_trusted"
    assert Device.objects.get(public_id=stranger.device_id).status == "pending"
    assert Device.objects.get(public_id=phone.device_id).status == "trusted"


def test_denying_a_device_ends_its_tokens(sign_in: SignIn) -> None:
    phone = sign_in(ADA, device_name="Phone")
    stranger = sign_in(ADA, device_name="Unknown")

    response = phone.client.post(f"devices/{stranger.device_id}/deny")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["ended_at"] is not None) == ("denied", True)
    assert stranger.client.get("device").json()["error"]["code"] == "token_revoked"
    refresh = AppClient().post("auth/refresh", {"refresh_token": stranger.refresh_token})
    assert refresh.json()["error"]["code"] == "token_revoked"
    family = RefreshTokenFamily.objects.get(device__public_id=stranger.device_id)
    assert family.revoked_reason == "device_ended"
    assert events(stranger.device_id) == ["device.registered", "device.denied"]
    assert phone.client.post(f"devices/{stranger.device_id}/approve").status_code == 409


def test_a_denied_device_cannot_sign_in_again_as_itself(
    sign_in: SignIn, django_capture_on_commit_callbacks: Any
) -> None:
    phone = sign_in(ADA, device_name="Phone")
    stranger = sign_in(ADA, device_name="Unknown")
    phone.client.post(f"devices/{stranger.device_id}/deny")
    client = AppClient()
    with django_capture_on_commit_callbacks(execute=True):
        token = client.post("auth/codes", {"identifier": ADA}).json()["sign_in_token"]

    response = client.post(
        "auth/sign-in",
        {
            "identifier": ADA,
            "code": latest_code(ADA),
            "sign_in_token": token,
            "device_name": "Unknown",
            "device_id": stranger.device_id,
            "device_secret": stranger.body["device_secret"],
        },
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "device_ended"


def test_a_pending_device_is_trusted_by_a_one_time_code(
    sign_in: SignIn, django_capture_on_commit_callbacks: Any
) -> None:
    sign_in(ADA, device_name="Phone")
    tablet = sign_in(ADA, device_name="Tablet")

    with django_capture_on_commit_callbacks(execute=True):
        sent = tablet.client.post("device/verification-code")
    code = device_code(ADA)
    assert sent.status_code == 201
    assert sent.json() == {"object": "device_verification_code", "channel": "email"}
    assert "trust your new device, Tablet" in SandboxMessage.objects.filter(destination=ADA).first().body  # type: ignore[union-attr]

    before = row_counts()
    wrong = tablet.client.post("device/verify", {"code": another_code(code)})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "code_incorrect"
    assert OneTimeCode.objects.order_by("-id").first().attempts == 1  # type: ignore[union-attr]
    assert row_counts() == before

    right = tablet.client.post("device/verify", {"code": code})
    assert right.status_code == 200
    assert (right.json()["status"], right.json()["trusted_by"], right.json()["approved_by"]) == (
        "trusted",
        "code",
        None,
    )
    assert tablet.client.get("devices").status_code == 200


def test_the_code_fallback_works_with_no_trusted_device_left(
    sign_in: SignIn, django_capture_on_commit_callbacks: Any
) -> None:
    phone = sign_in(ADA, device_name="Phone")
    phone.client.post(f"devices/{phone.device_id}/revoke")  # lost it, removed it from the web, say
    tablet = sign_in(ADA, device_name="Tablet")
    assert tablet.body["device"]["status"] == "pending"  # not the first device ever
    assert not SandboxMessage.objects.filter(channel=Channel.PUSH).exists()  # no trusted device to ask

    with django_capture_on_commit_callbacks(execute=True):
        tablet.client.post("device/verification-code")
    response = tablet.client.post("device/verify", {"code": device_code(ADA)})

    assert response.json()["status"] == "trusted"


def test_a_code_for_one_device_cannot_trust_another(sign_in: SignIn, django_capture_on_commit_callbacks: Any) -> None:
    sign_in(ADA, device_name="Phone")
    tablet = sign_in(ADA, device_name="Tablet")
    laptop = sign_in(ADA, device_name="Laptop")
    with django_capture_on_commit_callbacks(execute=True):
        tablet.client.post("device/verification-code")

    response = laptop.client.post("device/verify", {"code": device_code(ADA)})

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "code_not_requested"
    assert Device.objects.get(public_id=laptop.device_id).status == "pending"


def test_a_trusted_device_needs_no_code(sign_in: SignIn) -> None:
    phone = sign_in(ADA)

    response = phone.client.post("device/verification-code")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "device_not_pending"


def test_revoking_a_device_ends_its_tokens(sign_in: SignIn) -> None:
    phone = sign_in(ADA, device_name="Phone")
    tablet = sign_in(ADA, device_name="Tablet")
    phone.client.post(f"devices/{tablet.device_id}/approve")

    response = phone.client.post(f"devices/{tablet.device_id}/revoke")

    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    assert tablet.client.get("device").json()["error"]["code"] == "token_revoked"
    assert phone.client.get("device").status_code == 200
    again = phone.client.post(f"devices/{tablet.device_id}/revoke")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "device_ended"
    assert events(tablet.device_id) == ["device.registered", "device.trusted", "device.revoked"]


# --- Isolation --------------------------------------------------------------------------------


def test_one_consumer_never_sees_or_acts_on_anothers_devices(sign_in: SignIn) -> None:
    ada = sign_in(ADA, device_name="Phone")
    ada_pending = sign_in(ADA, device_name="Tablet")
    bob = sign_in("bob@example.com", device_name="Bob's phone")

    for path in (f"devices/{ada.device_id}", f"devices/{ada_pending.device_id}"):
        response = bob.client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "resource_missing"
    before = row_counts()
    for action in ("approve", "deny", "revoke"):
        response = bob.client.post(f"devices/{ada_pending.device_id}/{action}")
        assert response.status_code == 404, action
        assert response.json()["error"]["code"] == "resource_missing"
    assert row_counts() == before
    listed = bob.client.get("devices").json()["results"]
    assert [row["id"] for row in listed] == [bob.device_id]
    assert Device.objects.get(public_id=ada_pending.device_id).status == "pending"


def test_erasing_the_consumer_ends_the_apps_devices_and_forgets_what_the_app_said(sign_in: SignIn) -> None:
    phone = sign_in(ADA, device_name="Ada Lovelace's phone", push_token="push-address-1")
    pending = sign_in(ADA, device_name="Tablet")
    consumer = Consumer.objects.get(email=ADA)

    consumer_erase(consumer=consumer, actor=SYSTEM)

    assert set(Device.objects.values_list("status", "name", "push_token")) == {("revoked", "[erased]", "")}
    assert not RefreshTokenFamily.objects.filter(revoked_at__isnull=True).exists()
    assert not IdempotencyKey.objects.filter(merchant__isnull=True).exists()
    assert not SandboxMessage.objects.filter(destination__in=[phone.device_id, pending.device_id]).exists()
    for app in (phone, pending):
        assert app.client.get("device").json()["error"]["code"] == "token_revoked"


def test_the_sandbox_inbox_shows_the_push_notification_to_the_trusted_device(sign_in: SignIn) -> None:
    phone = sign_in(ADA, device_name="Phone")
    sign_in(ADA, device_name="Kitchen tablet")

    page = Client().get("/sandbox/inbox", {"to": phone.device_id}).content.decode()

    assert "<strong>New sign-in to your account</strong>" in page
    assert "Someone signed in on Kitchen tablet (iOS)." in page
    assert '<span class="badge">push</span>' in page
