"""Devices of the consumer app and how they come to be trusted.

A device is registered when the app signs in on it with a one-time code. The consumer's first
device ever is trusted by that code. Any later one starts ``pending``: the consumer's trusted
devices get a push notification, and one of them approves it (or denies it: "that was not me"); or
else, with no trusted device at hand or by the consumer's choice, the pending device proves itself
with a fresh one-time code sent to the consumer's own address (the same codes, rules and limits as
the web's: ``consumers.services``). A pending device's tokens reach only its own verification; the
rest of the API waits until it is trusted. Denying or revoking a device ends its tokens at once.

The app keeps a device secret, given once when the device is registered: with it, the same device
signs in again after signing out without asking to be trusted anew (``device_resume``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence

from django.db import transaction

from bnpl.core import clock
from bnpl.core.context import consumer_actor
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.services import change_record
from bnpl.core.transactions import service_atomic
from bnpl.notifications import get_push_sender
from consumers.models import Consumer, Device, RefreshTokenFamily
from consumers.services import (
    Requester,
    consumer_code_destination,
    one_time_code_confirm_then,
    one_time_code_request,
)
from consumers.token_families import families_revoke

DEVICE_SECRET_BYTES = 32


def device_data(device: Device) -> dict[str, object]:
    """The device as events record it: no name and no push address (the consumer's own words and a
    provider's address stay in the database)."""
    return {
        "id": device.public_id,
        "object": "device",
        "consumer": device.consumer.public_id,
        "platform": device.platform,
        "status": device.status,
        "trusted_by": device.trusted_by or None,
        "approved_by": device.approved_by.public_id if device.approved_by else None,
        "trusted_at": device.trusted_at.isoformat() if device.trusted_at else None,
        "ended_at": device.ended_at.isoformat() if device.ended_at else None,
        "created_at": device.created_at.isoformat(),
    }


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(f"bnpl.device:{secret}".encode()).hexdigest()


def device_register(*, consumer: Consumer, name: str, platform: str, push_token: str = "") -> tuple[Device, str]:
    """Register the device the app just signed in on (call inside the sign-in's transaction, with
    the consumer's row locked): trusted if it is the consumer's first device ever, else pending,
    with a push notification to each trusted device. Returns the device and its secret (shown once)."""
    now = clock.now()
    first = not Device.objects.filter(consumer=consumer).exists()
    secret = secrets.token_urlsafe(DEVICE_SECRET_BYTES)
    device = Device(
        consumer=consumer,
        name=name.strip()[:100] or "Phone",
        platform=platform,
        push_token=push_token,
        secret_hash=_secret_hash(secret),
        status=Device.Status.TRUSTED if first else Device.Status.PENDING,
        trusted_by=Device.TrustedBy.FIRST_SIGN_IN if first else "",
        trusted_at=now if first else None,
        last_used_at=now,
    )
    device.save()
    change_record(
        action="device.registered",
        instance=device,
        data=device_data(device),
        merchant=None,
        actor=consumer_actor(consumer.public_id),
    )
    if not first:
        _ask_trusted_devices(device)
    return device, secret


def device_resume(*, consumer: Consumer, public_id: str, secret: str) -> Device:
    """The consumer's own device, signing in again with the secret it was given; refused (naming
    ``device_id``) unless it is theirs, the secret matches and it was neither denied nor revoked."""
    device = Device.objects.select_for_update().filter(consumer=consumer, public_id=public_id).first()
    if device is None or not hmac.compare_digest(device.secret_hash, _secret_hash(secret)):
        raise InvalidRequestError(
            "This device is not known with that secret. Sign in without device_id to register it.",
            code="device_unknown",
            param="device_id",
        )
    if not device.is_usable:
        raise StateError(
            "This device was removed from your account. Sign in without device_id to register it again.",
            code="device_ended",
            param="device_id",
        )
    return device


def _ask_trusted_devices(device: Device) -> None:
    """After commit, a push notification to each trusted device of the consumer: approve or deny."""
    trusted: Sequence[tuple[str, str]] = list(
        Device.objects.filter(consumer=device.consumer, status=Device.Status.TRUSTED)
        .exclude(pk=device.pk)
        .values_list("public_id", "push_token")
    )
    title = "New sign-in to your account"
    body = (
        f"Someone signed in on {device.name} ({device.get_platform_display()}). If it was you, approve it. "
        "If it was not, deny it: it will be signed out."
    )

    def send() -> None:
        sender = get_push_sender()
        for public_id, push_token in trusted:
            sender.send_push(device=public_id, push_token=push_token, title=title, body=body)

    transaction.on_commit(send)


def _locked_pending(device: Device) -> Device:
    locked = Device.objects.select_for_update(of=("self",)).select_related("consumer", "approved_by").get(pk=device.pk)
    if locked.status != Device.Status.PENDING:
        raise StateError(f"This device is {locked.status}, not waiting for approval.", code="device_not_pending")
    return locked


def _trust(device: Device, *, trusted_by: str, approved_by: Device | None) -> Device:
    before = device_data(device)
    device.status, device.trusted_by, device.approved_by = Device.Status.TRUSTED, trusted_by, approved_by
    device.trusted_at = clock.now()
    device.save(update_fields=["status", "trusted_by", "approved_by", "trusted_at"])
    change_record(
        action="device.trusted",
        instance=device,
        before=before,
        data=device_data(device),
        merchant=None,
        actor=consumer_actor(device.consumer.public_id),
    )
    return device


def device_approve(*, device: Device, approver: Device) -> Device:
    """A trusted device approves a pending one of the same consumer."""
    if approver.status != Device.Status.TRUSTED or approver.consumer_id != device.consumer_id:
        raise StateError("Only a trusted device of yours can approve another.", code="device_not_trusted")
    with service_atomic():
        return _trust(_locked_pending(device), trusted_by=Device.TrustedBy.APPROVAL, approved_by=approver)


def device_deny(*, device: Device, approver: Device) -> Device:
    """A trusted device says a pending one is not the consumer's: it is denied and its tokens end."""
    if approver.status != Device.Status.TRUSTED or approver.consumer_id != device.consumer_id:
        raise StateError("Only a trusted device of yours can deny another.", code="device_not_trusted")
    with service_atomic():
        return _end(_locked_pending(device), status=Device.Status.DENIED)


def device_revoke(*, device: Device) -> Device:
    """Remove a device from the account (any device of the consumer's, itself included): its
    tokens end at once, and it can sign in again only as a new device."""
    with service_atomic():
        locked = (
            Device.objects.select_for_update(of=("self",)).select_related("consumer", "approved_by").get(pk=device.pk)
        )
        if not locked.is_usable:
            raise StateError(f"This device is already {locked.status}.", code="device_ended")
        return _end(locked, status=Device.Status.REVOKED)


def _end(device: Device, *, status: str) -> Device:
    before = device_data(device)
    device.status, device.ended_at = status, clock.now()
    device.save(update_fields=["status", "ended_at"])
    change_record(
        action="device.denied" if status == Device.Status.DENIED else "device.revoked",
        instance=device,
        before=before,
        data=device_data(device),
        merchant=None,
    )
    families_revoke(
        families=RefreshTokenFamily.objects.filter(device=device), reason=RefreshTokenFamily.RevokedReason.DEVICE_ENDED
    )
    return device


def device_requester(*, device: Device, address: str) -> Requester:
    """The app on ``device`` as the code services see it: codes it asks for are bound to the device
    (only its tokens can enter them), limits count for its client address."""
    return Requester(session_token=f"app-device:{device.public_id}", address=address)


def device_verification_code_send(*, device: Device, address: str) -> str:
    """Send a fresh one-time code to the consumer's own address to trust a pending device (limited
    like every code). Returns the channel it went by."""
    if device.status != Device.Status.PENDING:
        raise StateError(f"This device is {device.status}, not waiting for approval.", code="device_not_pending")
    destination = consumer_code_destination(device.consumer)
    one_time_code_request(
        identifier=destination.address,
        requester=device_requester(device=device, address=address),
        note=f"Enter it in the app to trust your new device, {device.name}.",
    )
    return destination.channel


def device_verify_by_code(*, device: Device, code: str, address: str) -> Device:
    """Trust a pending device by the code sent for it (wrong attempts count as at sign-in). Must
    run outside a transaction: wrong attempts commit."""
    if device.status != Device.Status.PENDING:
        raise StateError(f"This device is {device.status}, not waiting for approval.", code="device_not_pending")
    return one_time_code_confirm_then(
        consumer=device.consumer,
        code=code,
        requester=device_requester(device=device, address=address),
        then=lambda: _trust(_locked_pending(device), trusted_by=Device.TrustedBy.CODE, approved_by=None),
    )
