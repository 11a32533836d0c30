"""A complete production environment (every variable the production settings require, with fresh
secrets) and a way to run ``manage.py`` under it, for the tests that show production fails closed.
The same variables make up the "Required in production" block of .env.example (a test keeps the
two in step)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent.parent
# Variables the test run itself may have set; each production run states its own instead.
PROJECT_VARIABLES = {
    "DATABASE_URL",
    "DJANGO_SETTINGS_MODULE",
    "CELERY_BROKER_URL",
    "CACHE_URL",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # the browser tests' setting for their own process, never a deployment's
    "LAKE_PSEUDONYM_KEY",
    "METRICS_TOKEN",
    "PROMETHEUS_MULTIPROC_DIR",
    "PYTEST_XDIST_WORKER",
}


def complete_production_env() -> dict[str, str]:
    return {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "pay.example.com",
        "PUBLIC_BASE_URL": "https://pay.example.com",
        "DATABASE_URL": "postgres://bnpl:password@db.internal:5432/bnpl",
        "CACHE_URL": "redis://cache.internal:6379/1",
        "CELERY_BROKER_URL": "redis://cache.internal:6379/0",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "API_KEY_HASH_SECRET": secrets.token_urlsafe(48),
        "ONE_TIME_CODE_HASH_SECRET": secrets.token_urlsafe(48),
        "CONSUMER_TOKEN_SECRET": secrets.token_urlsafe(48),
        "LAKE_PSEUDONYM_KEY": secrets.token_urlsafe(48),
        "METRICS_TOKEN": secrets.token_urlsafe(48),
        "ONE_TIME_CODE_SENDER": "bnpl.notifications.EmailAndSmsSender",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "smtp.example.com",
        "DEFAULT_FROM_EMAIL": "Pay Later <no-reply@pay.example.com>",
        "AWS_STORAGE_BUCKET_NAME": "bnpl-documents",
        "LAKE_S3_BUCKET": "bnpl-lake",
        "PAYMENT_GATEWAY_LIVE": "bnpl.payments.stripe_gateway.StripeGateway",
        "STRIPE_LIVE_SECRET_KEY": "sk_live_" + secrets.token_hex(12),
        "STRIPE_LIVE_PUBLISHABLE_KEY": "pk_live_" + secrets.token_hex(12),
        "STRIPE_LIVE_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "BUREAU_PROVIDER_LIVE": "decisioning.bureau.HttpBureau",
        "BUREAU_HTTP_URL": "https://bureau.example.com/v1/reports",
        "BUREAU_HTTP_API_KEY": secrets.token_urlsafe(32),
    }


def manage(
    *args: str, env: dict[str, str], settings_module: str | None = "bnpl.settings.production"
) -> subprocess.CompletedProcess[str]:
    """``manage.py *args`` in a fresh process with only ``env`` set of the project's variables
    (no DJANGO_SETTINGS_MODULE at all when ``settings_module`` is None: the entry point's default)."""
    base = {key: value for key, value in os.environ.items() if key not in PROJECT_VARIABLES}
    if settings_module is not None:
        base["DJANGO_SETTINGS_MODULE"] = settings_module
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
