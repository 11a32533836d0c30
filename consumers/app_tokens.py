"""The consumer app's JSON Web Tokens (RFC 7519), signed HS256 with ``CONSUMER_TOKEN_SECRET``.

PyJWT, not djangorestframework-simplejwt: simplejwt is built around Django users (``AUTH_USER_MODEL``:
its token claims, its blacklist app's foreign keys), while consumers are not Django users; and it
reads the machine's time, while our tokens must expire on the project clock (``bnpl.core.clock``),
which the sandbox and the tests move. Here the library only signs and checks signatures; issue time
and expiry are set and judged on the project clock, and the state that makes a token usable
(its device, its refresh-token family) lives in the database (``consumers.models``).

Two kinds, told apart by ``typ``: an access token (``CONSUMER_ACCESS_TOKEN_TTL``, 15 minutes)
authenticates API calls; a refresh token (``CONSUMER_REFRESH_TOKEN_TTL``, 30 days) is exchanged
once for a new pair. Both carry the consumer (``sub``), the device (``dev``) and the family
(``fam``); a refresh token's ``jti`` is the one its family expects next.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

import jwt
from django.conf import settings

from bnpl.core import clock
from bnpl.core.errors import AuthenticationError
from bnpl.core.keys import consumer_token_secrets, secret_fingerprint

ALGORITHM = "HS256"
ISSUER = "bnpl"
AUDIENCE = "bnpl-consumer-app"
MAX_TOKEN_LENGTH = 2000  # ours are about 400 characters; anything far longer is not ours


class TokenKind(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True)
class Claims:
    kind: TokenKind
    consumer: str  # con_…
    device: str  # dev_…
    family: str  # rtf_…
    token_id: str  # jti
    expires_at: dt.datetime


def token_lifetime(kind: TokenKind) -> dt.timedelta:
    ttl: dt.timedelta = (
        settings.CONSUMER_ACCESS_TOKEN_TTL if kind is TokenKind.ACCESS else settings.CONSUMER_REFRESH_TOKEN_TTL
    )
    return ttl


def token_encode(
    *, kind: TokenKind, consumer: str, device: str, family: str, token_id: str, now: dt.datetime
) -> tuple[str, dt.datetime]:
    """A signed token and when it expires (whole seconds, as JWTs count)."""
    issued = int(now.timestamp())
    expires = issued + int(token_lifetime(kind).total_seconds())
    secret = consumer_token_secrets()[0]
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "typ": kind.value,
        "sub": consumer,
        "dev": device,
        "fam": family,
        "jti": token_id,
        "iat": issued,
        "exp": expires,
    }
    token = jwt.encode(payload, secret, algorithm=ALGORITHM, headers={"kid": secret_fingerprint(secret)})
    return token, dt.datetime.fromtimestamp(expires, tz=dt.UTC)


def token_decode(token: str, *, kind: TokenKind, param: str | None = None) -> Claims:
    """The claims of a token of ``kind`` that we signed (under the current secret or a fallback) and
    that has not expired by the project clock; else an AuthenticationError saying which."""
    payload = _verified_payload(token, param=param)
    if payload.get("typ") != kind.value:
        raise AuthenticationError(f"This is not an {kind.value} token.", code="token_invalid", param=param)
    expires = payload["exp"]
    assert isinstance(expires, int)  # checked by _verified_payload
    if clock.now().timestamp() >= expires:
        what = "access token" if kind is TokenKind.ACCESS else "refresh token"
        raise AuthenticationError(
            f"This {what} has expired."
            + (" Use your refresh token for a new one." if kind is TokenKind.ACCESS else " Sign in again."),
            code="token_expired",
            param=param,
        )
    return Claims(
        kind=kind,
        consumer=str(payload["sub"]),
        device=str(payload["dev"]),
        family=str(payload["fam"]),
        token_id=str(payload["jti"]),
        expires_at=dt.datetime.fromtimestamp(expires, tz=dt.UTC),
    )


def _verified_payload(token: str, *, param: str | None) -> dict[str, object]:
    invalid = AuthenticationError("The token is not valid.", code="token_invalid", param=param)
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    for secret in consumer_token_secrets():
        try:
            payload: dict[str, object] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                # Expiry is judged on the project clock by the caller, not on the machine's.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["typ", "sub", "dev", "fam", "jti", "iat", "exp"],
                },
            )
        except jwt.InvalidSignatureError:
            continue  # signed under another of our secrets, perhaps
        except jwt.InvalidTokenError:
            raise invalid from None
        if not all(isinstance(payload[claim], str) for claim in ("typ", "sub", "dev", "fam", "jti")):
            raise invalid
        if not isinstance(payload["exp"], int):
            raise invalid
        return payload
    raise invalid
