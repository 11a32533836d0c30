"""Authentication backends of our own."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


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
