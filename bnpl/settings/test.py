"""Test settings (``make test``, pytest's default): the shared settings with the sandbox switched on
on purpose, fast hashing, and the parts each test process needs of its own."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import CACHES, CELERY_BROKER_TRANSPORT_OPTIONS, CELERY_BROKER_URL, LAKE_S3_BUCKET, env

SECRET_KEY = env.str("SECRET_KEY", default="insecure-test-key-" + "x" * 40)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ONE_TIME_CODE_SENDER = "bnpl.notifications.SandboxSender"
PUSH_SENDER = "bnpl.notifications.SandboxPushSender"
BNPL_SANDBOX = True
DEBUG = False
WEBHOOK_ALLOW_PRIVATE_TARGETS = True
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
# Collections send a batch's gateway calls from threads, whose database connections of their own can
# neither see nor roll back with a test's transaction: one at a time here, in the test's own thread.
# The tests of concurrent sending (transactional ones) and the real-worker tests set it themselves.
COLLECTIONS_GATEWAY_CONCURRENCY = env.int("COLLECTIONS_GATEWAY_CONCURRENCY", default=1)
# Likewise one collections lane, in the test's own thread (its query counts see the whole run);
# the lanes' tests and the real-worker tests set their own.
COLLECTIONS_LANES = env.int("COLLECTIONS_LANES", default=1)
# The limits are tested at their own numbers (set with pytest's ``settings`` fixture); everything
# else runs far below them.
API_THROTTLE_RATE = "100000/s"
API_THROTTLE_BURST_RATE = "1000000/min"
# Live mode on the sandbox gateway and bureau, on purpose (tests that need a distinct live gateway
# set their own); production refuses both for live mode.
PAYMENT_GATEWAY_LIVE = "bnpl.payments.gateways.SandboxGateway"
BUREAU_PROVIDER_LIVE = "decisioning.bureau.SandboxBureau"
# django-axes as everywhere, except that Django's test Client.login() (which authenticates without a
# request, where django-axes would raise) is neither counted nor refused; the lockout tests sign in
# through the pages. Production refuses this backend (bnpl/settings/requirements.py).
AUTHENTICATION_BACKENDS = [
    "bnpl.accounts.backends.TestClientLockoutBackend",
    "bnpl.accounts.backends.SignInAddressLimitBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# django-axes warns that a per-process cache cannot share lockouts between processes: true, and
# why production requires Redis; a test process (or the demo's one web process) counts its own.
SILENCED_SYSTEM_CHECKS = ["axes.W001"]
# WhiteNoise serves static files straight from static/ (no collectstatic before a test run); the demo
# and production serve what collectstatic wrote to STATIC_ROOT.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}

# Under pytest-xdist, each worker (and the processes its tests start, which inherit the variable)
# caches in a Redis database of its own: tests clear the cache between them (FLUSHDB), which would
# otherwise wipe another worker's throttle counters mid-test. Databases go down by two from the
# configured one (CI: cache 15, broker 14 -> workers 15 and 13).
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist_worker.startswith("gw") and CACHES["default"]["BACKEND"].endswith("RedisCache"):
    _location, _, _database = str(CACHES["default"]["LOCATION"]).rpartition("/")
    _database_index = (int(_database or 0) - 2 * int(_xdist_worker[2:])) % 16
    CACHES = {"default": {**CACHES["default"], "LOCATION": f"{_location}/{_database_index}"}}  # type: ignore[no-redef]
# The same for a Redis broker: each worker's real Celery workers consume only what that worker's
# tests sent, never another worker's task, to run it against the wrong test database (CI: broker 14
# -> 14 and 12). Celery reads CELERY_BROKER_URL from the environment before its settings, so the
# environment is where it changes, once: the processes a test starts inherit it.
if _xdist_worker.startswith("gw") and CELERY_BROKER_URL.startswith("redis") and "BNPL_TEST_BROKER" not in os.environ:
    _location, _, _database = CELERY_BROKER_URL.rpartition("/")
    CELERY_BROKER_URL = f"{_location}/{(int(_database or 0) - 2 * int(_xdist_worker[2:])) % 16}"
    os.environ["CELERY_BROKER_URL"] = os.environ["BNPL_TEST_BROKER"] = CELERY_BROKER_URL

# The embedded filesystem broker gets a folder per test process, so that test runs side by side
# never consume each other's tasks (CI uses Redis, flushed at the start of the run).
if CELERY_BROKER_TRANSPORT_OPTIONS:
    _broker = Path(tempfile.gettempdir()) / f"bnpl-test-broker-{os.getpid()}"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "data_folder_in": str(_broker / "queue"),
        "data_folder_out": str(_broker / "queue"),
        "processed_folder": str(_broker / "processed"),
        "control_folder": str(_broker / "control"),
    }
    for _folder in ("queue", "processed", "control"):
        (_broker / _folder).mkdir(parents=True, exist_ok=True)

# On SQLite, the test database is a file (not shared-cache memory, whose table locks ignore the busy
# timeout), so a real Celery worker thread and the test can write side by side.
from .base import DATABASES, VAR_DIR  # noqa: E402

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
# On PostgreSQL, each test process's database can be copied from one already migrated
# (DATABASE_TEST_TEMPLATE, which .ci/run migrates once for its four test processes) instead of running
# every migration again: CREATE DATABASE ... TEMPLATE, after which migrate finds nothing to apply.
_test_template = env.str("DATABASE_TEST_TEMPLATE", default="")
if _test_template and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["TEST"] = {**DATABASES["default"].get("TEST", {}), "TEMPLATE": _test_template}

# The lake: a folder of this test process's own unless LAKE_S3_BUCKET names one (the tests start a
# local moto server and point STORAGES["lake"] or an export subprocess at it), and no settle delay
# (tests commit before they export; the settling itself is tested).
LAKE_SETTLE_SECONDS = env.int("LAKE_SETTLE_SECONDS", default=0)
if not LAKE_S3_BUCKET:
    STORAGES = {  # type: ignore[no-redef]
        **STORAGES,
        "lake": {
            "BACKEND": "bnpl.lake.storage.LakeFileSystemStorage",
            "OPTIONS": {"location": str(Path(tempfile.gettempdir()) / f"bnpl-test-lake-{os.getpid()}")},
        },
    }
# Uploaded merchant files (documents, logos) go to a folder of this test process's own.
STORAGES = {  # type: ignore[no-redef]
    **STORAGES,
    "merchant_files": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(Path(tempfile.gettempdir()) / f"bnpl-test-merchant-files-{os.getpid()}")},
    },
}
