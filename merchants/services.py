"""Writes on merchants, their teams, keys and webhook endpoints. Each service validates, changes
state, and writes the audit row and the outbox event in one transaction."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.event_types import merchant_visible_types
from bnpl.core.ids import ALPHABET
from bnpl.core.money import normalize_currency
from bnpl.core.net import non_public_host
from bnpl.core.services import audit_log_record, change_record, event_emit
from bnpl.plans.services import products_install_defaults
from merchants.models import ApiKey, Membership, Merchant, WebhookEndpoint
from merchants.representations import api_key_data, merchant_data, webhook_endpoint_data
from merchants.selectors import api_key_hash

TOKEN_RANDOM_LENGTH = 32


def _random_token(prefix: str) -> str:
    return prefix + "".join(secrets.choice(ALPHABET) for _ in range(TOKEN_RANDOM_LENGTH))


# --- Merchants --------------------------------------------------------------------------------


def merchant_create(
    *,
    name: str,
    country: str = "US",
    currencies: Sequence[str] = ("USD",),
    website: str = "",
    support_email: str = "",
    payout_account: str = "",
) -> Merchant:
    """A new tenant, pending approval: it can work in test mode at once, live only once approved."""
    if not name.strip():
        raise InvalidRequestError("A merchant needs a name.", param="name")
    codes = [normalize_currency(code, param="currencies") for code in currencies]
    if not codes:
        raise InvalidRequestError("A merchant needs at least one currency.", param="currencies")
    with transaction.atomic():
        merchant = Merchant.objects.create(
            name=name.strip(),
            country=country.upper(),
            default_currency=codes[0],
            currencies=codes,
            website=website,
            support_email=support_email,
            payout_account=payout_account.strip(),
        )
        change_record(action="merchant.created", instance=merchant, merchant=merchant, data=merchant_data(merchant))
        products_install_defaults(merchant=merchant)
    return merchant


def _merchant_modes(merchant: Merchant) -> tuple[bool, ...]:
    """The modes whose event feeds hear about the merchant's own account: live only once approved."""
    return (False, True) if merchant.approved_at else (False,)


def _merchant_transition(*, merchant: Merchant, allowed_from: set[str], to: str, action: str) -> Merchant:
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
        if merchant.status not in allowed_from:
            article = "An" if merchant.status[0] in "aeiou" else "A"
            raise StateError(f"{article} {merchant.status} merchant cannot be {action.split('.')[-1]}.", param="status")
        before = merchant_data(merchant)
        merchant.status = to
        if to == Merchant.Status.ACTIVE and merchant.approved_at is None:
            merchant.approved_at = clock.now()
        merchant.suspended_at = clock.now() if to == Merchant.Status.SUSPENDED else None
        merchant.save(update_fields=["status", "approved_at", "suspended_at"])
        after = merchant_data(merchant)
        audit_log_record(action=action, instance=merchant, merchant=merchant, before=before, after=after)
        for livemode in _merchant_modes(merchant):
            event_emit(type=action, instance=merchant, merchant=merchant, livemode=livemode, data=after)
    return merchant


def merchant_approve(*, merchant: Merchant) -> Merchant:
    return _merchant_transition(
        merchant=merchant, allowed_from={Merchant.Status.PENDING}, to=Merchant.Status.ACTIVE, action="merchant.approved"
    )


def merchant_suspend(*, merchant: Merchant) -> Merchant:
    return _merchant_transition(
        merchant=merchant,
        allowed_from={Merchant.Status.PENDING, Merchant.Status.ACTIVE},
        to=Merchant.Status.SUSPENDED,
        action="merchant.suspended",
    )


def merchant_reinstate(*, merchant: Merchant) -> Merchant:
    target = Merchant.Status.ACTIVE if merchant.approved_at else Merchant.Status.PENDING
    return _merchant_transition(
        merchant=merchant, allowed_from={Merchant.Status.SUSPENDED}, to=target, action="merchant.reinstated"
    )


MERCHANT_EDITABLE_FIELDS = ("name", "country", "currencies", "website", "support_email", "payout_account")


