"""Finding: every secret hung off SECRET_KEY.

Personal-data encryption, the API-key HMAC and the one-time-code HMAC were all derived from (or
defaulted to) SECRET_KEY, so rotating it after a leak would have made personal data unreadable,
revoked every merchant's API keys and broken codes in flight. Each now has its own secret with
its own rotation (bnpl/core/keys.py; docs/operations.md), and production refuses to share one.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Iterator
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from bnpl.core import crypto
from consumers.models import Identity
from consumers.services import Requester, one_time_code_request, one_time_code_verify
from merchants.models import ApiKey
from tests.conftest import ApiClient
from tests.consumers.factories import make_consumer
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

OLD_ENCRYPTION_KEY = Fernet.generate_key().decode()
SHOPPER = Requester(session_token="the-shoppers-browser-session", address="198.51.100.7")


@pytest.fixture(autouse=True)
def own_secrets(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """A production-shaped configuration: each purpose with its own secret."""
    settings.SECRET_KEY = secrets.token_urlsafe(64)
    settings.FIELD_ENCRYPTION_KEYS = [OLD_ENCRYPTION_KEY]
    settings.API_KEY_HASH_SECRET = secrets.token_urlsafe(48)
    settings.ONE_TIME_CODE_HASH_SECRET = secrets.token_urlsafe(48)
    crypto.forget_keys()
    yield
    crypto.forget_keys()


def _identity() -> Identity:
    return Identity.objects.create(
        consumer=make_consumer(),
        legal_name="Ada Lovelace",
        date_of_birth=dt.date(1990, 12, 10),
        address_line1="1 Main St",
        city="Springfield",
        postal_code="12345",
        country="US",
        national_id_last4="6789",
    )


def _stored(identity: Identity) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT national_id_last4 FROM consumers_identity WHERE id = %s", [identity.pk])
        return str(cursor.fetchone()[0])


def _code_from_inbox(address: str) -> str:
    from consumers.models import SandboxMessage

    body = SandboxMessage.objects.filter(destination=address).latest("created_at").body
    return next(word for word in body.replace(".", " ").split() if word.isdigit() and len(word) == 6)


def test_rotating_the_secret_key_leaves_personal_data_api_keys_and_codes_in_flight_working(
    settings, tenant: Tenant, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    identity = _identity()
    with django_capture_on_commit_callbacks(execute=True):
        one_time_code_request(identifier="ada@example.com", requester=SHOPPER)
    code = _code_from_inbox("ada@example.com")

    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = secrets.token_urlsafe(64)
    crypto.forget_keys()

    assert Identity.objects.get(pk=identity.pk).national_id_last4 == "6789"
    assert ApiClient(tenant.test_key).get("/api/v1/account").status_code == 200
    assert one_time_code_verify(identifier="ada@example.com", code=code, requester=SHOPPER).email == "ada@example.com"


def test_an_api_key_survives_a_rotation_of_its_hash_secret_and_moves_to_the_new_one(settings, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    before = ApiKey.objects.get(token_hint__startswith="sk_test_", merchant=tenant.merchant)
    old_secret = settings.API_KEY_HASH_SECRET
    settings.API_KEY_HASH_SECRET = secrets.token_urlsafe(48)
    settings.API_KEY_HASH_SECRET_FALLBACKS = [old_secret]

    assert ApiClient(tenant.test_key).get("/api/v1/account").status_code == 200

    after = ApiKey.objects.get(pk=before.pk)
    assert after.token_hash != before.token_hash
    settings.API_KEY_HASH_SECRET_FALLBACKS = []  # the old secret retired: the key still works
    assert ApiClient(tenant.test_key).get("/api/v1/account").status_code == 200
    status = StringIO()
    call_command("api_key_hash_status", stdout=status)
    assert "current" in status.getvalue()


def test_without_the_fallback_a_rotated_hash_secret_refuses_keys_it_never_saw(settings, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    settings.API_KEY_HASH_SECRET = secrets.token_urlsafe(48)

    assert ApiClient(tenant.test_key).get("/api/v1/account").status_code == 401


def test_encryption_keys_rotate_without_losing_data(settings) -> None:  # type: ignore[no-untyped-def]
    identity = _identity()
    before = _stored(identity)
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, OLD_ENCRYPTION_KEY]
    crypto.forget_keys()

    assert Identity.objects.get(pk=identity.pk).national_id_last4 == "6789"  # read with the old key
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "Re-encrypted" in out.getvalue()
    assert _stored(identity) != before

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key dropped
    crypto.forget_keys()
    assert Identity.objects.get(pk=identity.pk).national_id_last4 == "6789"
    assert Fernet(new_key.encode()).decrypt(_stored(identity).encode()) == b"6789"
