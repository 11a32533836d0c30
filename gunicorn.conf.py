"""gunicorn's settings for the web process (``gunicorn bnpl.wsgi``), read from the working directory.

The request limits are stated here, not left to defaults, because docs/api.md documents them; a test
(tests/security/test_oversized_bodies.py) starts gunicorn with this file and checks each one. They
are enforced before Django sees the request, with gunicorn's plain-text answers:

* request line (method, path and query, version) longer than ``limit_request_line`` bytes: 414;
* more than ``limit_request_fields`` header fields, or one longer than ``limit_request_field_size``
  bytes: 431.

Body size is Django's (``DATA_UPLOAD_MAX_MEMORY_SIZE``): the API answers 413 in its JSON error shape.

The process settings (docs/deploy.md) each read an environment variable, so an operator sizes a
container without a new image: workers from the CPUs the container may use, a few threads each,
timeouts, graceful recycling and shutdown, access log on stdout, and the proxy (the load balancer)
trusted for X-Forwarded-*.
"""

import os

limit_request_line = 4094  # bytes
limit_request_fields = 100
limit_request_field_size = 8190  # bytes


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this container may run on, not the host's
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")  # inside a container, behind the load balancer
# gunicorn's rule of thumb (2 x CPUs + 1), overridden by WEB_CONCURRENCY (the common convention).
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * _cpus() + 1))
# Threads: a request waiting on PostgreSQL, Redis or the card gateway leaves the others running.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# A request still running after this many seconds has its worker killed and restarted (the bureau
# and the gateway time out well before: 5 and 10 s).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
# On SIGTERM (a deploy, a scale-in) workers stop accepting and finish what is in flight for up to
# this long before being killed: below the orchestrator's stop timeout (ECS 30 s by default).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 25))
# Longer than the load balancer's idle timeout (ALB: 60 s), so the balancer closes idle connections
# first and never sends a request on one gunicorn has just closed.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 75))
# Graceful recycling: each worker is replaced after about this many requests (the jitter spreads the
# restarts), bounding any slow growth of memory; 0 turns it off.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 2000))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", 200))
# Load Django (and the settings' checks) once in the master: a misconfigured release fails at once,
# and workers share the loaded code's memory.
preload_app = True
# Logs on stdout and stderr, for the container's log driver (access lines: JSON, below).
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The load balancer's X-Forwarded-For and X-Forwarded-Proto are trusted from these addresses (the
# VPC's, behind the ALB; the platform is never reachable directly in production).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# No control socket (gunicornc): its default path is one per machine (another server may hold it) and
# the image's files are read-only to the process; containers are managed by their orchestrator.
control_socket_disable = True
# Worker heartbeat files in memory, not on the container's (possibly slow, overlay) disk.
SHARED_MEMORY = "/dev/shm"  # noqa: S108  # nosec B108 - gunicorn's advice for containers, not a temp file
worker_tmp_dir = SHARED_MEMORY if os.path.isdir(SHARED_MEMORY) else None


# --- Observability (docs/observability.md) -------------------------------------------------------
# Access lines as JSON through bnpl.core.logs.JsonFormatter (method, path without its query string,
# status, duration, request id); metrics of a dead worker process dropped (prometheus-client's
# multiprocess mode, with PROMETHEUS_MULTIPROC_DIR an empty directory at start).
accesslog = "-"
access_log_format = "%(m)s %(U)s %(s)s"  # the message only; the fields come from the record's atoms
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "bnpl.core.logs.ContextFilter"}},
    "formatters": {"json": {"()": "bnpl.core.logs.JsonFormatter"}},
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["context"],
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"level": "INFO", "handlers": ["json"]},  # replaces gunicorn's default root (a shallow merge)
    "loggers": {
        "gunicorn.error": {"handlers": ["json"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["json"], "level": "INFO", "propagate": False},
    },
}


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from bnpl.core import metrics

    metrics.process_dead(worker.pid)


def on_starting(server):  # type: ignore[no-untyped-def]
    """In the master, before it listens and forks: what every worker would otherwise load on its
    first requests (bnpl.core.prefork), loaded once and shared by all of them. Before the port opens,
    so a health check that connects never waits on it (it takes seconds on a loaded machine)."""
    from django.apps import apps

    if not apps.ready:  # another WSGI application than the project's (tests/processes/slow_wsgi.py)
        return
    from bnpl.core import prefork
    from decisioning import registry

    registry.model_library_import()
    server.log.info(
        "loaded before forking: the credit model's library, the URLconf's views and %d templates", prefork.warm()
    )


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    """Before a new worker takes requests (at start, and each time ``max_requests`` recycles one),
    load the credit model it will decide with; otherwise its first shopper waits for the artifact."""
    from django.apps import apps

    if not apps.ready:  # another WSGI application than the project's (tests/processes/slow_wsgi.py)
        return
    from django.db import connections

    from decisioning import scoring

    try:
        worker.log.info("credit model loaded: %s", ", ".join(scoring.warm()) or "none in service")
    except Exception as error:  # noqa: BLE001 - any failure here is the first decision's to meet
        worker.log.warning("credit model not loaded before the first request: %s", error)
    finally:
        connections.close_all()  # this thread's: requests run on the worker's threads, with their own
