"""The app's devices in the portal (``/account/devices``): every phone the consumer's app signed in
on, trusted or waiting for approval, and a way to remove one (its sign-in ends at once: the same
service the app's own API calls, ``consumers.devices.device_revoke``).

Devices are looked up through the signed-in consumer (``account_views.account_page``), so another's
is a 404."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from consumers import devices, selectors
from consumers.account_views import account_action, account_consumer, account_page
from consumers.models import Device


@require_GET
@account_page
def device_list(request: HttpRequest) -> HttpResponse:
    consumer = account_consumer(request)
    return render(
        request,
        "consumers/account/devices.html",
        {
            "section": "devices",
            "consumer": consumer,
            "devices": selectors.device_list(consumer=consumer).select_related("approved_by"),
        },
    )


@require_POST
@account_page
def device_revoke(request: HttpRequest, device_id: str) -> HttpResponse:
    device = selectors.consumer_owned_get(Device, consumer=account_consumer(request), public_id=device_id)
    if not isinstance(device, Device):
        raise Http404

    def revoke() -> str:
        devices.device_revoke(device=device)
        return f"Removed {device.name}: the app there is signed out, and can sign in again only as a new device."

    return account_action(request, revoke, back=reverse("consumers:devices"))
