"""What production requires of the settings, as one list of problems.

Used twice, so the two can never disagree: ``bnpl.settings.production`` refuses to start while any
problem remains (one ImproperlyConfigured naming every variable at fault, not just the first), and
``manage.py check --deploy`` reports each as an error for whatever settings module it runs under
(``bnpl.core.checks``), which catches a settings module built on production that switches a
sandbox feature back on.

Each problem starts with the environment variable (or setting) that fixes it. Pure: it reads
values through ``get`` and imports nothing from Django's configured settings.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any

MIN_SECRET_LENGTH = 32
MIN_SECRET_KEY_LENGTH = 50
DEMO_SECRET_PREFIXES = ("insecure-", "django-insecure")
SANDBOX_SENDERS = {"bnpl.notifications.SandboxSender"}
# Email backends that never deliver: they print, keep in memory, write files or drop.
NON_DELIVERING_EMAIL_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
}
REAL_BROKER_SCHEMES = ("redis://", "rediss://", "amqp://", "amqps://", "pyamqp://", "sqs://")
LOCKOUT_BACKEND = "axes.backends.AxesStandaloneBackend"
ADDRESS_LIMIT_BACKEND = "bnpl.accounts.backends.SignInAddressLimitBackend"
REQUIRED_SIGN_IN_MIDDLEWARE = ("django_otp.middleware.OTPMiddleware", "axes.middleware.AxesMiddleware")
MAX_SIGN_IN_FAILURE_LIMIT = 20
# The purposes whose secrets must all differ (bnpl/core/keys.py).
SEPARATE_SECRETS = (
    "SECRET_KEY",
    "API_KEY_HASH_SECRET",
    "ONE_TIME_CODE_HASH_SECRET",
    "CONSUMER_TOKEN_SECRET",
    "LAKE_PSEUDONYM_KEY",
)


def _is_fernet_key(value: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(value.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def _secret_problems(get: Callable[[str], Any]) -> list[str]:
    problems = []
    secret_key = str(get("SECRET_KEY") or "")
    if not secret_key:
        problems.append("SECRET_KEY: required (50 or more random characters).")
    elif (
        len(secret_key) < MIN_SECRET_KEY_LENGTH
        or len(set(secret_key)) < 5
        or secret_key.startswith(DEMO_SECRET_PREFIXES)
    ):
        problems.append("SECRET_KEY: too short, too simple or the demo's key: use 50 or more random characters.")
    for name, what in (
        ("API_KEY_HASH_SECRET", "the HMAC secret API keys are stored under"),
        ("ONE_TIME_CODE_HASH_SECRET", "the HMAC secret one-time codes are stored under"),
        ("CONSUMER_TOKEN_SECRET", "the HMAC secret the consumer app's tokens are signed with"),
        ("LAKE_PSEUDONYM_KEY", "the HMAC key of consumer pseudonyms in the data lake"),
        ("METRICS_TOKEN", "the bearer token Prometheus scrapes /metrics with"),
    ):
        value = str(get(name) or "")
        if len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{name}: required, {MIN_SECRET_LENGTH} or more random characters ({what}).")
    keys = [str(key).strip() for key in get("FIELD_ENCRYPTION_KEYS") or [] if str(key).strip()]
    if not keys:
        problems.append(
            "FIELD_ENCRYPTION_KEYS: required, one or more Fernet keys, newest first (personal data at rest)."
        )
    elif not all(_is_fernet_key(key) for key in keys):
        problems.append("FIELD_ENCRYPTION_KEYS: each key must be a Fernet key (32 url-safe base64-encoded bytes).")
    values = [(name, str(get(name) or "")) for name in SEPARATE_SECRETS] + [
        ("FIELD_ENCRYPTION_KEYS", key) for key in keys
    ]
    seen: dict[str, str] = {}
    for name, value in values:
        if value and value in seen and seen[value] != name:
            problems.append(f"{name}: must not be the same secret as {seen[value]} (one secret per purpose).")
        seen.setdefault(value, name)
    return problems


def _part_problems(get: Callable[[str], Any]) -> list[str]:
    problems = []
    database = (get("DATABASES") or {}).get("default", {})
    if "postgresql" not in str(database.get("ENGINE", "")):
        problems.append("DATABASE_URL: required, a PostgreSQL URL (postgres://…); SQLite is for the demo only.")
    replica = (get("DATABASES") or {}).get("replica")
    if replica is not None and "postgresql" not in str(replica.get("ENGINE", "")):
        problems.append("REPLICA_DATABASE_URL: a PostgreSQL streaming replica's URL (postgres://…), or unset.")
    max_lag = get("REPLICA_MAX_LAG_SECONDS")
    if not isinstance(max_lag, int | float) or isinstance(max_lag, bool) or not max_lag >= 0:
        problems.append("REPLICA_MAX_LAG_SECONDS: seconds, 0 or more (a replica further behind is not read).")
    cache = (get("CACHES") or {}).get("default", {})
    if not str(cache.get("BACKEND", "")).endswith("RedisCache"):
        problems.append(
            "CACHE_URL: required, a Redis URL (redis://…): rate limits and lockouts must be shared by every process."
        )
    broker = str(get("CELERY_BROKER_URL") or "")
    if not broker.startswith(REAL_BROKER_SCHEMES):
        problems.append(
            "CELERY_BROKER_URL: required, a Redis or RabbitMQ URL; the filesystem and memory brokers are for the demo."
        )
    if get("CELERY_TASK_ALWAYS_EAGER"):
        problems.append("CELERY_TASK_ALWAYS_EAGER: must be false (tasks run in the request otherwise).")
    public = str(get("PUBLIC_BASE_URL") or "")
    if not public.startswith("https://") or "127.0.0.1" in public or "localhost" in public:
        problems.append(
            "PUBLIC_BASE_URL: required, the platform's public https:// address (links in emails and pages)."
        )
    if str(get("ONE_TIME_CODE_SENDER") or "") in SANDBOX_SENDERS:
        problems.append(
            "ONE_TIME_CODE_SENDER: the sandbox sender publishes every code in the sandbox inbox; use a real sender."
        )
    if str(get("PUSH_SENDER") or "") == "bnpl.notifications.SandboxPushSender":
        problems.append("PUSH_SENDER: the sandbox sender publishes push notifications in the sandbox inbox.")
    if str(get("EMAIL_BACKEND") or "") in NON_DELIVERING_EMAIL_BACKENDS:
        problems.append("EMAIL_BACKEND: must deliver (SMTP or a provider's backend), not print or keep mail.")
    if "localhost" in str(get("DEFAULT_FROM_EMAIL") or ""):
        problems.append("DEFAULT_FROM_EMAIL: required, an address on the platform's own mail domain.")
    # Which classes serve live mode, and their credentials, are checked once the apps are loaded
    # (bnpl.payments.checks.live_parts_problems, at start-up and by check --deploy); here, that
    # they are named at all.
    if not get("PAYMENT_GATEWAY_LIVE"):
        problems.append("PAYMENT_GATEWAY_LIVE: required, the gateway of live money (Stripe, with STRIPE_LIVE_*).")
    if not get("BUREAU_PROVIDER_LIVE"):
        problems.append(
            "BUREAU_PROVIDER_LIVE: required, the bureau of live decisions (HttpBureau, with BUREAU_HTTP_*)."
        )
    for name, what in (
        ("AWS_STORAGE_BUCKET_NAME", "merchants' documents and logos"),
        ("LAKE_S3_BUCKET", "the data lake"),
    ):
        if not get(name):
            problems.append(f"{name}: required, an S3 bucket for {what} (a container's disk does not last).")
    return problems


def _sandbox_problems(get: Callable[[str], Any]) -> list[str]:
    problems = []
    if get("DEBUG"):
        problems.append("DEBUG: must be false in production.")
    if get("BNPL_SANDBOX"):
        problems.append("BNPL_SANDBOX: the sandbox (inbox of codes, clock moves) cannot be on in production.")
    if get("WEBHOOK_ALLOW_PRIVATE_TARGETS"):
        problems.append(
            "WEBHOOK_ALLOW_PRIVATE_TARGETS: webhooks to private addresses (SSRF) cannot be allowed in production."
        )
    if "*" in (get("ALLOWED_HOSTS") or []) or not get("ALLOWED_HOSTS"):
        problems.append("ALLOWED_HOSTS: required, the platform's host names (never '*').")
    return problems


# Limits against abuse (docs/security.md): each a count that must be positive, or it turns the limit
# off or refuses everyone.
POSITIVE_LIMITS = (
    "API_AUTH_FAILURES_PER_MINUTE",
    "ONE_TIME_CODE_MAX_PER_HOUR",
    "ONE_TIME_CODE_MAX_PER_DESTINATION_PER_HOUR",
    "ONE_TIME_CODE_MAX_PER_ADDRESS_PER_HOUR",
    "ONE_TIME_CODE_VERIFY_PER_ADDRESS_PER_HOUR",
    "ONE_TIME_CODE_GLOBAL_PER_MINUTE",
    "ONE_TIME_CODE_FAILED_VERIFY_PER_CLIENT_PER_DAY",
    "ONE_TIME_CODE_FAILED_VERIFY_PER_DAY",
    "DISPUTE_MAX_PER_ORDER",
    "DISPUTE_MAX_PER_CONSUMER",
    "DISPUTE_CONSUMER_WINDOW_DAYS",
    "SIGN_IN_FAILURES_PER_ADDRESS_PER_HOUR",
)


def _limit_problems(get: Callable[[str], Any]) -> list[str]:
    problems = []
    for name in POSITIVE_LIMITS:
        value = get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            problems.append(f"{name}: must be a positive whole number (0 or less turns the limit off).")
    interval = get("ONE_TIME_CODE_RESEND_INTERVAL")
    if not hasattr(interval, "total_seconds") or interval.total_seconds() <= 0:
        problems.append("ONE_TIME_CODE_RESEND_SECONDS: must be a positive number of seconds (0 turns the limit off).")
    for name in ("API_THROTTLE_RATE", "API_THROTTLE_BURST_RATE"):
        count, _, unit = str(get(name) or "").partition("/")  # as bnpl.core.ratelimit.Rate.parse reads it
        if not (count.strip().isdigit() and int(count) > 0 and unit.strip()[:1].lower() in ("s", "m", "h", "d")):
            problems.append(f"{name}: must be '<count>/<s|min|hour|day>' with a positive count, e.g. 100/s.")
    return problems


def _sign_in_problems(get: Callable[[str], Any]) -> list[str]:
    """Staff and merchant sign-in (docs/security.md): the lockout and the operators' second factor
    cannot be switched off, nor the lockout made toothless."""
    problems = []
    if get("OPERATOR_TWO_FACTOR_REQUIRED") is not True:
        problems.append(
            "OPERATOR_TWO_FACTOR_REQUIRED: must be true in production (operators pass a second factor "
            "before any admin page or the operators' API)."
        )
    backends = list(get("AUTHENTICATION_BACKENDS") or [])
    if not backends or backends[0] != LOCKOUT_BACKEND or get("AXES_ENABLED") is False:
        problems.append(
            f"AUTHENTICATION_BACKENDS: the first backend must be {LOCKOUT_BACKEND} (sign-in lockout), enabled."
        )
    if ADDRESS_LIMIT_BACKEND not in backends[:2]:
        problems.append(
            f"AUTHENTICATION_BACKENDS: {ADDRESS_LIMIT_BACKEND} must come second (failed sign-ins per address)."
        )
    middleware = list(get("MIDDLEWARE") or [])
    for required in REQUIRED_SIGN_IN_MIDDLEWARE:
        if required not in middleware:
            problems.append(f"MIDDLEWARE: must include {required} (staff and merchant sign-in).")
    limit = get("SIGN_IN_FAILURE_LIMIT")
    if not isinstance(limit, int) or not 1 <= limit <= MAX_SIGN_IN_FAILURE_LIMIT:
        problems.append(f"SIGN_IN_FAILURE_LIMIT: between 1 and {MAX_SIGN_IN_FAILURE_LIMIT} failed sign-ins.")
    minutes = get("SIGN_IN_LOCKOUT_MINUTES")
    if not isinstance(minutes, int) or minutes < 1:
        problems.append("SIGN_IN_LOCKOUT_MINUTES: at least 1 minute.")
    return problems


def production_problems(get: Callable[[str], Any]) -> list[str]:
    """Every reason these settings are not safe to run for real money, each naming its variable;
    empty when they are."""
    return [
        *_secret_problems(get),
        *_part_problems(get),
        *_sandbox_problems(get),
        *_limit_problems(get),
        *_sign_in_problems(get),
    ]
