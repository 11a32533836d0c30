"""The settings every environment shares, read from the environment in this one place.

Never an entry point of its own: ``bnpl.settings.production`` is the default of every entry point
(``manage.py``, WSGI, ASGI, Celery) and refuses to start without its real parts and secrets;
``bnpl.settings.demo`` (``make demo``) and ``bnpl.settings.test`` (``make test``) are chosen
explicitly and are the only ones that switch sandbox features on.

Every variable read here is listed in ``.env.example``. Where a default is an embedded part
(SQLite under ``var/``, the filesystem broker, a per-process cache), production refuses it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from kombu import Queue
from whitenoise.compress import Compressor

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# --- Core -------------------------------------------------------------------------------------
# Empty here: production requires it; the demo and the tests set a fixed one of their own.
SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# How many proxies (load balancer, CDN) stand in front of the web processes and append to
# X-Forwarded-For: the client address of every address-keyed limit is read through them
# (bnpl.core.net.client_ip). 0: the peer address is the client. Too high lets clients choose their
# own address; too low puts every client behind the load balancer's one address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# The public base URL used in links we hand out (hosted checkout URLs, printed demo URLs).
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
# Sandbox mode lets operators move the project clock and shows the sandbox inbox of one-time codes.
# Not read from the environment: only the demo and test settings turn it on; production cannot.
BNPL_SANDBOX = False

INSTALLED_APPS = [
    # Django's admin on the operators' site: a second factor before any page (bnpl.accounts.admin_site).
    "bnpl.accounts.admin_config.OperatorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "bnpl.core.staticfiles.StaticFilesConfig",  # Django's, without what is never served
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "storages",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "bnpl.core",
    "bnpl.accounts",
    "bnpl.api",
    "bnpl.ledger",
    "bnpl.plans",
    "bnpl.payments",
    "bnpl.checkout",
    "bnpl.collections",
    "bnpl.lake",
    "bnpl.notifications",
    "merchants",
    "consumers",
    "decisioning",
    "partners",
]

# Django's database sessions, their per-request read compiled once per process (bnpl.core.session_store).
SESSION_ENGINE = "bnpl.core.session_store"

MIDDLEWARE = [
    # Every answer carries a request id and is timed, by route and status class
    # (bnpl_http_request_duration_seconds); static files count as the route "static".
    "bnpl.core.middleware.RequestIdMiddleware",
    "bnpl.core.middleware.MetricsMiddleware",
    # /healthz as a load balancer asks it (its own address as Host, plain HTTP), before the host
    # check and the HTTPS redirect.
    "bnpl.core.middleware.LivenessMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files from STATIC_ROOT (collectstatic), before anything else does work for the request.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "bnpl.core.middleware.RateLimitHeadersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session passed the second factor (bnpl.accounts.two_factor).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "consumers.middleware.ConsumerSessionMiddleware",
    "bnpl.core.middleware.ActorMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the 429 page (SIGN_IN_* below).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "bnpl.urls"
# A refused form (an expired page, blocked cookies) gets the area's own page, not Django's.
CSRF_FAILURE_VIEW = "bnpl.core.views.csrf_failure"
WSGI_APPLICATION = "bnpl.wsgi.application"
ASGI_APPLICATION = "bnpl.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "bnpl.core.context_processors.sandbox",
            ],
        },
    },
]

# --- Data ------------------------------------------------------------------------------------
# SQLite under var/ unless DATABASE_URL names another database (PostgreSQL in CI and production).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'bnpl.sqlite3'}"),
}
# Persistent connections (checked before reuse): opening a PostgreSQL connection per request costs
# more than most requests do.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process and the Celery worker share the demo database;
    # transactions take the write lock when they begin (IMMEDIATE), so two that read and then write
    # wait their turn instead of one failing at once with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
# Behind a pooler in transaction mode (PgBouncer's pool_mode = transaction; docs/scaling.md) a server
# connection is this process's only for the length of a transaction: no server-side cursors (a named
# cursor would outlive it). Nothing else here keeps state on a connection between transactions.
DATABASE_TRANSACTION_POOLING = env.bool("DATABASE_TRANSACTION_POOLING", default=False)
if DATABASE_TRANSACTION_POOLING:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A PostgreSQL streaming replica for reporting reads (bnpl.core.replica, docs/scaling.md): off unless
# a URL is given. Only reads marked as reporting go there (dashboard figures and charts, CSV exports,
# the model-monitoring report, the lake's snapshots), and only while it answers within
# REPLICA_MAX_LAG_SECONDS of what it has received; a request that wrote reads its own writes.
REPLICA_DATABASE_URL = env.str("REPLICA_DATABASE_URL", default="")
if REPLICA_DATABASE_URL:
    DATABASES["replica"] = {
        **environ.Env.db_url_config(REPLICA_DATABASE_URL),
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "CONN_HEALTH_CHECKS": True,
        # Tests run against the test database through this alias instead of creating a second one.
        "TEST": {"MIRROR": "default"},
    }
    # A replica that does not answer costs a reporting page this long once per check, not a hang.
    DATABASES["replica"].setdefault("OPTIONS", {}).setdefault(
        "connect_timeout", env.int("REPLICA_CONNECT_TIMEOUT_SECONDS", default=2)
    )
REPLICA_MAX_LAG_SECONDS = env.float("REPLICA_MAX_LAG_SECONDS", default=30.0)
REPLICA_CHECK_SECONDS = env.float("REPLICA_CHECK_SECONDS", default=5.0)  # how long one lag check is trusted
DATABASE_ROUTERS = ["bnpl.core.replica.ReplicaRouter"]

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://bnpl")}
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
    # Django's backend with one Redis client per connection pool, not one per call (bnpl.core.cache).
    CACHES["default"]["BACKEND"] = "bnpl.core.cache.RedisCache"

AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out sign-in before any password is checked, and counts the
# failures the next backend reports (SIGN_IN_* below). Production refuses another first backend.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "bnpl.accounts.backends.SignInAddressLimitBackend",  # failed sign-ins per address, any email
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "merchants:login"
LOGIN_REDIRECT_URL = "merchants:dashboard"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic (the image's static stage) compresses what browsers fetch; source maps are fetched
# only by a developer's tools, and brotli over their 14 MB was most of the step's time.
WHITENOISE_SKIP_COMPRESS_EXTENSIONS = [*Compressor.SKIP_COMPRESS_EXTENSIONS, "map"]
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))
MEDIA_URL = "/media/"

# --- Storage (data lake, documents): a local folder by default, S3 when a bucket is named --------
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME", default="us-east-1")
AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID", default="") or None
AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY", default="") or None
STORAGES: dict[str, dict[str, Any]] = {
    "default": (
        {"BACKEND": "storages.backends.s3.S3Storage"}
        if AWS_STORAGE_BUCKET_NAME
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    # Merchants' onboarding documents and logos: private, served only through the dashboard's views.
    "merchant_files": (
        {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {"location": "merchant-files"}}
        if AWS_STORAGE_BUCKET_NAME
        else {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(VAR_DIR / "merchant-files")},
        }
    ),
}

# --- Data lake (bnpl.lake): Parquet exports of the outbox and the main tables --------------------
# A bucket on S3 or any S3-compatible store (endpoint URL) when LAKE_S3_BUCKET is set; a local folder
# otherwise. Credentials default to the AWS_* ones above (or boto3's own chain when those are empty).
LAKE_S3_BUCKET = env.str("LAKE_S3_BUCKET", default="")
LAKE_S3_PREFIX = env.str("LAKE_S3_PREFIX", default="")  # e.g. "lake/": every key starts with it
LAKE_S3_ENDPOINT_URL = env.str("LAKE_S3_ENDPOINT_URL", default="") or AWS_S3_ENDPOINT_URL
LAKE_S3_REGION_NAME = env.str("LAKE_S3_REGION_NAME", default="") or AWS_S3_REGION_NAME
LAKE_ROOT = env.path("LAKE_ROOT", default=str(VAR_DIR / "lake"))
STORAGES["lake"] = (
    {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": LAKE_S3_BUCKET,
            "location": LAKE_S3_PREFIX.strip("/"),
            "endpoint_url": LAKE_S3_ENDPOINT_URL,
            "region_name": LAKE_S3_REGION_NAME,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "file_overwrite": True,  # the same batch always writes the same key: overwrite, never rename
            "default_acl": None,
            "querystring_auth": False,
        },
    }
    if LAKE_S3_BUCKET
    else {"BACKEND": "bnpl.lake.storage.LakeFileSystemStorage", "OPTIONS": {"location": str(LAKE_ROOT)}}
)
# Consumers appear in the lake as HMAC-SHA256(LAKE_PSEUDONYM_KEY, consumer id): stable across exports,
# not reversible without the key. Required in production; derived from SECRET_KEY when empty here.
# Changing it changes every pseudonym (old and new exports no longer join).
LAKE_PSEUDONYM_KEY = env.str("LAKE_PSEUDONYM_KEY", default="")
# Rows per events / ledger-postings batch (one batch: a few files and one manifest).
LAKE_BATCH_ROWS = env.int("LAKE_BATCH_ROWS", default=200_000)
# Rows per Parquet row group (the most the exporter buffers), and rows fetched per query.
LAKE_ROW_GROUP_ROWS = env.int("LAKE_ROW_GROUP_ROWS", default=50_000)
LAKE_FETCH_ROWS = env.int("LAKE_FETCH_ROWS", default=5_000)
# How old an observation of the newest event id must be before the export trusts that no transaction
# still holds a lower id (PostgreSQL also checks the transactions themselves; see docs/data-lake.md).
LAKE_SETTLE_SECONDS = env.int("LAKE_SETTLE_SECONDS", default=2)
# How long an exporter holds a stream before another may take it over (renewed at every batch).
LAKE_LEASE_SECONDS = env.int("LAKE_LEASE_SECONDS", default=600)

# --- Event bus relay (bnpl.lake.eventbus): the outbox's events to Amazon EventBridge or Kinesis ----
# Off when empty; "eventbridge" puts to EVENT_BUS_NAME, "kinesis" to EVENT_BUS_STREAM_NAME (partition
# key: the object). Once per event and in order per object; docs/operations.md, "Event bus relay".
EVENT_BUS_RELAY = env.str("EVENT_BUS_RELAY", default="")
EVENT_BUS_NAME = env.str("EVENT_BUS_NAME", default="")
EVENT_BUS_STREAM_NAME = env.str("EVENT_BUS_STREAM_NAME", default="")
EVENT_BUS_SOURCE = env.str("EVENT_BUS_SOURCE", default="bnpl")  # EventBridge's "source" of every event
EVENT_BUS_ENDPOINT_URL = env.str("EVENT_BUS_ENDPOINT_URL", default="") or None  # a local stand-in (tests)
EVENT_BUS_REGION_NAME = env.str("EVENT_BUS_REGION_NAME", default="") or AWS_S3_REGION_NAME
EVENT_BUS_READ_EVENTS = env.int("EVENT_BUS_READ_EVENTS", default=1000)  # events read per query
EVENT_BUS_PUT_ATTEMPTS = env.int("EVENT_BUS_PUT_ATTEMPTS", default=4)  # tries of a chunk's refused entries

# --- Celery ----------------------------------------------------------------------------------
# The embedded default is kombu's filesystem transport: a real broker with no server to run, so the
# demo's worker and beat still do periodic work. CI and production point this at Redis or RabbitMQ.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(VAR_DIR / "broker" / "queue"),
        "data_folder_out": str(VAR_DIR / "broker" / "queue"),
        "processed_folder": str(VAR_DIR / "broker" / "processed"),
        "control_folder": str(VAR_DIR / "broker" / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {}
)
for _option in ("data_folder_in", "processed_folder", "control_folder"):
    if _option in CELERY_BROKER_TRANSPORT_OPTIONS:
        Path(str(CELERY_BROKER_TRANSPORT_OPTIONS[_option])).mkdir(parents=True, exist_ok=True)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup would close the database connections around every task (a new PostgreSQL
# backend per task); with this set it closes them only every that many tasks, and bnpl.core.connections
# applies CONN_MAX_AGE and the health check around each task, as Django does around each request.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# The workers log through LOGGING (JSON lines with the task's id and name), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "purge-expired-one-time-codes": {
        "task": "consumers.tasks.one_time_codes_purge",
        "schedule": timedelta(hours=1),
    },
    "expire-checkout-sessions": {
        "task": "bnpl.checkout.tasks.checkout_sessions_expire",
        "schedule": timedelta(minutes=5),
    },
    "give-back-orphaned-first-payments": {  # a confirm that died between its charge and its order
        "task": "bnpl.checkout.tasks.first_payments_orphaned_give_back",
        "schedule": timedelta(minutes=5),
    },
    "collect-due-installments": {
        "task": "bnpl.collections.tasks.collections_run",
        "schedule": timedelta(minutes=10),
    },
    "expire-bank-data-consents": {
        "task": "decisioning.tasks.bank_data_consents_expire",
        "schedule": timedelta(hours=1),
    },
    "settle-merchants": {
        "task": "merchants.tasks.settlements_run",
        "schedule": timedelta(hours=1),  # batches close at midnight UTC; later runs find nothing new
    },
    "notifications-sweep-outbox": {  # the outbox listener sends at once; this catches what it missed
        "task": "bnpl.notifications.tasks.notifications_sweep",
        "schedule": timedelta(minutes=5),
    },
    "remind-upcoming-payments": {
        "task": "bnpl.collections.tasks.reminders_send_upcoming",
        "schedule": timedelta(hours=1),
    },
    "assess-late-plans": {
        "task": "bnpl.collections.tasks.plans_assess_lateness",
        "schedule": timedelta(minutes=30),
    },
    "sweep-stuck-collections": {
        "task": "bnpl.collections.tasks.collections_sweep",
        "schedule": timedelta(minutes=5),
    },
    "apply-settled-plan-payments": {
        "task": "bnpl.checkout.tasks.plan_payments_apply_settled",
        "schedule": timedelta(minutes=5),
    },
    "settle-pending-charges": {
        "task": "bnpl.payments.tasks.charges_settle_pending",
        "schedule": timedelta(minutes=1),
    },
    "settle-consumer-balances": {  # failed refunds booked, balances applied to the next installments
        "task": "bnpl.checkout.tasks.balances_settle",
        "schedule": timedelta(minutes=5),
    },
    "escalate-unanswered-disputes": {
        "task": "bnpl.checkout.tasks.disputes_escalate_unanswered",
        "schedule": timedelta(hours=1),
    },
    "warn-and-expire-authorizations": {
        "task": "bnpl.checkout.tasks.orders_expire",
        "schedule": timedelta(minutes=5),  # reads of a merchant's orders also expire theirs first
    },
    "webhooks-send-due-deliveries": {
        "task": "merchants.tasks.webhook_deliveries_send",
        "schedule": timedelta(seconds=30),
    },
    "webhooks-sweep-outbox": {
        "task": "merchants.tasks.webhook_events_sweep",
        "schedule": timedelta(minutes=1),
    },
    "lake-export-events": {
        "task": "bnpl.lake.tasks.lake_export_events",
        "schedule": timedelta(minutes=1),
    },
    "lake-export-tables": {
        "task": "bnpl.lake.tasks.lake_export_tables",
        "schedule": timedelta(hours=1),  # one snapshot per hour; later runs in the hour find it done
    },
    "event-bus-relay": {  # does nothing while EVENT_BUS_RELAY is empty
        "task": "bnpl.lake.tasks.event_bus_relay",
        "schedule": timedelta(seconds=15),
    },
    "retention-sweep": {  # bnpl/retention.py; docs/operations.md, "Retention"
        "task": "bnpl.core.tasks.retention_sweep",
        "schedule": timedelta(hours=1),
    },
}

# Queues by urgency (docs/deploy.md): what a shopper or a merchant is waiting for (codes and
# notifications, webhooks, checkout expiry) never queues behind a collections batch, a lake export or
# a settlement run. Every task is routed (tests/bnpl/test_celery_queues.py walks the registry); what
# no route names goes to the default queue. A worker started without -Q consumes every queue declared
# here (the demo's, the load test's and the tests' workers); production runs one service per group.
CELERY_QUEUE_NAMES = ("urgent", "collections", "lake", "settlements", "default")
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = tuple(Queue(name, routing_key=name) for name in CELERY_QUEUE_NAMES)
_TASK_QUEUES = {
    "urgent": (
        "bnpl.notifications.tasks.notifications_send_for_events",
        "bnpl.notifications.tasks.notifications_sweep",
        "merchants.tasks.webhook_events_fan_out",
        "merchants.tasks.webhook_deliveries_send",
        "merchants.tasks.webhook_events_sweep",
        "bnpl.checkout.tasks.checkout_sessions_expire",
        "bnpl.checkout.tasks.orders_expire",
        "bnpl.checkout.tasks.disputes_escalate_unanswered",
        "bnpl.checkout.tasks.first_payments_orphaned_give_back",
    ),
    "collections": (
        "bnpl.collections.tasks.collections_run",
        "bnpl.collections.tasks.collections_sweep",
        "bnpl.collections.tasks.plans_assess_lateness",
        "bnpl.collections.tasks.reminders_send_upcoming",
        "bnpl.payments.tasks.charges_settle_pending",
        "bnpl.checkout.tasks.plan_payments_apply_settled",
        "bnpl.checkout.tasks.balances_settle",
    ),
    "lake": (
        "bnpl.lake.tasks.lake_export_events",
        "bnpl.lake.tasks.lake_export_tables",
        "bnpl.lake.tasks.event_bus_relay",
    ),
    "settlements": ("merchants.tasks.settlements_run",),
    "default": (
        "bnpl.core.tasks.idempotency_keys_purge",
        "bnpl.core.tasks.retention_sweep",
        "consumers.tasks.one_time_codes_purge",
        "decisioning.tasks.bank_data_consents_expire",
    ),
}
CELERY_TASK_ROUTES = {task: {"queue": queue} for queue, tasks in _TASK_QUEUES.items() for task in tasks}
# Beat runs as one process (docs/deploy.md); its production scheduler (celery-redbeat, chosen by
# scripts/entrypoint.sh) keeps the schedule in Redis and holds a lock there, renewed every tick, so a
# second beat started by mistake waits instead of sending every task twice.
# A beat killed without releasing the lock (SIGKILL, a lost host) is replaced within the lock's
# timeout plus one loop interval: the waiting beat retries every loop interval.
CELERY_REDBEAT_REDIS_URL = env.str("CELERY_REDBEAT_REDIS_URL", default=CELERY_BROKER_URL)
CELERY_REDBEAT_KEY_PREFIX = "bnpl:redbeat:"
CELERY_REDBEAT_LOCK_KEY = "bnpl:redbeat:lock"
CELERY_REDBEAT_LOCK_TIMEOUT = env.int("CELERY_REDBEAT_LOCK_TIMEOUT", default=60)  # seconds, > the loop interval
CELERY_BEAT_MAX_LOOP_INTERVAL = 10  # seconds: how often beat wakes (and renews its lock) at the least
# Warm shutdown on SIGTERM: the worker stops taking tasks and finishes those it runs (acks are late:
# a task killed before it finished goes back to the queue). The orchestrator's stop timeout must be
# longer than the longest task (ECS stopTimeout, compose stop_grace_period).

# --- Partner API -----------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["bnpl.api.parsers.SafeJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "bnpl.api.schema.PartnerAutoSchema",
    "EXCEPTION_HANDLER": "bnpl.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "BNPL partner API",
    "DESCRIPTION": (
        "Pay-later for merchants. Authenticate with `Authorization: Bearer sk_test_…`. Every POST needs "
        "an `Idempotency-Key` header. Amounts are integers in the currency's minor units."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # An endpoint or a shape is described by its own docstring only, never by its base's notes.
    "GET_LIB_DOC_EXCLUDES": "bnpl.api.schema.library_docstrings",
    # The consumer app's API and the data partners' have documents of their own (consumers.app_api.schema,
    # partners.schema).
    "PREPROCESSING_HOOKS": ["consumers.app_api.schema.partner_api_only", "partners.schema.without_partner_api"],
    "ENUM_NAME_OVERRIDES": {
        "MerchantStatusEnum": "merchants.models.Merchant.Status",
        "WebhookEndpointStatusEnum": "merchants.models.WebhookEndpoint.Status",
        "CheckoutSessionStatusEnum": "bnpl.checkout.models.CheckoutSession.Status",
        "OrderStatusEnum": "bnpl.checkout.models.Order.Status",
        "PlanStatusEnum": "bnpl.plans.models.Plan.Status",
        "InstallmentStatusEnum": "bnpl.plans.models.Installment.Status",
        "PlanStandingEnum": "bnpl.plans.models.Plan.Standing",
        "ProductKindEnum": "bnpl.plans.models.ProductKind",
        "SettlementStatusEnum": "merchants.models.Settlement.Status",
        "WebhookDeliveryStatusEnum": "merchants.models.WebhookDelivery.Status",
    },
}
# Request size limits (docs/api.md, "Limits"). The largest request body read into memory, in bytes
# (uploaded files aside): Django refuses a larger one before reading it, and the API answers 413
# `body_too_large` in its JSON error shape. Django's own default, stated here because the API
# documents it. (JSON-lines streams have their own limit, bnpl.api.parsers.JSONLinesParser.max_bytes;
# request-line and header limits are the web server's: gunicorn's limit_request_* settings.)
DATA_UPLOAD_MAX_MEMORY_SIZE = 2_621_440  # bytes (2.5 MiB)
# Idempotency keys are kept at least this long, then purged by a periodic task.
IDEMPOTENCY_KEY_TTL = timedelta(hours=env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24))
# An in-progress key older than this belongs to a request that died; a retry may take it over.
IDEMPOTENCY_LOCK_TIMEOUT = timedelta(seconds=env.int("IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", default=120))
# Retention (bnpl/retention.py, docs/operations.md): an outbox event is deleted this long after it
# was written, and only once the lake, the webhook fan-out, notifications and the event bus relay
# have all passed it and no webhook delivery refers to it. The lake keeps the long-term copy. The
# default is seven years (the audit log's legal retention, and the lake bucket's in deploy/aws):
# dashboards' order timelines and /v1/events read these rows, so an operator shortens it on purpose.
EVENT_RETENTION = timedelta(days=env.int("EVENT_RETENTION_DAYS", default=2557))
# The audit log is kept seven years (docs/operations.md, "Legal retention of the audit log"): a
# monthly partition goes once all of it is older (bnpl/core/partitions.py). Webhook delivery
# attempts go by month after 90 days, and a settled delivery once its attempts have gone.
AUDIT_LOG_RETENTION = timedelta(days=env.int("AUDIT_LOG_RETENTION_DAYS", default=2557))
WEBHOOK_DELIVERY_RETENTION = timedelta(days=env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=90))
# Monthly partitions kept ready beyond the current month (the sweep adds them hourly).
PARTITION_MONTHS_AHEAD = env.int("PARTITION_MONTHS_AHEAD", default=3)
# Making or dropping a partition waits at most this long for its table's lock, then tries next hour.
PARTITION_LOCK_TIMEOUT_MS = env.int("PARTITION_LOCK_TIMEOUT_MS", default=5000)
# Every sweep deletes at most this many batches of this many rows per table (each its own transaction).
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=1000)
RETENTION_MAX_BATCHES = env.int("RETENTION_MAX_BATCHES", default=50)

# --- Payments and the credit bureau: one of each per mode ------------------------------------
# Test mode (merchants' sk_test_ keys, their test checkouts) and live mode each have their own
# gateway and credentials, so a test checkout can never reach a real card, a real transfer or a
# real person's credit file. Test mode: the sandbox, or Stripe with TEST keys only (refused at
# start-up otherwise, bnpl.payments.checks). Live mode: empty here, so nothing serves it until it is
# named (production must name real parts: bnpl.payments.checks.live_parts_problems); the demo and
# the tests set the sandbox for it explicitly. Values are dotted paths of a gateway class.
PAYMENT_GATEWAY_TEST = env.str("PAYMENT_GATEWAY_TEST", default="bnpl.payments.gateways.SandboxGateway")
PAYMENT_GATEWAY_LIVE = env.str("PAYMENT_GATEWAY_LIVE", default="")
# The sandbox gateway's answer time in milliseconds (a real sleep per call, as a processor's network
# round trip): 0 answers at once; benchmarks set e.g. 100 to measure the network-bound case.
SANDBOX_GATEWAY_LATENCY_MS = env.int("SANDBOX_GATEWAY_LATENCY_MS", default=0)
# Stripe (bnpl.payments.stripe_gateway.StripeGateway), per mode: the secret key (sk_/rk_), the
# publishable key of Stripe Elements on the hosted checkout (pk_), and the signing secret of that
# mode's endpoint of POST /webhooks/stripe (whsec_). TEST keys must be test keys, LIVE keys live ones.
STRIPE_TEST_SECRET_KEY = env.str("STRIPE_TEST_SECRET_KEY", default="")
STRIPE_TEST_PUBLISHABLE_KEY = env.str("STRIPE_TEST_PUBLISHABLE_KEY", default="")
STRIPE_TEST_WEBHOOK_SECRET = env.str("STRIPE_TEST_WEBHOOK_SECRET", default="")
STRIPE_LIVE_SECRET_KEY = env.str("STRIPE_LIVE_SECRET_KEY", default="")
STRIPE_LIVE_PUBLISHABLE_KEY = env.str("STRIPE_LIVE_PUBLISHABLE_KEY", default="")
STRIPE_LIVE_WEBHOOK_SECRET = env.str("STRIPE_LIVE_WEBHOOK_SECRET", default="")
# Shared by both modes: another API address (a local Stripe-compatible server in tests), card
# numbers accepted server-side (tests only: the hosted checkout uses Stripe Elements), and where
# Stripe.js comes from (empty: js.stripe.com, or <STRIPE_API_BASE>/js.stripe.com/v3/).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
# How long one call to Stripe may take before it counts as unanswered (the SDK then retries twice,
# with the same idempotency key). The SDK's own default, 80 s, would hold a shopper's confirm or a
# collections thread far longer than Stripe ever takes to answer.
STRIPE_TIMEOUT_SECONDS = env.int("STRIPE_TIMEOUT_SECONDS", default=20)
STRIPE_SERVER_SIDE_CARDS = env.bool("STRIPE_SERVER_SIDE_CARDS", default=False)
STRIPE_JS_URL = env.str("STRIPE_JS_URL", default="")
# The credit bureau per mode (dotted paths of a provider class). Test mode: the sandbox bureau only
# (a test checkout never pulls a real person's file). Live mode: empty here; production names a
# real provider, e.g. decisioning.bureau.HttpBureau with the BUREAU_HTTP_* settings below.
BUREAU_PROVIDER_TEST = env.str("BUREAU_PROVIDER_TEST", default="decisioning.bureau.SandboxBureau")
BUREAU_PROVIDER_LIVE = env.str("BUREAU_PROVIDER_LIVE", default="")
# decisioning.bureau.HttpBureau: the https:// address it POSTs to, its API key (a bearer token),
# the time it waits for an answer (seconds, connecting and reading each), and a CA bundle file to
# trust instead of the system's (empty: the system's; a private CA's file otherwise).
BUREAU_HTTP_URL = env.str("BUREAU_HTTP_URL", default="")
BUREAU_HTTP_API_KEY = env.str("BUREAU_HTTP_API_KEY", default="")
BUREAU_HTTP_TIMEOUT_SECONDS = env.float("BUREAU_HTTP_TIMEOUT_SECONDS", default=5.0)
BUREAU_HTTP_CA_BUNDLE = env.str("BUREAU_HTTP_CA_BUNDLE", default="")

# --- Checkout and credit ---------------------------------------------------------------------
CHECKOUT_SESSION_TTL = timedelta(hours=env.int("CHECKOUT_SESSION_TTL_HOURS", default=48))
AUTHORIZATION_TTL = timedelta(days=env.int("AUTHORIZATION_TTL_DAYS", default=28))
AUTHORIZATION_EXPIRY_WARNING = timedelta(days=3)
# The credit model: its name in the registry, and whether decisions stop when none is in service
# (with False, the rules policy decides alone until a champion is promoted).
CREDIT_MODEL_NAME = env.str("CREDIT_MODEL_NAME", default="credit")
CREDIT_MODEL_REQUIRED = env.bool("CREDIT_MODEL_REQUIRED", default=False)
# `train_model --engine dask`: the Dask scheduler to train on (tcp://host:8786); empty: a local
# cluster of two worker processes on 127.0.0.1, started and stopped by the command.
DASK_SCHEDULER_ADDRESS = env.str("DASK_SCHEDULER_ADDRESS", default="")
# Whether a credit decision's commit waits for the disk (PostgreSQL; the flush alone costs more than
# the rest of a decision). True, the default: a decision is a record the lender must keep (adverse
# action, ECOA/Reg B retention), so it is durable once decide() returns. False: an asynchronous
# commit, flushed by the server within about 0.6 s (3 x wal_writer_delay) and by the next durable
# commit on it (the checkout's next write); a crash of the database server in that moment may lose
# the record of a decision nothing acted on yet (a counteroffer the shopper walked away from).
CREDIT_DECISION_DURABLE_COMMIT = env.bool("CREDIT_DECISION_DURABLE_COMMIT", default=True)
# Scores this close below the cutoff go to the manual review queue instead of being approved.
CREDIT_REFER_BAND = env.float("CREDIT_REFER_BAND", default=0.03)
# Most a consumer may owe across active plans, per currency, in major units (policy rule).
CONSUMER_EXPOSURE_LIMIT_MAJOR = env.int("CONSUMER_EXPOSURE_LIMIT_MAJOR", default=2500)
# Collections: days after each failed attempt before the next (retryable failures only), how many
# installments one worker claims per transaction, and when an attempt in processing counts as stuck.
COLLECTION_RETRY_DAYS = env.list("COLLECTION_RETRY_DAYS", cast=int, default=[1, 3, 7])
COLLECTION_BATCH_SIZE = env.int("COLLECTION_BATCH_SIZE", default=50)
# How many of a batch's charges one worker sends to the gateway at once (threads, each with its own
# database connection while the pool lives): the gateway's round trip, not our database, bounds a
# worker, so this sets its throughput. 1 sends them one after another in the worker's own thread.
COLLECTIONS_GATEWAY_CONCURRENCY = env.int("COLLECTIONS_GATEWAY_CONCURRENCY", default=16)
# How many claim-charge-settle loops one worker runs at once (threads, each with its own database
# connection, sharing the gateway pool above), as that many workers would. Two keep both of a
# 2-core machine's cores busy: one lane's Python runs while the other waits for PostgreSQL
# (docs/collections.md). Connections per worker: lanes + gateway concurrency.
COLLECTIONS_LANES = env.int("COLLECTIONS_LANES", default=2)
COLLECTION_STUCK_AFTER = timedelta(seconds=env.int("COLLECTION_STUCK_AFTER_SECONDS", default=300))
# Delinquency: days past due of the oldest unpaid installment at which a plan is delinquent, and
# at which it is charged off (written off as a credit loss; collections stops).
# Reminders go out this many days before a due date (and after every failed charge).
REMINDER_DAYS_BEFORE = env.int("REMINDER_DAYS_BEFORE", default=3)
COLLECTION_DELINQUENT_AFTER_DAYS = env.int("COLLECTION_DELINQUENT_AFTER_DAYS", default=30)
COLLECTION_CHARGE_OFF_AFTER_DAYS = env.int("COLLECTION_CHARGE_OFF_AFTER_DAYS", default=120)
# Returns and disputes (bnpl.checkout.disputes), against using them to put payments off: how many may
# ever be opened on one order (withdrawn ones count), and how many one consumer may open within a
# rolling window of days. Each must be at least 1 (0 would refuse every consumer their dispute).
DISPUTE_MAX_PER_ORDER = env.int("DISPUTE_MAX_PER_ORDER", default=3)
DISPUTE_MAX_PER_CONSUMER = env.int("DISPUTE_MAX_PER_CONSUMER", default=5)
DISPUTE_CONSUMER_WINDOW_DAYS = env.int("DISPUTE_CONSUMER_WINDOW_DAYS", default=30)
# Bank cash flow (policy rule): this many returned payments / overdrafts in three months declines.
CREDIT_BANK_EVENTS_LIMIT = env.int("CREDIT_BANK_EVENTS_LIMIT", default=3)
# Spending limits: repayments may take at most this share of the free monthly cash flow the bank
# data shows; an order above the limit is approved with the rest as a down payment when that is at
# most this share of the order, declined otherwise.
CREDIT_AFFORDABILITY_SHARE = env.float("CREDIT_AFFORDABILITY_SHARE", default=0.5)
CREDIT_MAX_DOWN_PAYMENT_SHARE = env.float("CREDIT_MAX_DOWN_PAYMENT_SHARE", default=0.5)

# Webhooks may go to private/loopback addresses (local receivers) only in the demo and the tests;
# production refuses them in both modes (SSRF). Not read from the environment.
WEBHOOK_ALLOW_PRIVATE_TARGETS = False

# --- Consumers: one-time codes ---------------------------------------------------------------
ONE_TIME_CODE_SENDER = env.str("ONE_TIME_CODE_SENDER", default="bnpl.notifications.EmailAndSmsSender")
# Push notifications to the consumer's app (bnpl.notifications): none ships a provider yet.
PUSH_SENDER = env.str("PUSH_SENDER", default="bnpl.notifications.NoPushSender")
ONE_TIME_CODE_TTL = timedelta(minutes=10)
ONE_TIME_CODE_MAX_ATTEMPTS = 5
# One code per browser session and destination this often; at most this many codes an hour to one
# destination from one client (address or recognized device). More limits: "Rate limits" below.
ONE_TIME_CODE_RESEND_INTERVAL = timedelta(seconds=env.int("ONE_TIME_CODE_RESEND_SECONDS", default=60))
ONE_TIME_CODE_MAX_PER_HOUR = env.int("ONE_TIME_CODE_MAX_PER_HOUR", default=5)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="BNPL <no-reply@bnpl.localhost>")
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)

# --- Rate limits (bnpl.core.ratelimit; every one documented in docs/api.md and docs/consumer-web.md)
# Counted in the cache (Redis in production: shared by every process); client addresses are read
# through TRUSTED_PROXY_COUNT. Partner API, per API key: "<count>/<s|min|hour|day>".
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="100/s")
API_THROTTLE_BURST_RATE = env.str("API_THROTTLE_BURST_RATE", default="1000/min")
# Requests whose API key is not found, per client address per minute, before 429s (key guessing).
# Only requests whose key fails are refused: a valid key is never held back by others' failures.
API_AUTH_FAILURES_PER_MINUTE = env.int("API_AUTH_FAILURES_PER_MINUTE", default=30)
# One-time codes (besides ONE_TIME_CODE_RESEND_SECONDS and ONE_TIME_CODE_MAX_PER_HOUR above), all
# counts of requests: codes sent to one destination an hour from browsers that never signed in to
# it (spam cap; above the per-client cap, so one stranger cannot spend it alone); codes asked for and
# codes entered per client address an hour (across destinations); codes sent platform-wide a
# minute (SMS-pumping cost guard); wrong codes a day per destination and client, and per
# destination from browsers that never signed in to it (the brute-force bound: 30 guesses at 10^6).
ONE_TIME_CODE_MAX_PER_DESTINATION_PER_HOUR = env.int("ONE_TIME_CODE_MAX_PER_DESTINATION_PER_HOUR", default=15)
ONE_TIME_CODE_MAX_PER_ADDRESS_PER_HOUR = env.int("ONE_TIME_CODE_MAX_PER_ADDRESS_PER_HOUR", default=30)
ONE_TIME_CODE_VERIFY_PER_ADDRESS_PER_HOUR = env.int("ONE_TIME_CODE_VERIFY_PER_ADDRESS_PER_HOUR", default=60)
ONE_TIME_CODE_GLOBAL_PER_MINUTE = env.int("ONE_TIME_CODE_GLOBAL_PER_MINUTE", default=600)
ONE_TIME_CODE_FAILED_VERIFY_PER_CLIENT_PER_DAY = env.int("ONE_TIME_CODE_FAILED_VERIFY_PER_CLIENT_PER_DAY", default=10)
ONE_TIME_CODE_FAILED_VERIFY_PER_DAY = env.int("ONE_TIME_CODE_FAILED_VERIFY_PER_DAY", default=30)
# How long a browser stays recognized for a destination after signing in to it (device cookie).
ONE_TIME_CODE_DEVICE_DAYS = env.int("ONE_TIME_CODE_DEVICE_DAYS", default=90)

# --- Staff and merchant sign-in: lockout and the second factor (docs/security.md) ------------------
# Password sign-in (the merchant dashboard's and the admin's) locks after SIGN_IN_FAILURE_LIMIT
# failures in a row for SIGN_IN_LOCKOUT_MINUTES (each further try while locked starts the wait
# again); a successful sign-in clears the count. Locked-out sign-ins get a 429 page, never a 500.
SIGN_IN_FAILURE_LIMIT = env.int("SIGN_IN_FAILURE_LIMIT", default=5)
SIGN_IN_LOCKOUT_MINUTES = env.int("SIGN_IN_LOCKOUT_MINUTES", default=15)
# Failed password sign-ins from one client address an hour, whatever emails they tried (password
# spraying); above what an office behind one address gets wrong in an hour.
SIGN_IN_FAILURES_PER_ADDRESS_PER_HOUR = env.int("SIGN_IN_FAILURES_PER_ADDRESS_PER_HOUR", default=50)
AXES_FAILURE_LIMIT = SIGN_IN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=SIGN_IN_LOCKOUT_MINUTES)
AXES_RESET_ON_SUCCESS = True
# Failures are counted per (email, client address) pair, not per email and not per address. Per
# email alone, anyone who knows a merchant's or an operator's email could lock them out of their
# account from everywhere by typing five wrong passwords (a denial of service we would hand to
# strangers); per address alone, one office or mobile carrier behind a shared address would lock
# out everyone behind it, and a guesser with many addresses would still get five tries per address
# for any account. The pair limits what matters — guesses at one account from one place — and the
# real person, signing in from their own address, is never locked out by someone else's failures.
# Guessing from many addresses at once is what the second factor below is for.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client address of every address-keyed limit: through TRUSTED_PROXY_COUNT, never a header
# the client chose, and an IPv6 client's whole /64 (bnpl.core.net.client_key).
AXES_CLIENT_IP_CALLABLE = "bnpl.core.net.client_key"
# Both sign-in forms post the email as "username" (Django's AuthenticationForm); case variants of
# one email share one count.
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "bnpl.accounts.lockout.sign_in_username"
AXES_LOCKOUT_CALLABLE = "bnpl.accounts.lockout.locked_out_response"
# Counted in the cache, like every other limit here: Redis in production (shared by every process,
# and required there); nothing is written to the database per attempt.
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_ENABLE_ADMIN = False  # the database handler's tables stay empty; the cache holds the counts
AXES_VERBOSE = False
# The second factor (TOTP, bnpl.accounts.two_factor). Operators (staff) must pass it before any admin
# page or the operators' API; production refuses OPERATOR_TWO_FACTOR_REQUIRED=false. Merchant owners
# must enroll before any other dashboard page while MERCHANT_OWNER_TWO_FACTOR_REQUIRED is on (the
# default everywhere, production included; a deployment may turn it off on purpose). Anyone who has
# enrolled is asked for a code at every sign-in, required or not.
OPERATOR_TWO_FACTOR_REQUIRED = env.bool("OPERATOR_TWO_FACTOR_REQUIRED", default=True)
MERCHANT_OWNER_TWO_FACTOR_REQUIRED = env.bool("MERCHANT_OWNER_TWO_FACTOR_REQUIRED", default=True)
# The name authenticator apps show beside the account (the otpauth:// URI's issuer).
TWO_FACTOR_ISSUER = env.str("TWO_FACTOR_ISSUER", default="BNPL")
OTP_TOTP_ISSUER = TWO_FACTOR_ISSUER
# Secrets of enrolled devices never show in the admin (keys, backup codes).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

# --- Secrets: one per purpose, each rotated on its own (bnpl/core/keys.py, docs/operations.md) ------
# Production requires each and refuses two purposes sharing one; the demo and the tests derive an
# unset one from SECRET_KEY under a label of its own.
# Old SECRET_KEYs still accepted for sessions and signed values while a rotation settles.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# Fernet keys for personal data at rest, newest first: new writes use the first, reads try each;
# `manage.py rotate_encryption_keys` re-encrypts everything under the first so old ones can go.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
# HMAC-SHA256 secret under which API keys and invitation tokens are stored; during a rotation the
# old one stays in the fallbacks and each key is re-hashed under the new one when next used.
API_KEY_HASH_SECRET = env.str("API_KEY_HASH_SECRET", default="")
# The bearer token of GET /metrics (bnpl.core.metrics_views): unset, the endpoint is a 404.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# A Celery worker's own /metrics (same token), e.g. 9808 with METRICS_WORKER_ADDRESS=0.0.0.0 in a
# container; 0 leaves it off (a worker on the web's host may share its PROMETHEUS_MULTIPROC_DIR instead).
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
METRICS_WORKER_ADDRESS = env.str("METRICS_WORKER_ADDRESS", default="127.0.0.1")
API_KEY_HASH_SECRET_FALLBACKS = env.list("API_KEY_HASH_SECRET_FALLBACKS", default=[])
# HMAC-SHA256 secret of one-time codes (kept only hashed); fallbacks verify codes sent before a rotation.
ONE_TIME_CODE_HASH_SECRET = env.str("ONE_TIME_CODE_HASH_SECRET", default="")
ONE_TIME_CODE_HASH_SECRET_FALLBACKS = env.list("ONE_TIME_CODE_HASH_SECRET_FALLBACKS", default=[])
# HMAC-SHA256 (HS256) secret the consumer app's tokens are signed with; fallbacks still verify
# tokens signed before a rotation (at most CONSUMER_REFRESH_TOKEN_TTL old).
CONSUMER_TOKEN_SECRET = env.str("CONSUMER_TOKEN_SECRET", default="")
CONSUMER_TOKEN_SECRET_FALLBACKS = env.list("CONSUMER_TOKEN_SECRET_FALLBACKS", default=[])
# The consumer app's tokens (consumers.app_tokens): a short-lived access token, and a refresh token
# that is rotated on every use and expires if the app is not opened for this long.
CONSUMER_ACCESS_TOKEN_TTL = timedelta(seconds=env.int("CONSUMER_ACCESS_TOKEN_SECONDS", default=900))
CONSUMER_REFRESH_TOKEN_TTL = timedelta(days=env.int("CONSUMER_REFRESH_TOKEN_DAYS", default=30))

# One JSON object per line (bnpl.core.logs: request id, merchant and mode, Celery task, secrets and
# personal data redacted); LOG_FORMAT=plain for people reading a terminal (the demo's default).
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
# Optional, off by default (bnpl.core.telemetry, docs/observability.md): errors to Sentry, traces
# over OTLP/HTTP to a collector. Both scrub personal data before anything leaves.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", default="production")
SENTRY_TRACES_SAMPLE_RATE = env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0)
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="bnpl")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "bnpl.core.logs.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "bnpl.core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain" if LOG_FORMAT == "plain" else "json",
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
