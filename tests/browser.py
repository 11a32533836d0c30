"""Headless Chromium for the browser tests: Debian's ``/usr/bin/chromium`` driven by Playwright
(its own browser download does not work here). Tests that need it skip, saying why, when it is
missing; ``.ci/run`` installs it. Screenshots go to ``var/screenshots/``."""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from importlib import import_module
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        reason = f"needs Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)"
        if os.environ.get("BROWSER_TESTS_REQUIRED"):
            pytest.fail(reason)
        pytest.skip(reason)
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make between
    # page steps are ordinary synchronous ones.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    yield _shared_browser()


_shared: list[Any] = []  # [playwright, browser] once started in this process


def _shared_browser() -> Any:
    """One Playwright and one Chromium per test process. Each test module imports the fixture, so
    pytest holds one session fixture per module; a second ``sync_playwright()`` started while the
    first is alive fails ("Sync API inside the asyncio loop"), so they all share this one, stopped
    when the process exits."""
    if not _shared:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        _shared.extend([playwright, launched])
        atexit.register(_stop_shared)
    return _shared[1]


def _stop_shared() -> None:
    playwright, launched = _shared
    launched.close()
    playwright.stop()


def signed_in_cookie(consumer_public_id: str, url: str) -> dict[str, str]:
    """A session cookie for a consumer who signed in with a one-time code (that flow has its own tests)."""
    from consumers.middleware import SESSION_KEY

    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = consumer_public_id
    store.save()
    return {"name": settings.SESSION_COOKIE_NAME, "value": store.session_key, "url": url}


def screenshot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