def merchant_update(*, merchant: Merchant, **changes: Any) -> Merchant:
    """Change the merchant's profile (operators in admin; the dashboard later). Status has its own
    services. The first currency listed becomes the default."""
    unknown = set(changes) - set(MERCHANT_EDITABLE_FIELDS)
    if unknown:
        raise InvalidRequestError(f"{sorted(unknown)[0]} cannot be changed here.", param=sorted(unknown)[0])
    if "name" in changes and not str(changes["name"]).strip():
        raise InvalidRequestError("A merchant needs a name.", param="name")
    if "currencies" in changes:
        changes["currencies"] = [normalize_currency(code, param="currencies") for code in changes["currencies"]]
        if not changes["currencies"]:
            raise InvalidRequestError("A merchant needs at least one currency.", param="currencies")
        changes["default_currency"] = changes["currencies"][0]
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update().get(pk=merchant.pk)
        before = merchant_data(merchant)
        for field, value in changes.items():
            setattr(merchant, field, value)
        merchant.save()
        after = merchant_data(merchant)
        products_install_defaults(merchant=merchant)
        if after != before:
            audit_log_record(
                action="merchant.updated", instance=merchant, merchant=merchant, before=before, after=after
            )
            for livemode in _merchant_modes(merchant):
                event_emit(type="merchant.updated", instance=merchant, merchant=merchant, livemode=livemode, data=after)
    return merchant


def _membership_data(membership: Membership) -> dict[str, object]:
    return {"id": membership.public_id, "email": membership.user.email, "role": membership.role}


