"""Production settings: the default of every entry point (manage.py, WSGI, ASGI, Celery).

They fail closed. Sandbox features cannot be switched on here (the sandbox inbox of codes, clock
moves, webhooks to private addresses, the sandbox gateway and bureau for live money), and the
process refuses to start, naming every variable at fault, until the real parts and the secrets are
configured (bnpl/settings/requirements.py; `manage.py check --deploy` reports the same list).
The complete environment is in .env.example and docs/operations.md.
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import STORAGES, env
from .requirements import production_problems

DEBUG = False
BNPL_SANDBOX = False
WEBHOOK_ALLOW_PRIVATE_TARGETS = False
CELERY_TASK_ALWAYS_EAGER = False

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
# Static files with a content hash in their names, compressed, served far-future cached by WhiteNoise:
# `manage.py collectstatic` at every deploy writes them and their manifest to STATIC_ROOT.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}}

_problems = production_problems(lambda name: globals().get(name))
if _problems:
    raise ImproperlyConfigured(
        "The production settings refuse to start until these are fixed (see .env.example and "
        "docs/operations.md):\n  - " + "\n  - ".join(_problems)
    )
