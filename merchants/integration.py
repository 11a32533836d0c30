"""A new merchant's integration checklist (keys, a first checkout session, a webhook endpoint, a
first delivered webhook, going live), read from what the merchant has actually done, in one query.

The first four count in either mode (most merchants integrate in test mode); going live needs the
application approved and a live secret key that works."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Exists, OuterRef
from django.urls import reverse

from bnpl.checkout.models import CheckoutSession
from merchants.models import ApiKey, Merchant, WebhookDelivery, WebhookEndpoint


@dataclass(frozen=True)
class ChecklistItem:
    key: str
    label: str
    done: bool
    hint: str  # what to do next, while not done
    url: str


@dataclass(frozen=True)
class Checklist:
    items: list[ChecklistItem]

    @property
    def done_count(self) -> int:
        return sum(item.done for item in self.items)

    @property
    def complete(self) -> bool:
        return all(item.done for item in self.items)


def integration_checklist(*, merchant: Merchant) -> Checklist:
    merchant_rows = {"merchant": OuterRef("pk")}
    state = (
        Merchant.objects.filter(pk=merchant.pk)
        .annotate(
            has_keys=Exists(ApiKey.objects.filter(**merchant_rows, revoked_at__isnull=True)),
            has_session=Exists(CheckoutSession.objects.filter(**merchant_rows)),
            has_endpoint=Exists(WebhookEndpoint.objects.filter(**merchant_rows, deleted_at__isnull=True)),
            has_delivery=Exists(
                WebhookDelivery.objects.filter(**merchant_rows, status=WebhookDelivery.Status.SUCCEEDED)
            ),
            has_live_key=Exists(
                ApiKey.objects.filter(**merchant_rows, livemode=True, kind=ApiKey.Kind.SECRET, revoked_at__isnull=True)
            ),
        )
        .values("status", "has_keys", "has_session", "has_endpoint", "has_delivery", "has_live_key")
        .get()
    )
    developers = reverse("merchants:developers")
    approved = state["status"] == Merchant.Status.ACTIVE
    return Checklist(
        items=[
            ChecklistItem(
                key="keys",
                label="Create your API keys",
                done=state["has_keys"],
                hint="Create a secret key for your server under Developers.",
                url=f"{developers}#key-form",
            ),
            ChecklistItem(
                key="checkout_session",
                label="Create your first checkout session",
                done=state["has_session"],
                hint="POST /api/v1/checkout/sessions with your secret key, then open its URL.",
                url=reverse("api:docs"),
            ),
            ChecklistItem(
                key="webhook_endpoint",
                label="Add a webhook endpoint",
                done=state["has_endpoint"],
                hint="Tell us where to send events about your orders.",
                url=f"{developers}#endpoint-form",
            ),
            ChecklistItem(
                key="webhook_delivery",
                label="Receive your first webhook",
                done=state["has_delivery"],
                hint="Send a test event from your endpoint's page; answer it with a 2xx.",
                url=developers,
            ),
            ChecklistItem(
                key="go_live",
                label="Go live",
                done=approved and state["has_live_key"],
                hint=(
                    "Switch to live data and create a live secret key."
                    if approved
                    else "Complete and submit your application: live keys open once it is approved."
                ),
                url=developers if approved else reverse("merchants:onboarding"),
            ),
        ]
    )