def membership_create(*, merchant: Merchant, user: Any, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise InvalidRequestError(f"Unknown role {role!r}.", param="role")
    with transaction.atomic():
        if Membership.objects.filter(merchant=merchant, user=user).exists():
            raise StateError(f"{user} is already on this merchant's team.", param="email")
        membership = Membership.objects.create(merchant=merchant, user=user, role=role)
        change_record(
            action="membership.created", instance=membership, merchant=merchant, data=_membership_data(membership)
        )
    return membership


def membership_update(*, membership: Membership, role: str) -> Membership:
    if role not in Membership.Role.values:
        raise InvalidRequestError(f"Unknown role {role!r}.", param="role")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        before = _membership_data(membership)
        if membership.role != role:
            _keep_an_owner(membership, leaving=membership.role == Membership.Role.OWNER)
            membership.role = role
            membership.save(update_fields=["role"])
            change_record(
                action="membership.updated",
                instance=membership,
                before=before,
                data=_membership_data(membership),
            )
    return membership


def membership_delete(*, membership: Membership) -> None:
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("user").get(pk=membership.pk)
        _keep_an_owner(membership, leaving=membership.role == Membership.Role.OWNER)
        before = _membership_data(membership)
        change_record(
            action="membership.deleted",
            instance=membership,
            before=before,
            data={**before, "deleted": True},
        )
        membership.delete()


def _keep_an_owner(membership: Membership, *, leaving: bool) -> None:
    """A merchant always keeps at least one owner: the last one cannot leave or be demoted."""
    if not leaving:
        return
    owners = Membership.objects.select_for_update().filter(merchant=membership.merchant, role=Membership.Role.OWNER)
    if owners.exclude(pk=membership.pk).count() == 0:
        raise StateError("The merchant's last owner cannot leave or be demoted.", code="last_owner", param="role")


# --- API keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    token: str  # the full token: shown to the merchant once, never stored


def api_key_create(
    *, merchant: Merchant, kind: str, livemode: bool, name: str = "", created_by: Any = None
) -> CreatedApiKey:
    """Issue a key. Live keys only for approved merchants; suspended merchants get none."""
    if kind not in ApiKey.Kind.values:
        raise InvalidRequestError(f"Unknown key kind {kind!r}.", param="kind")
    if merchant.status == Merchant.Status.SUSPENDED:
        raise StateError("A suspended merchant cannot create keys.", code="merchant_suspended")
    if livemode and not merchant.is_active:
        raise StateError(
            "Live keys are issued once the merchant is approved.", code="merchant_not_approved", param="livemode"
        )
    prefix = {"secret": "sk", "publishable": "pk"}[kind] + ("_live_" if livemode else "_test_")
    token = _random_token(prefix)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            merchant=merchant,
            livemode=livemode,
            kind=kind,
            name=name[:100],
            token_hash=api_key_hash(token),
            token_hint=f"{prefix}…{token[-4:]}",
            publishable_token=token if kind == ApiKey.Kind.PUBLISHABLE else "",
            created_by=created_by,
        )
        change_record(
            action="api_key.created", instance=api_key, merchant=merchant, livemode=livemode, data=api_key_data(api_key)
        )
    return CreatedApiKey(api_key=api_key, token=token)


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    with transaction.atomic():
        api_key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if api_key.is_revoked:
            return api_key
        before = api_key_data(api_key)
        api_key.revoked_at = clock.now()
        api_key.save(update_fields=["revoked_at"])
        change_record(
            action="api_key.revoked",
            instance=api_key,
            before=before,
            data=api_key_data(api_key),
        )
    return api_key


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, at most once a minute per key so that reads do not each cost a write."""
    now = clock.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() >= 60:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now


# --- Webhook endpoints ------------------------------------------------------------------------


def _validate_enabled_events(enabled_events: Sequence[str]) -> list[str]:
    if not enabled_events:
        raise InvalidRequestError("Name at least one event type, or '*' for all.", param="enabled_events")
    known = set(merchant_visible_types())
    for event_type in enabled_events:
        if event_type != "*" and event_type not in known:
            raise InvalidRequestError(
                f"Unknown event type {event_type!r}.", code="event_type_invalid", param="enabled_events"
            )
    return sorted(set(enabled_events))


def _validate_webhook_url(url: str, *, livemode: bool) -> str:
    if livemode and not url.startswith("https://"):
        raise InvalidRequestError("Live-mode webhook endpoints must use https.", code="url_invalid", param="url")
    problem = non_public_host(url) if livemode or not settings.WEBHOOK_ALLOW_PRIVATE_TARGETS else None
    if problem:
        raise InvalidRequestError(
            f"Live-mode webhook endpoints must be public: {problem}.", code="url_invalid", param="url"
        )
    return url


def webhook_endpoint_create(
    *, merchant: Merchant, livemode: bool, url: str, enabled_events: Sequence[str], description: str = ""
) -> WebhookEndpoint:
    url = _validate_webhook_url(url, livemode=livemode)
    events = _validate_enabled_events(enabled_events)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            merchant=merchant,
            livemode=livemode,
            url=url,
            description=description,
            enabled_events=events,
            secret=_random_token("whsec_"),
        )
        change_record(
            action="webhook_endpoint.created",
            instance=endpoint,
            merchant=merchant,
            livemode=livemode,
            data=webhook_endpoint_data(endpoint),
        )
    return endpoint


def webhook_endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    enabled_events: Sequence[str] | None = None,
    description: str | None = None,
    status: str | None = None,
) -> WebhookEndpoint:
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = webhook_endpoint_data(endpoint)
        if url is not None:
            endpoint.url = _validate_webhook_url(url, livemode=endpoint.livemode)
        if enabled_events is not None:
            endpoint.enabled_events = _validate_enabled_events(enabled_events)
        if description is not None:
            endpoint.description = description
        if status is not None:
            endpoint.status = status
        endpoint.save()
        after = webhook_endpoint_data(endpoint)
        if after != before:
            change_record(
                action="webhook_endpoint.updated",
                instance=endpoint,
                before=before,
                data=after,
            )
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """Soft delete: deliveries already logged keep their endpoint; the endpoint receives nothing more."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = webhook_endpoint_data(endpoint)
        endpoint.deleted_at = clock.now()
        endpoint.status = WebhookEndpoint.Status.DISABLED
        endpoint.save(update_fields=["deleted_at", "status"])
        change_record(
            action="webhook_endpoint.deleted",
            instance=endpoint,
            before=before,
            data={**webhook_endpoint_data(endpoint), "deleted": True},
        )
    return endpoint
