"""The platform's Prometheus metrics, defined once, moved where the events happen (one line each).

Under gunicorn and Celery's prefork pool several processes count at once: with
``PROMETHEUS_MULTIPROC_DIR`` set (before any process starts) prometheus-client writes each process's
values to files in that directory and ``registry()`` adds them up at scrape time; without it (the
demo, tests in one process) the default registry is used. docs/observability.md lists every metric
and the PromQL of the service-level objectives.

Gauges read at scrape time (queue depths, webhook and lake lag) are not here: they read tables of
higher tiers and live with the endpoint (``bnpl.core.metrics_views``).
"""

from __future__ import annotations

import hmac
import os
import threading
from collections.abc import Callable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import REGISTRY

# Seconds: the API answers in tens of milliseconds; the tail up to gunicorn's timeout matters too.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

http_request_duration = Histogram(
    "bnpl_http_request_duration_seconds",
    "Time to answer an HTTP request, by route (the URL pattern, never the raw path), method and status class.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
credit_decisions = Counter("bnpl_credit_decisions", "Credit decisions made, by outcome.", ["outcome"])
credit_decision_duration = Histogram(
    "bnpl_credit_decision_duration_seconds",
    "Time to make a credit decision (inputs read, policy, model, stored).",
    buckets=LATENCY_BUCKETS,
)
collection_attempts = Counter(
    "bnpl_collection_attempts",
    "Installment collection attempts settled, by result (succeeded, failed).",
    ["result"],
)
collection_retries = Counter(
    "bnpl_collection_retries_scheduled", "Failed collection attempts given a retry date (the installment due again)."
)
webhook_attempts = Counter(
    "bnpl_webhook_delivery_attempts", "Webhook delivery attempts, by result (succeeded, failed).", ["result"]
)
webhook_deliveries_abandoned = Counter(
    "bnpl_webhook_deliveries_abandoned", "Webhook deliveries given up after the retry window (status failed)."
)
replica_fallbacks = Counter(
    "bnpl_replica_fallbacks",
    "Reporting reads kept on the primary although a read replica is configured, by reason "
    "(unreachable, lagging, own_writes, transaction).",
    ["reason"],
)
idempotency = Counter(
    "bnpl_idempotency_requests",
    "Repeated Idempotency-Keys: replay (the stored answer), conflict (other parameters), in_progress (409).",
    ["result"],
)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def registry() -> CollectorRegistry:
    """What a scrape reads: every process's values added up in multiprocess mode, else this process's."""
    if not multiprocess():
        return REGISTRY
    combined = CollectorRegistry()
    _multiprocess.MultiProcessCollector(combined)  # type: ignore[no-untyped-call]
    return combined


def process_dead(pid: int) -> None:
    """For gunicorn's ``child_exit`` and Celery's process shutdown: the gauges of a dead process go."""
    if multiprocess():
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def authorized(header: str, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``Bearer <token>`` (constant time; never with no token)."""
    return bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def worker_serve(*, address: str, port: int, token: str) -> WSGIServer:
    """A Celery worker's own ``/metrics`` (its pool's processes added up), on ``address:port`` with
    the same bearer token as the web's: a worker container shares no directory with the web's."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if not authorized(str(environ.get("HTTP_AUTHORIZATION", "")), token):
            start_response("401 Unauthorized", [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")])
            return [b"Unauthorized.\n"]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST)])
        return [generate_latest(registry())]

    server = make_server(address, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
