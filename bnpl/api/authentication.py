"""API-key authentication: ``Authorization: Bearer sk_test_…`` resolves the merchant once.

The key and its merchant come through ``bnpl.tenancy.keys.dangerously_api_key_get_for_request``:
cached across requests, and forgotten by every change to either, so that a revoked key or a
suspended merchant is refused within a second on every process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from django.conf import settings
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from bnpl.core import ratelimit
from bnpl.core.context import Actor, actor_var, merchant_known
from bnpl.core.errors import AuthenticationError, PermissionDeniedError, RateLimitError
from bnpl.core.net import client_key
from bnpl.tenancy.keys import dangerously_api_key_get_for_request
from merchants.models import ApiKey, Merchant
from merchants.services import api_key_rehash, api_key_touch


@dataclass(frozen=True)
class MerchantPrincipal:
    """``request.user`` on the partner API: the merchant and the mode the key works in."""

    merchant: Merchant
    api_key: ApiKey
    livemode: bool

    is_authenticated = True


def bearer_token(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if not header:
        return None
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Use 'Authorization: Bearer <secret key>'.", code="authorization_malformed")
    return token.strip()


def _invalid_key_rate() -> ratelimit.Rate:
    return ratelimit.Rate(
        name="invalid_api_key", limit=settings.API_AUTH_FAILURES_PER_MINUTE, window=60, advertised=True
    )


def refuse_invalid_key(request: HttpRequest) -> NoReturn:
    """Count one failed lookup for the client address and refuse the request: 401, or 429 once the
    address is past API_AUTH_FAILURES_PER_MINUTE. Only requests whose key fails come here, so a
    valid key is never held back by failures counted for its address (behind a load balancer,
    every merchant's); the address is read through the trusted proxies, so a guesser cannot write
    itself a fresh one in X-Forwarded-For."""
    verdict = ratelimit.take([ratelimit.check(_invalid_key_rate(), client_key(request))])
    if not verdict.allowed:
        raise RateLimitError(
            f"Too many requests with invalid API keys from this address. Retry in {verdict.retry_after} s.",
            retry_after=verdict.retry_after,
        )
    raise AuthenticationError("Invalid API key.")


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[MerchantPrincipal, ApiKey] | None:
        token = bearer_token(request._request)
        if token is None:
            raise AuthenticationError(
                "No API key provided. Use 'Authorization: Bearer <secret key>'.", code="api_key_missing"
            )
        api_key = dangerously_api_key_get_for_request(token=token) if len(token) <= 200 else None
        if api_key is None:
            refuse_invalid_key(request._request)
        if api_key.is_revoked:
            raise AuthenticationError("This API key was revoked.", code="api_key_revoked")
        merchant = api_key.merchant
        if merchant.status == Merchant.Status.SUSPENDED:
            raise PermissionDeniedError("This merchant account is suspended.", code="merchant_suspended")
        if api_key.livemode and not merchant.is_active:
            raise PermissionDeniedError("Live mode opens once the merchant is approved.", code="merchant_not_approved")
        api_key_rehash(api_key=api_key, token=token)
        api_key_touch(api_key=api_key)
        actor_var.set(
            Actor(kind="api_key", identifier=api_key.public_id, label=f"{merchant.name} {api_key.token_hint}")
        )
        merchant_known(merchant.public_id, api_key.livemode)
        return MerchantPrincipal(merchant=merchant, api_key=api_key, livemode=api_key.livemode), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
