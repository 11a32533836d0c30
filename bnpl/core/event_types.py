"""The catalogue of event types. Every ``event_emit`` type is declared here with what it means, and
whether merchants see it (in ``GET /api/v1/events`` and as webhooks). Later modules add theirs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    merchant_visible: bool = True


EVENT_TYPES: dict[str, EventType] = {}


def register(name: str, description: str, *, merchant_visible: bool = True) -> None:
    EVENT_TYPES[name] = EventType(name=name, description=description, merchant_visible=merchant_visible)


def merchant_visible_types() -> list[str]:
    return sorted(name for name, event_type in EVENT_TYPES.items() if event_type.merchant_visible)


register("clock.advanced", "An operator moved the sandbox clock forward.", merchant_visible=False)
register("merchant.created", "A merchant account was created.")
register("merchant.approved", "An operator approved the merchant: live mode is open.")
register("merchant.suspended", "An operator suspended the merchant: every key is refused.")
register("merchant.reinstated", "An operator lifted the merchant's suspension.")
register("merchant.updated", "The merchant's profile changed.")
register("membership.created", "A user joined the merchant's team.")
register("membership.updated", "A team member's role changed.")
register("membership.deleted", "A user left the merchant's team.")
register("api_key.created", "An API key was created.")
register("api_key.revoked", "An API key was revoked.")
register("webhook_endpoint.created", "A webhook endpoint was added.")
register("webhook_endpoint.updated", "A webhook endpoint was changed.")
register("webhook_endpoint.deleted", "A webhook endpoint was deleted.")
register("consumer.created", "A consumer signed up.", merchant_visible=False)
register("consumer.signed_in", "A consumer signed in with a one-time code.", merchant_visible=False)
