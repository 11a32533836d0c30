"""Finding: the merchant dashboard's and the admin's password sign-in had no throttle or lockout.

Anyone could try passwords against a merchant owner's or an operator's email as fast as the server
answered. Now (django-axes, bnpl/settings/base.py "Staff and merchant sign-in") SIGN_IN_FAILURE_LIMIT
failures in a row for one email from one client address lock that pair out for
SIGN_IN_LOCKOUT_MINUTES: a 429 page with Retry-After, even for the right password. The client
address is read through TRUSTED_PROXY_COUNT (bnpl.core.net.client_ip), so a guesser cannot escape
by writing X-Forwarded-For; the real person at their own address is never locked out by a
stranger; a successful sign-in clears the count."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from bnpl.accounts.models import User
from tests.bnpl.accounts.factories import make_user
from tests.merchants.factories import make_member

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"
BALANCER = "10.0.0.5"
GUESSER = "203.0.113.66"
OWNER_AT_HOME = "198.51.100.20"
MERCHANT_LOGIN = "/merchant/login"
ADMIN_LOGIN = "/admin/login/"


@pytest.fixture(autouse=True)
def _behind_one_load_balancer(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1


def _sign_in(
    path: str,
    email: str,
    password: str,
    *,
    client_address: str = GUESSER,
    written_by_the_client: str | None = None,
    client: Client | None = None,
    **extra: str,
) -> Any:
    """A sign-in as the load balancer hands it on: from its own address, with the client's address
    appended to whatever X-Forwarded-For the client sent."""
    forwarded = f"{written_by_the_client}, {client_address}" if written_by_the_client else client_address
    return (client or Client()).post(
        path,
        {"username": email, "password": password, **extra},
        REMOTE_ADDR=BALANCER,
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.fixture
def owner(tenant: Any) -> User:
    """An owner without an authenticator: with the requirement off here, the password step alone
    signs them in (the code step is tested in test_two_factor_sign_in.py)."""
    return make_member(merchant=tenant.merchant)


@pytest.fixture(autouse=True)
def _password_step_only(settings: Any) -> None:
    settings.MERCHANT_OWNER_TWO_FACTOR_REQUIRED = False
    settings.OPERATOR_TWO_FACTOR_REQUIRED = False


def _signed_in(response: Any) -> bool:
    return response.status_code == 302 and "_auth_user_id" in response.wsgi_request.session


def test_guessing_a_merchant_owners_password_locks_the_guesser_out_even_with_the_right_password(owner: User) -> None:
    attempts = [_sign_in(MERCHANT_LOGIN, owner.email, f"guess-{index}") for index in range(5)]
    right_password = _sign_in(MERCHANT_LOGIN, owner.email, PASSWORD)

    assert [response.status_code for response in attempts] == [200, 200, 200, 200, 429]
    assert right_password.status_code == 429
    assert not _signed_in(right_password)
    assert "Too many sign-in attempts" in right_password.content.decode()
    assert right_password["Retry-After"] == "900"
    assert right_password["Cache-Control"] == "no-store"


def test_guessing_an_operators_password_in_the_admin_locks_the_guesser_out(db: None) -> None:
    operator = make_user(email="ops@lender.example", password=PASSWORD, is_staff=True, is_superuser=True)

    attempts = [_sign_in(ADMIN_LOGIN, operator.email, f"guess-{index}") for index in range(5)]
    right_password = _sign_in(ADMIN_LOGIN, operator.email, PASSWORD)

    assert [response.status_code for response in attempts] == [200, 200, 200, 200, 429]
    assert right_password.status_code == 429
    assert not _signed_in(right_password)
    assert "Too many sign-in attempts" in right_password.content.decode()


def test_writing_x_forwarded_for_does_not_escape_the_lockout(owner: User) -> None:
    attempts = [
        _sign_in(MERCHANT_LOGIN, owner.email, f"guess-{index}", written_by_the_client=f"192.0.2.{index}")
        for index in range(8)
    ]

    assert [response.status_code for response in attempts] == [200] * 4 + [429] * 4


def test_case_variants_of_the_email_share_one_count(owner: User) -> None:
    variants = [owner.email, owner.email.upper(), owner.email.title(), f" {owner.email} ", owner.email.capitalize()]

    attempts = [_sign_in(MERCHANT_LOGIN, variant, "guess") for variant in variants]

    assert attempts[-1].status_code == 429


def test_the_real_owner_at_their_own_address_still_signs_in(owner: User) -> None:
    for index in range(6):
        _sign_in(MERCHANT_LOGIN, owner.email, f"guess-{index}")

    at_home = _sign_in(MERCHANT_LOGIN, owner.email, PASSWORD, client_address=OWNER_AT_HOME)

    assert at_home.status_code == 302 and at_home["Location"] == "/merchant/"
    assert _signed_in(at_home)


def test_another_account_from_the_guessers_address_is_not_locked(owner: User, tenant: Any) -> None:
    colleague = make_member(merchant=tenant.merchant, role="admin")
    for index in range(6):
        _sign_in(MERCHANT_LOGIN, owner.email, f"guess-{index}")

    colleague_signs_in = _sign_in(MERCHANT_LOGIN, colleague.email, PASSWORD)

    assert colleague_signs_in.status_code == 302 and _signed_in(colleague_signs_in)


def test_a_successful_sign_in_clears_the_count(owner: User) -> None:
    for index in range(4):
        assert _sign_in(MERCHANT_LOGIN, owner.email, f"guess-{index}").status_code == 200
    assert _signed_in(_sign_in(MERCHANT_LOGIN, owner.email, PASSWORD))

    after = [_sign_in(MERCHANT_LOGIN, owner.email, f"typo-{index}").status_code for index in range(4)]
    still_signs_in = _sign_in(MERCHANT_LOGIN, owner.email, PASSWORD)

    assert after == [200] * 4
    assert _signed_in(still_signs_in)


def test_the_limit_and_the_wait_are_the_settings(owner: User, settings: Any) -> None:
    # as bnpl/settings/base.py derives them from SIGN_IN_FAILURE_LIMIT=3 and SIGN_IN_LOCKOUT_MINUTES=2
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = dt.timedelta(minutes=2)

    attempts = [_sign_in(MERCHANT_LOGIN, owner.email, f"guess-{index}").status_code for index in range(3)]
    locked = _sign_in(MERCHANT_LOGIN, owner.email, PASSWORD)

    assert attempts == [200, 200, 429]
    assert locked.status_code == 429 and locked["Retry-After"] == "120"


def test_a_locked_out_sign_in_writes_nothing(owner: User) -> None:
    from tests.helpers import row_counts

    for index in range(5):
        _sign_in(MERCHANT_LOGIN, owner.email, f"guess-{index}")
    before = row_counts()

    _sign_in(MERCHANT_LOGIN, owner.email, PASSWORD)

    assert row_counts() == before


def test_the_test_clients_login_is_neither_counted_nor_refused(owner: User) -> None:
    """The test settings' backend lets Django's ``Client.login()`` (no request, so no address)
    through; production refuses that backend (test_production_fails_closed.py)."""
    for index in range(5):
        _sign_in(MERCHANT_LOGIN, owner.email, f"guess-{index}")

    assert Client().login(username=owner.email, password=PASSWORD)
    assert not Client().login(username=owner.email, password="wrong")
    assert _sign_in(MERCHANT_LOGIN, owner.email, PASSWORD).status_code == 429


def test_one_address_spraying_a_password_across_many_emails_is_stopped_without_locking_anyone_else(
    owner: User, settings: Any
) -> None:
    """Per (email, address) alone, one address could try a common password against every email
    once each. SIGN_IN_FAILURES_PER_ADDRESS_PER_HOUR failures from one address, any emails, stop
    that address (the right password included); the owner elsewhere signs in as usual."""
    settings.SIGN_IN_FAILURES_PER_ADDRESS_PER_HOUR = 4
    sprayed = [_sign_in(MERCHANT_LOGIN, f"someone-{index}@example.com", "Summer2026!") for index in range(4)]
    after = _sign_in(MERCHANT_LOGIN, owner.email, PASSWORD)
    admin_after = _sign_in(ADMIN_LOGIN, owner.email, PASSWORD)

    assert [response.status_code for response in sprayed] == [200, 200, 200, 200]
    assert (after.status_code, admin_after.status_code) == (429, 429)
    assert int(after["Retry-After"]) <= 3600
    assert "whichever accounts they tried" in after.content.decode()
    assert _signed_in(_sign_in(MERCHANT_LOGIN, owner.email, PASSWORD, client_address=OWNER_AT_HOME))


def test_successful_sign_ins_never_count_against_the_address(owner: User, settings: Any) -> None:
    settings.SIGN_IN_FAILURES_PER_ADDRESS_PER_HOUR = 2
    for _ in range(5):  # an office signing in all day from one address
        assert _signed_in(_sign_in(MERCHANT_LOGIN, owner.email, PASSWORD, client_address=OWNER_AT_HOME))
