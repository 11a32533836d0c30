"""Authentication backends of our own."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest

from bnpl.core import ratelimit
from bnpl.core.net import client_key


class TestClientLockoutBackend(AxesStandaloneBackend):
    """The test settings' lockout backend: django-axes as everywhere, except that an
    ``authenticate()`` without a request — only Django's test ``Client.login()`` does that here —
    is neither counted nor refused (django-axes itself would raise). Production refuses any first
    backend but django-axes' own (bnpl/settings/requirements.py), so this never serves a real
    sign-in; the lockout tests sign in through the pages, with a request."""

    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)  # type: ignore[no-any-return]


class SignInAddressLimitBackend:
    """Failed password sign-ins from one client address, whatever emails they tried: at most
    ``SIGN_IN_FAILURES_PER_ADDRESS_PER_HOUR``. django-axes locks one email from one address; this
    stops one address trying a common password against many emails (password spraying), and
    locks nobody out anywhere else. Second in ``AUTHENTICATION_BACKENDS``, after django-axes'.

    It only refuses (the lockout page, through django-axes' middleware) and never signs anyone in;
    failures are counted by ``count_failure`` (the ``user_login_failed`` signal), so a sign-in that
    succeeds costs nothing."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:  # only the test client's login() authenticates without a request
            return None
        limit = [address_failures(request)]
        verdict = ratelimit.take(limit)  # room for one more failure? (given back at once if so)
        if verdict.allowed:
            ratelimit.give_back(limit)
            return None
        request.axes_locked_out = True  # type: ignore[attr-defined]  # django-axes' middleware answers 429
        request.sign_in_retry_after = verdict.retry_after  # type: ignore[attr-defined]
        raise PermissionDenied  # no get_user(): it never signs anyone in, so no session names it


def address_failures(request: HttpRequest) -> ratelimit.Check:
    rate = ratelimit.Rate(
        name="sign_in_failures_address", limit=settings.SIGN_IN_FAILURES_PER_ADDRESS_PER_HOUR, window=3600
    )
    return ratelimit.check(rate, client_key(request))


@receiver(user_login_failed)
def count_failure(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    if request is not None:
        ratelimit.take([address_failures(request)])
