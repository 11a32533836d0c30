"""Writes on merchants, their teams, keys and webhook endpoints. Each service validates, changes
state, and writes the audit row and the outbox event in one transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.event_types import is_merchant_visible, register
from bnpl.core.files import EXTENSIONS, sniffed_content_type
from bnpl.core.ids import generate_public_id, random_base62
from bnpl.core.keys import api_key_hash_secrets, secret_fingerprint
from bnpl.core.money import normalize_currency
from bnpl.core.net import non_public_host
from bnpl.core.services import audit_log_record, change_record, event_emit
from bnpl.core.transactions import service_atomic
from bnpl.plans.services import products_install_defaults
from bnpl.tenancy.keys import (
    api_key_hash,
    api_key_hashes,
    api_keys_forget,
    merchant_api_keys_forget,
    stored_key_rehash,
    stored_key_touch,
)
from merchants.models import ApiKey, Branding, Invitation, Membership, Merchant, WebhookEndpoint
from merchants.representations import api_key_data, merchant_data, webhook_endpoint_data
from merchants.webhooks import endpoint_enabled, endpoints_forget

TOKEN_RANDOM_LENGTH = 32

register("branding.updated", "The merchant changed its checkout branding (name, logo, colours).")
register("invitation.created", "A team member invited someone to the team.", merchant_visible=False)
register("invitation.accepted", "An invited person joined the team.", merchant_visible=False)
register("invitation.revoked", "An invitation was withdrawn.", merchant_visible=False)


def _random_token(prefix: str) -> str:
    return prefix + random_base62(TOKEN_RANDOM_LENGTH)


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
        merchant_api_keys_forget(merchant=merchant)  # what the API decides for its keys just changed
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
        merchant_api_keys_forget(merchant=merchant)  # the API serves the merchant from its keys' cache
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
            token_hash_secret=secret_fingerprint(api_key_hash_secrets()[0]),
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
        api_keys_forget(token_hashes=[api_key.token_hash])
        change_record(
            action="api_key.revoked",
            instance=api_key,
            before=before,
            data=api_key_data(api_key),
        )
    return api_key


def api_key_rehash(*, api_key: ApiKey, token: str) -> None:
    """Store a key found under a fallback hash secret under the current one (a rotation of
    API_KEY_HASH_SECRET completes key by key, as each is used; ``manage.py api_key_hash_status``
    counts those still waiting). Nothing to do for a key already under the current secret."""
    old = api_key.token_hash
    if stored_key_rehash(api_key, token=token):
        api_keys_forget(token_hashes=[old, api_key.token_hash])


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, at most once a minute per key so that reads do not each cost a write."""
    if stored_key_touch(api_key):
        # Cached copies still hold the old stamp: the next request reads the row again (once a minute).
        api_keys_forget(token_hashes=[api_key.token_hash])


# --- Webhook endpoints ------------------------------------------------------------------------


