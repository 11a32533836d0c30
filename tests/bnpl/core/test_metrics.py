"""GET /metrics: refused without the token, histograms by route (never by path), each business
counter moved where its event happens, gauges read from the database at scrape time, and the
values of several processes added up (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from bnpl.collections import services as collections
from bnpl.core import metrics
from bnpl.core.models import Event
from bnpl.core.services import clock_advance
from bnpl.lake.models import LakeWatermark
from merchants import services, webhooks
from merchants.models import WebhookDelivery
from tests.bnpl.checkout.factories import make_authorized_order
from tests.conftest import ApiClient, free_port, wait_for_port
from tests.merchants.conftest import WebhookReceiver
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

TOKEN = "m" * 40
ROOT = Path(__file__).resolve().parents[3]
INSUFFICIENT_FUNDS = "4000 0000 0000 9995"


@pytest.fixture
def token(settings) -> str:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    webhook_receiver = WebhookReceiver()
    thread = threading.Thread(target=webhook_receiver.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield webhook_receiver
    webhook_receiver.server.shutdown()
    webhook_receiver.server.server_close()
    thread.join(timeout=5)


def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(name: str, **labels: str) -> float:
    return scrape().get((name, tuple(sorted(labels.items()))), 0.0)


def test_without_a_configured_token_the_endpoint_does_not_exist(settings) -> None:  # type: ignore[no-untyped-def]
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404
    assert Client().get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


@pytest.mark.parametrize(
    "header", [None, "", "Bearer", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", TOKEN, f"Basic {TOKEN}"]
)
def test_a_missing_or_wrong_token_is_refused(token: str, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = Client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert b"bnpl_" not in response.content
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_request_latency_is_labelled_by_route_and_status_class_never_by_path(token: str, tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    for public_id in ("ord_doesnotexist1", "ord_doesnotexist2"):
        assert api.get(f"/api/v1/orders/{public_id}").status_code == 404
    assert api.get("/api/v1/orders").status_code == 200
    Client().get("/no/such/page/12345")

    samples = scrape()
    text = "\n".join(str(key) for key in samples)
    assert "doesnotexist" not in text and "12345" not in text
    routes = {dict(labels)["route"] for name, labels in samples if name == "bnpl_http_request_duration_seconds_count"}
    assert "unmatched" in routes
    [order_route] = [route for route in routes if re.fullmatch(r"api/v1/orders/<[^>]+>", route)]
    assert (
        samples[
            (
                "bnpl_http_request_duration_seconds_count",
                (("method", "GET"), ("route", order_route), ("status", "4xx")),
            )
        ]
        >= 2
    )
    assert (
        samples[
            (
                "bnpl_http_request_duration_seconds_count",
                (("method", "GET"), ("route", "api/v1/orders"), ("status", "2xx")),
            )
        ]
        >= 1
    )


def test_a_decision_counts_by_outcome_with_its_latency(token: str, tenant: Tenant) -> None:
    approved, seconds = (
        value("bnpl_credit_decisions_total", outcome="approved"),
        value("bnpl_credit_decision_duration_seconds_count"),
    )
    make_authorized_order(merchant=tenant.merchant, livemode=False)
    assert value("bnpl_credit_decisions_total", outcome="approved") == approved + 1
    assert value("bnpl_credit_decision_duration_seconds_count") == seconds + 1


def test_collections_count_successes_failures_and_retries(token: str, tenant: Tenant) -> None:
    before = {result: value("bnpl_collection_attempts_total", result=result) for result in ("succeeded", "failed")}
    retries = value("bnpl_collection_retries_scheduled_total")
    make_authorized_order(merchant=tenant.merchant, livemode=False)
    make_authorized_order(merchant=tenant.merchant, livemode=False, kind="pay_in_30", card=INSUFFICIENT_FUNDS)
    clock_advance(by=dt.timedelta(days=30))

    result = collections.collections_run(batch_size=10)

    assert (result.succeeded, result.failed) == (2, 1)  # pay in 4: installments 2 and 3 are due by day 30
    assert value("bnpl_collection_attempts_total", result="succeeded") == before["succeeded"] + 2
    assert value("bnpl_collection_attempts_total", result="failed") == before["failed"] + 1
    assert value("bnpl_collection_retries_scheduled_total") == retries + 1


def test_webhook_failures_count_and_the_lag_of_the_most_overdue_delivery_is_read(
    token: str, tenant: Tenant, receiver: WebhookReceiver
) -> None:
    failed, succeeded = (
        value("bnpl_webhook_delivery_attempts_total", result="failed"),
        value("bnpl_webhook_delivery_attempts_total", result="succeeded"),
    )
    endpoint = services.webhook_endpoint_create(
        merchant=tenant.merchant, livemode=False, url=receiver.url, enabled_events=["*"]
    )
    receiver.secret, receiver.statuses = endpoint.secret, [500]
    event = Event.objects.get(type="webhook_endpoint.created", object_id=endpoint.public_id)
    webhooks.deliveries_create_for_events(event_ids=[event.pk])
    WebhookDelivery.objects.filter(endpoint=endpoint).update(next_attempt_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    assert value("bnpl_webhook_deliveries_pending") >= 1
    assert value("bnpl_webhook_delivery_lag_seconds") > 20 * 365 * 86400  # due since 2000

    assert webhooks.deliveries_send_due() == 1  # the receiver answers 500

    assert value("bnpl_webhook_delivery_attempts_total", result="failed") == failed + 1
    assert value("bnpl_webhook_delivery_lag_seconds") == 0  # the retry is not due yet
    clock_advance(by=dt.timedelta(minutes=2))
    assert webhooks.deliveries_send_due() == 1
    assert value("bnpl_webhook_delivery_attempts_total", result="succeeded") == succeeded + 1
    assert value("bnpl_webhook_deliveries_pending") == 0


def test_lake_lag_is_the_age_of_the_newest_exported_event_while_newer_ones_wait(token: str, tenant: Tenant) -> None:
    newest = Event.objects.order_by("pk").last()
    assert newest is not None
    LakeWatermark.objects.update_or_create(stream="events", defaults={"position": newest.pk})
    assert value("bnpl_lake_export_lag_seconds") == 0  # caught up
    Event.objects.filter(pk=newest.pk).update(created_at=newest.created_at - dt.timedelta(hours=2))
    services.webhook_endpoint_create(
        merchant=tenant.merchant, livemode=False, url="https://example.com/h", enabled_events=["*"]
    )
    assert 7200 <= value("bnpl_lake_export_lag_seconds") < 7200 + 600


def test_idempotency_replays_and_conflicts_count(token: str, tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    replays, conflicts = (
        value("bnpl_idempotency_requests_total", result="replay"),
        value("bnpl_idempotency_requests_total", result="conflict"),
    )
    body = {"url": "https://example.com/hooks", "enabled_events": ["*"]}
    first = api.post("/api/v1/webhook_endpoints", body, idempotency_key="metrics-key-1")
    again = api.post("/api/v1/webhook_endpoints", body, idempotency_key="metrics-key-1")
    other = api.post(
        "/api/v1/webhook_endpoints", {**body, "url": "https://example.com/x"}, idempotency_key="metrics-key-1"
    )
    assert (first.status_code, again.status_code) == (201, 201) and other.status_code in (400, 409, 422)
    assert value("bnpl_idempotency_requests_total", result="replay") == replays + 1
    assert value("bnpl_idempotency_requests_total", result="conflict") == conflicts + 1


def test_queue_depths_are_read_from_a_redis_broker_at_scrape_time(token: str, settings) -> None:  # type: ignore[no-untyped-def]
    # This test process's own Redis database (its cache's: bnpl/settings/test.py gives each xdist
    # worker its own), which only its own tests empty; CACHE_URL as given is another worker's.
    redis_url = str(settings.CACHES["default"].get("LOCATION", ""))
    if not redis_url.startswith("redis://"):
        pytest.skip("needs Redis (CACHE_URL=redis://…)")
    import redis

    settings.CELERY_BROKER_URL = redis_url
    settings.CELERY_TASK_QUEUES = None
    settings.CELERY_TASK_DEFAULT_QUEUE = "metrics-test-queue"
    client = redis.Redis.from_url(redis_url)
    client.delete("metrics-test-queue")
    client.rpush("metrics-test-queue", "a", "b", "c")
    try:
        assert value("bnpl_queue_depth", queue="metrics-test-queue") == 3
    finally:
        client.delete("metrics-test-queue")


COUNT = """
import sys
from bnpl.core import metrics
metrics.credit_decisions.labels(outcome="approved").inc(int(sys.argv[1]))
"""
SERVE = """
import sys, time
from bnpl.core import metrics
server = metrics.worker_serve(address="127.0.0.1", port=0, token=sys.argv[1])
print(server.server_port, flush=True)
time.sleep(60)
"""


def test_several_processes_are_added_up_and_a_worker_serves_them_behind_the_token(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    for count in (2, 3):  # two processes, as gunicorn's or Celery's pool would have
        subprocess.run([sys.executable, "-c", COUNT, str(count)], env=env, check=True, timeout=60)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2

    server = subprocess.Popen([sys.executable, "-c", SERVE, TOKEN], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert re.search(r'^bnpl_credit_decisions_total\{outcome="approved"\} 5\.0$', text, re.M), text


def test_outside_multiprocess_mode_the_default_registry_is_read() -> None:
    assert not metrics.multiprocess()
    metrics.process_dead(os.getpid())  # nothing to mark: no error


READ = """
from prometheus_client import generate_latest
from bnpl.core import metrics
print(generate_latest(metrics.registry()).decode())
"""


def test_gunicorn_workers_count_into_one_directory_and_are_added_up(tmp_path: Path) -> None:
    """A real gunicorn, two workers, gunicorn.conf.py (its child_exit hook): every request counted once."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bnpl.settings.test",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "bnpl.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "2",
    ]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, "gunicorn")
        for _ in range(12):
            # A 503 when gunicorn's database is not this run's is counted all the same.
            with contextlib.suppress(urllib.error.HTTPError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30).close()
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = subprocess.run(
        [sys.executable, "-c", READ], env=env, check=True, timeout=60, capture_output=True, text=True
    ).stdout
    counts = re.findall(r'^bnpl_http_request_duration_seconds_count\{[^}]*route="healthz"[^}]*\} (\S+)$', text, re.M)
    assert sum(float(count) for count in counts) == 12, text
