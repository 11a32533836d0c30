"""Absolute links we hand out (emails, API responses, hosted checkout URLs): always on
``PUBLIC_BASE_URL``, never on the Host a request named. A Host header is the client's to choose (within
``ALLOWED_HOSTS``, and behind a proxy sometimes any): a link built from it could send an invitation or a
password-bearing token to a host an attacker controls."""

from __future__ import annotations

from django.conf import settings


def public_url(path: str) -> str:
    """``path`` (absolute, from ``reverse`` or a request's full path) on the public base URL."""
    if not path.startswith("/"):
        raise ValueError(f"not an absolute path: {path!r}")
    return settings.PUBLIC_BASE_URL.rstrip("/") + path
