"""The public representation of each merchant-side object: the API's responses and the payloads
of events (and so of webhooks) use the same shape, so a merchant sees one form of every object."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from bnpl.core.models import Event
from bnpl.core.representations import Representation
from merchants.models import ApiKey, Membership, Merchant, Settlement, SettlementLine, WebhookEndpoint


class MerchantRepresentation(Representation[Merchant]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=Merchant.Status.choices)
    country = serializers.CharField()
    default_currency = serializers.CharField()
    currencies = serializers.ListField(child=serializers.CharField())
    website = serializers.CharField()
    support_email = serializers.CharField()
    payout_account = serializers.CharField(help_text="Where settlements are paid (Stripe: your connected account)")
    created_at = serializers.DateTimeField()
    approved_at = serializers.DateTimeField(allow_null=True)

    def get_object(self, instance: Merchant) -> str:
        return "merchant"


class MembershipRepresentation(serializers.Serializer[Membership]):
    id = serializers.CharField(source="public_id")
    email = serializers.EmailField(source="user.email")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    created_at = serializers.DateTimeField()


class ApiKeyRepresentation(serializers.Serializer[ApiKey]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=ApiKey.Kind.choices)
    livemode = serializers.BooleanField()
    name = serializers.CharField()
    token_hint = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)

    def get_object(self, instance: ApiKey) -> str:
        return "api_key"


class WebhookEndpointRepresentation(Representation[WebhookEndpoint]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    url = serializers.URLField()
    description = serializers.CharField()
    enabled_events = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=WebhookEndpoint.Status.choices)
    created_at = serializers.DateTimeField()

    def get_object(self, instance: WebhookEndpoint) -> str:
        return "webhook_endpoint"


class EventRepresentation(serializers.Serializer[Event]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    type = serializers.CharField()
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    request_id = serializers.CharField()
    data = serializers.SerializerMethodField()  # type: ignore[assignment]  # a field, popped by the metaclass

    def get_object(self, instance: Event) -> str:
        return "event"

    def get_data(self, instance: Event) -> dict[str, Any]:
        return {"object": instance.data}


def merchant_data(merchant: Merchant) -> dict[str, object]:
    return dict(MerchantRepresentation(merchant).data)


def api_key_data(api_key: ApiKey) -> dict[str, object]:
    return dict(ApiKeyRepresentation(api_key).data)


def webhook_endpoint_data(endpoint: WebhookEndpoint) -> dict[str, object]:
    return dict(WebhookEndpointRepresentation(endpoint).data)


def event_data(event: Event) -> dict[str, Any]:
    """The event as ``GET /api/v1/events/{id}`` shows it, and as webhooks deliver it."""
    serializer: serializers.Serializer[Event] = EventRepresentation(event)  # its "data" field shadows .data for mypy
    return dict(serializer.data)


class SettlementLineRepresentation(serializers.Serializer[SettlementLine]):
    kind = serializers.ChoiceField(choices=SettlementLine.Kind.choices)
    source_id = serializers.CharField(help_text="The capture (cap_…) or refund (re_…)")
    order = serializers.CharField(source="order_id")
    merchant_reference = serializers.CharField(
        help_text="A capture's reference, as you sent it with the capture (e.g. the shipment); blank on refunds"
    )
    reason = serializers.CharField(help_text="A refund's reason, as you sent it with the refund; blank on captures")
    amount = serializers.IntegerField(help_text="+ captured, - refunded")
    fee_amount = serializers.IntegerField(help_text="- fee kept, + fee given back")
    net_amount = serializers.IntegerField()
    occurred_at = serializers.DateTimeField()


class SettlementRepresentation(serializers.Serializer[Settlement]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Settlement.Status.choices)
    cutoff = serializers.DateTimeField(help_text="Captures and refunds before this instant")
    captured_amount = serializers.IntegerField()
    fee_amount = serializers.IntegerField()
    refunded_amount = serializers.IntegerField()
    fee_refunded_amount = serializers.IntegerField()
    carried_in_amount = serializers.IntegerField(help_text="The batch before, when it was not paid")
    net_amount = serializers.IntegerField(help_text="Paid out when positive; carried forward otherwise")
    payout_reference = serializers.CharField()
    paid_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_object(self, instance: Settlement) -> str:
        return "settlement"


class SettlementWithLinesRepresentation(SettlementRepresentation):
    lines = SettlementLineRepresentation(many=True)


def settlement_data(settlement: Settlement) -> dict[str, Any]:
    return dict(SettlementRepresentation(settlement).data)
