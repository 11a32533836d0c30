"""Production settings: the base settings hardened; ``manage.py check --deploy`` passes clean.

Required: SECRET_KEY (50+ random characters), ALLOWED_HOSTS, DATABASE_URL, CELERY_BROKER_URL,
CACHE_URL, LAKE_PSEUDONYM_KEY. See docs/operations.md.
"""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
BNPL_SANDBOX = env.bool("BNPL_SANDBOX", default=False)
SECRET_KEY = env.str("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# The lake's pseudonym key must be its own secret in production (not derived from SECRET_KEY).
LAKE_PSEUDONYM_KEY = env.str("LAKE_PSEUDONYM_KEY")

WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
CREDIT_MODEL_REQUIRED = env.bool("CREDIT_MODEL_REQUIRED", default=True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
