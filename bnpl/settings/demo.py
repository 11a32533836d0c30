"""The demo's settings (``make demo``): the shared settings on their embedded parts, with the
sandbox switched on on purpose.

Sandbox features, here and in the tests only: the sandbox inbox shows every one-time code and
email (so anyone at the demo can sign in as any shopper), the clock can be moved, webhooks may go
to local receivers, and the sandbox gateway and bureau serve both modes. Production refuses every
one of them (``bnpl.settings.production``).
"""

from .base import *  # noqa: F403
from .base import env

BNPL_SANDBOX = True
# Off, as in production: shoppers and merchants at the demo see the product's own error pages, never
# Django's debug pages; static files come from WhiteNoise (scripts/serve_demo.sh collects them).
DEBUG = env.bool("DEBUG", default=False)
# A fixed key is fine for a demo on 127.0.0.1 and keeps sessions and encrypted values readable
# across restarts; production requires its own.
SECRET_KEY = env.str("SECRET_KEY", default="insecure-demo-key-change-me-" + "x" * 32)
ONE_TIME_CODE_SENDER = env.str("ONE_TIME_CODE_SENDER", default="bnpl.notifications.SandboxSender")
PUSH_SENDER = env.str("PUSH_SENDER", default="bnpl.notifications.SandboxPushSender")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
WEBHOOK_ALLOW_PRIVATE_TARGETS = True
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
# Live mode on the sandbox too (test mode is on it by default): the demo moves no real money in
# either mode. Production refuses the sandbox for live mode (bnpl.payments.checks.live_parts_problems).
PAYMENT_GATEWAY_LIVE = env.str("PAYMENT_GATEWAY_LIVE", default="bnpl.payments.gateways.SandboxGateway")
BUREAU_PROVIDER_LIVE = env.str("BUREAU_PROVIDER_LIVE", default="decisioning.bureau.SandboxBureau")
# django-axes warns that a per-process cache cannot share sign-in lockouts between processes: the
# demo serves from one web process; production requires Redis (bnpl/settings/requirements.py).
SILENCED_SYSTEM_CHECKS = ["axes.W001"]
# Human-readable log lines for a terminal (production writes JSON: LOG_FORMAT=json here for that).
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING["handlers"]["console"]["formatter"] = "plain" if LOG_FORMAT == "plain" else "json"
