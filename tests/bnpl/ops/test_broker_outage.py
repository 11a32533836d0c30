"""The broker is down while events that owe webhooks and lake exports are written, then comes back.

The partner API keeps answering (the outbox holds every event in the database; the hand-off to a
worker is skipped with a warning). When the broker is back, a real worker on it runs what beat
queues on its schedule (the webhook sweep and sends, the lake's events export), and every event
reaches the merchant's receiver exactly once, signed, and the lake: nothing lost, nothing twice.
The broker is a Redis of the test's own (tests/bnpl/ops/instances.py)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import kombu.pools
import pytest
from django.db import connection

from bnpl.celery import app
from bnpl.core.models import Event
from bnpl.lake.models import LakeWatermark
from merchants.models import WebhookDelivery
from tests.bnpl.ops.instances import private_redis
from tests.conftest import ApiClient
from tests.helpers import wait_until
from tests.merchants.conftest import WebhookReceiver
from tests.merchants.factories import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
UPDATES = 5


@contextmanager
def _this_process_on(broker: str) -> Iterator[None]:
    """This (web) process's Celery app sends to ``broker`` (its pools rebuilt), then back."""
    names = ("broker_url", "broker_read_url", "broker_write_url")
    saved = {name: app.conf[name] for name in names}

    def point(urls: dict[str, str]) -> None:
        for name, url in urls.items():
            app.conf[name] = url
        pool = getattr(app, "_pool", None)  # Celery's cached connection pool: built again on next use
        if pool is not None:
            pool.force_close_all()
        setattr(app, "_pool", None)  # noqa: B010 - a private attribute, on purpose
        setattr(app.amqp, "_producer_pool", None)  # noqa: B010
        # kombu's process-wide pool groups, keyed by connection, still hold the pools just closed: the
        # next test to send a task from this process would get "Acquire on closed pool".
        kombu.pools.reset()

    point(dict.fromkeys(names, broker))
    try:
        yield
    finally:
        point(saved)


@contextmanager
def _worker(broker: str) -> Iterator[subprocess.Popen[bytes]]:
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bnpl.settings.test",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "CELERY_BROKER_URL": broker,
        "BNPL_TEST_BROKER": broker,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "bnpl",
            "worker",
            "--pool=solo",
            "--without-gossip",
            "--without-mingle",
            "--hostname=fault-broker@%h",
        ],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield worker
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.mark.slow
def test_events_written_while_the_broker_is_down_reach_webhooks_and_the_lake_once_when_it_is_back(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = WebhookReceiver()
    serving = threading.Thread(target=receiver.server.serve_forever, args=(0.02,), daemon=True)
    serving.start()
    api = ApiClient(tenant.test_key)
    try:
        with private_redis() as redis, _this_process_on(redis.url(1)):
            created = api.post(
                "/api/v1/webhook_endpoints", {"url": receiver.url, "enabled_events": ["webhook_endpoint.updated"]}
            )
            assert created.status_code == 200 or created.status_code == 201, created.content
            receiver.secret = created.json()["secret"]
            endpoint_id = created.json()["id"]

            redis.stop()  # the broker goes away; the API keeps working
            caplog.set_level(logging.WARNING, logger="merchants.webhooks")
            for version in range(UPDATES):
                response = api.post(f"/api/v1/webhook_endpoints/{endpoint_id}", {"description": f"v{version}"})
                assert response.status_code == 200, response.content
            owed = list(
                Event.objects.filter(type="webhook_endpoint.updated", object_id=endpoint_id).values_list(
                    "public_id", flat=True
                )
            )
            assert len(owed) == UPDATES
            assert receiver.count() == 0
            not_queued = [record for record in caplog.records if "broker unreachable" in record.getMessage()]
            assert len(not_queued) == UPDATES  # each hand-off really met the broker down

            redis.start()
            with _worker(redis.url(1)):
                # What beat sends on its schedule (CELERY_BEAT_SCHEDULE), once the broker answers again.
                for task in ("merchants.tasks.webhook_events_sweep", "bnpl.lake.tasks.lake_export_events"):
                    app.send_task(task)
                assert wait_until(
                    lambda: WebhookDelivery.objects.filter(event__public_id__in=owed).count() == UPDATES, timeout=60.0
                )
                app.send_task("merchants.tasks.webhook_deliveries_send")
                assert wait_until(lambda: receiver.count() >= UPDATES, timeout=60.0), "the webhooks never went out"
                newest = Event.objects.order_by("-pk").values_list("pk", flat=True).first()
                assert wait_until(
                    lambda: LakeWatermark.objects.filter(stream="events", position__gte=newest).exists(), timeout=60.0
                ), "the lake export never caught up"
                time.sleep(1)  # anything sent twice would have arrived by now
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()

    arrived = [json.loads(item.body)["id"] for item in receiver.received]
    assert sorted(arrived) == sorted(owed)  # each once: nothing lost, nothing twice
    assert all(item.signature_valid for item in receiver.received)
