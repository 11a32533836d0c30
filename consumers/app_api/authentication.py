"""``Authorization: Bearer <access token>`` on the consumer app API: the consumer and device the
token speaks for (``consumers.app_auth.app_principal``), checked against the database on every
request, so that a sign-out, a revoked device or a closed account takes effect at once."""

from __future__ import annotations

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from bnpl.core.context import Actor, actor_var
from bnpl.core.errors import AuthenticationError
from consumers.app_auth import AppPrincipal, app_principal


class ConsumerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[AppPrincipal, str]:
        header = request._request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise AuthenticationError(
                "No access token provided. Use 'Authorization: Bearer <access token>'.", code="token_missing"
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("Use 'Authorization: Bearer <access token>'.", code="authorization_malformed")
        principal = app_principal(access_token=token.strip())
        actor_var.set(
            Actor(
                kind="consumer",
                identifier=principal.consumer.public_id,
                label=f"Consumer app {principal.device.public_id}",
            )
        )
        return principal, principal.device.public_id

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="consumer-api"'