def _validate_enabled_events(enabled_events: Sequence[str]) -> list[str]:
    if not enabled_events:
        raise InvalidRequestError("Name at least one event type, or '*' for all.", param="enabled_events")
    for event_type in enabled_events:
        if event_type != "*" and not is_merchant_visible(event_type):
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
    with service_atomic():
        endpoint = WebhookEndpoint(
            public_id=generate_public_id(WebhookEndpoint.PUBLIC_ID_PREFIX),
            merchant=merchant,
            livemode=livemode,
            url=url,
            description=description,
            enabled_events=events,
            secret=_random_token("whsec_"),
        )
        endpoint_enabled(endpoint)
        change_record(
            action="webhook_endpoint.created",
            instance=endpoint,
            merchant=merchant,
            livemode=livemode,
            data=webhook_endpoint_data(endpoint),
            new_rows=[endpoint],  # in the audit row's and event's statement: nothing reads its id first
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
        endpoints_forget(endpoint.merchant_id)
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
        endpoints_forget(endpoint.merchant_id)
        change_record(
            action="webhook_endpoint.deleted",
            instance=endpoint,
            before=before,
            data={**webhook_endpoint_data(endpoint), "deleted": True},
        )
    return endpoint


def api_key_roll(*, api_key: ApiKey, created_by: Any = None) -> CreatedApiKey:
    """Replace a key by a new one of the same kind, mode and name, revoking the old one in the same
    transaction: there is never a moment with neither, nor (after commit) with both."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().select_related("merchant").get(pk=api_key.pk)
        if locked.is_revoked:
            raise StateError("This key is already revoked: create a new one instead.", code="api_key_revoked")
        created = api_key_create(
            merchant=locked.merchant,
            kind=locked.kind,
            livemode=locked.livemode,
            name=locked.name,
            created_by=created_by,
        )
        api_key_revoke(api_key=locked)
    return created


def webhook_endpoint_secret_reveal(*, endpoint: WebhookEndpoint) -> str:
    """The endpoint's signing secret, for a team member who asked to see it: each reveal is audited."""
    audit_log_record(
        action="webhook_endpoint.secret_revealed",
        instance=endpoint,
        merchant=endpoint.merchant,
        after={"id": endpoint.public_id},
    )
    return endpoint.secret


# --- Branding -----------------------------------------------------------------------------------

HEX_COLOUR_LENGTH = 7


def _hex_colour(value: str, *, param: str) -> str:
    value = value.strip().lower()
    if len(value) != HEX_COLOUR_LENGTH or value[0] != "#" or any(c not in "0123456789abcdef" for c in value[1:]):
        raise InvalidRequestError("A colour is written #rrggbb.", code="colour_invalid", param=param)
    return value


LOGO_MAX_BYTES = 512 * 1024
# By content (bnpl.core.files). No SVG: it can carry script, and we keep no sanitiser for it.
LOGO_CONTENT_TYPES = ("image/png", "image/jpeg", "image/webp")


def branding_data(branding: Branding) -> dict[str, object]:
    return {
        "display_name": branding.display_name,
        "has_logo": bool(branding.logo),
        "primary_colour": branding.primary_colour,
        "accent_colour": branding.accent_colour,
    }


def branding_update(
    *,
    merchant: Merchant,
    display_name: str,
    primary_colour: str,
    accent_colour: str,
    logo: UploadedFile | None = None,
    remove_logo: bool = False,
) -> Branding:
    """Change how the hosted checkout presents the merchant. Logos: PNG, JPEG or WebP by content (the
    name and type the browser sent are ignored), at most 512 KB, stored with their type's extension."""
    primary = _hex_colour(primary_colour, param="primary_colour")
    accent = _hex_colour(accent_colour, param="accent_colour")
    logo_type = None
    if logo is not None:
        if not logo.size or logo.size > LOGO_MAX_BYTES:
            raise InvalidRequestError("A logo is at most 512 KB.", param="logo")
        logo_type = sniffed_content_type(logo, accepted=LOGO_CONTENT_TYPES)
        if logo_type is None:
            raise InvalidRequestError(
                "A logo is a PNG, JPEG or WebP image: this file's content is none of them, whatever its name says.",
                code="file_type_invalid",
                param="logo",
            )
    with transaction.atomic():
        Branding.objects.get_or_create(merchant=merchant)
        branding = Branding.objects.select_for_update().get(merchant=merchant)
        before = branding_data(branding)
        branding.display_name = display_name.strip()[:100]
        branding.primary_colour, branding.accent_colour = primary, accent
        if remove_logo:
            branding.logo = ""
        if logo is not None and logo_type is not None:
            branding.logo.save(f"{merchant.public_id}-logo{EXTENSIONS[logo_type]}", logo, save=False)
        branding.save()
        after = branding_data(branding)
        if after != before or logo is not None:
            change_record(action="branding.updated", instance=branding, merchant=merchant, before=before, data=after)
    return branding


# --- Team invitations ---------------------------------------------------------------------------

INVITATION_TTL = dt.timedelta(days=7)


@dataclass(frozen=True)
class CreatedInvitation:
    invitation: Invitation
    token: str  # in the link: shown to the inviter once, emailed, never stored


def _invitation_data(invitation: Invitation) -> dict[str, object]:
    return {
        "id": invitation.public_id,
        "email": invitation.email,
        "role": invitation.role,
        "expires_at": invitation.expires_at.isoformat(),
        "accepted": invitation.accepted_at is not None,
        "revoked": invitation.revoked_at is not None,
    }


def invitation_create(*, merchant: Merchant, email: str, role: str, invited_by: Any = None) -> CreatedInvitation:
    """Invite someone by email with a role. The link carries a token whose HMAC alone is kept."""
    if role not in Membership.Role.values:
        raise InvalidRequestError(f"Unknown role {role!r}.", param="role")
    email = email.strip().lower()
    if "@" not in email:
        raise InvalidRequestError("Enter an email address.", param="email")
    if Membership.objects.filter(merchant=merchant, user__email__iexact=email).exists():
        raise StateError(f"{email} is already on this merchant's team.", code="already_member", param="email")
    token = _random_token("inv_")
    with transaction.atomic():
        invitation = Invitation.objects.create(
            merchant=merchant,
            email=email,
            role=role,
            token_hash=api_key_hash(token),
            invited_by=invited_by,
            expires_at=clock.now() + INVITATION_TTL,
        )
        change_record(
            action="invitation.created", instance=invitation, merchant=merchant, data=_invitation_data(invitation)
        )
    return CreatedInvitation(invitation=invitation, token=token)


def dangerously_invitation_get_by_token(*, token: str) -> Invitation | None:
    """The invitation a link names, across merchants: the token is the credential."""
    return Invitation.objects.select_related("merchant").filter(token_hash__in=api_key_hashes(token)).first()


def invitation_accept(*, invitation: Invitation, user: Any) -> Membership:
    """The invited person (signed in with the invited email) joins the team with the invited role."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().select_related("merchant").get(pk=invitation.pk)
        if not invitation.is_open:
            raise StateError("This invitation has expired or was used or revoked.", code="invitation_closed")
        if user.email.lower() != invitation.email:
            raise StateError(
                f"This invitation is for {invitation.email}: sign in with that address.", code="invitation_other_email"
            )
        before = _invitation_data(invitation)
        invitation.accepted_at = clock.now()
        invitation.save(update_fields=["accepted_at"])
        membership = membership_create(merchant=invitation.merchant, user=user, role=invitation.role)
        change_record(
            action="invitation.accepted",
            instance=invitation,
            merchant=invitation.merchant,
            before=before,
            data=_invitation_data(invitation),
        )
    return membership


def invitation_accept_new_user(*, invitation: Invitation, password: str) -> Membership:
    """A person new to the platform accepts: their account (for the invited email, with a password
    that passes the password rules) and the membership are made together, or neither is."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError

    user_model = get_user_model()
    try:
        validate_password(password, user_model(email=invitation.email))
    except ValidationError as error:
        raise InvalidRequestError(" ".join(error.messages), param="password") from error
    with transaction.atomic():
        user = user_model.objects.create_user(invitation.email, password)  # type: ignore[attr-defined]
        return invitation_accept(invitation=invitation, user=user)


def invitation_revoke(*, invitation: Invitation) -> Invitation:
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().select_related("merchant").get(pk=invitation.pk)
        if invitation.accepted_at is not None or invitation.revoked_at is not None:
            return invitation
        before = _invitation_data(invitation)
        invitation.revoked_at = clock.now()
        invitation.save(update_fields=["revoked_at"])
        change_record(
            action="invitation.revoked",
            instance=invitation,
            merchant=invitation.merchant,
            before=before,
            data=_invitation_data(invitation),
        )
    return invitation
