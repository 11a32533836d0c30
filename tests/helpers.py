from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.apps import apps

# Tables that change as a side effect of merely being called (not writes a request makes).
IGNORED_MODELS = {"sessions.session", "merchants.apikey"}


def row_counts() -> dict[str, int]:
    """Rows in every table the project owns: compare before and after to prove nothing was written.
    (API keys are ignored because authentication stamps ``last_used_at``, which adds no row.) One
    statement counts every table: the bad-input tests call this around each request they send."""
    from django.db import connection

    models = [
        model for model in apps.get_models() if model._meta.label_lower not in IGNORED_MODELS and not model._meta.proxy
    ]
    counts = ", ".join(f"(SELECT COUNT(*) FROM {connection.ops.quote_name(model._meta.db_table)})" for model in models)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")  # table names from the models, quoted
        row = cursor.fetchone()
    return {model._meta.label_lower: count for model, count in zip(models, row, strict=True)}


def ledger_ok() -> bool:
    """``manage.py ledger_verify`` passes: every journal entry balances."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("ledger_verify", stdout=out)
    return "Ledger OK" in out.getvalue()


def pdf_text(content: bytes) -> str:
    """The text of a PDF as a reader extracts it (pypdf), pages joined by newlines."""
    from io import BytesIO

    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(BytesIO(content)).pages)


def verified_client(user: Any, *, client: Any = None) -> Any:
    """A browser signed in as ``user`` with both factors, as after the password and the code steps:
    the user gets a confirmed authenticator if they have none, and the session records it as
    passed. For every test that works in the admin (operators) or the dashboard as an owner (owners
    must have a second factor); the sign-in steps themselves are tested through the pages
    (tests/security/test_two_factor_sign_in.py)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = client or Client()
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="Authenticator app", confirmed=True
    )
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


def consumer_client(consumer: Any, *, client: Any = None) -> Any:
    """A browser signed in to the consumer portal and the hosted checkout as ``consumer``, as after
    the emailed code (the sign-in itself is tested through its pages)."""
    from django.test import Client

    from consumers.selectors import SESSION_KEY

    client = client or Client()
    session = client.session
    session[SESSION_KEY] = consumer.public_id
    session.save()
    return client


def compilations(monkeypatch: Any, compiler: Any) -> list[Any]:
    """From now on, each compiler of class ``compiler`` (one of Django's SQL compilers) that turns a
    query into SQL, in order: a statement compiled once per process compiles nothing on later calls."""
    compiled: list[Any] = []
    original = compiler.as_sql

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        compiled.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(compiler, "as_sql", counted)
    return compiled


def operator_client(user: Any = None, **flags: Any) -> Any:
    """The admin as an operator who passed the second factor: ``user`` (a superuser operator when
    None; ``flags`` override, e.g. ``is_superuser=False`` for one with given permissions only)."""
    from tests.bnpl.accounts.factories import make_user

    if user is None:
        user = make_user(email=flags.pop("email", None), **{"is_staff": True, "is_superuser": True, **flags})
    return verified_client(user)


def totp_code(key: Any) -> str:
    """The code an authenticator app shows now: for a device (``TOTPDevice``) or a key as printed
    (base32, spaces allowed)."""
    import base64

    from django_otp.oath import totp

    secret = key.bin_key if hasattr(key, "bin_key") else base64.b32decode(str(key).replace(" ", "").upper())
    return f"{totp(secret, step=30, t0=0, digits=6, drift=0):06d}"


def confirmed_post(client: Any, path: str, data: dict[str, Any] | None = None) -> Any:
    """A dashboard action that asks first (a key revoked or rolled, a member removed, an endpoint
    deleted, an order operation): the first POST must show the confirmation and change nothing,
    the second sends its one-use token. Returns the second answer."""
    asked = client.post(path, data or {})
    assert asked.status_code == 200, asked.content[:300]
    assert "confirmation" in asked.context, "no confirmation step"
    return client.post(path, {**(data or {}), "confirmation": asked.context["confirmation"]})


def wait_until(condition: Callable[[], object], *, timeout: float, every: float = 0.05) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds pass: how a test waits for another
    process (a worker, a server, a database coming back), never by sleeping a fixed time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return False


def collected_tests(*arguments: str) -> list[str]:
    """The test ids ``pytest --collect-only`` lists for ``arguments``, in the order they would run
    (a separate process, on the test settings): how the tests of the suite's own selection and
    ordering options see what those options do."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *arguments],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return [line for line in result.stdout.splitlines() if "::" in line]
