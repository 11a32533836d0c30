"""``GET /metrics``: the Prometheus exposition, for a scraper holding ``METRICS_TOKEN``.

Refused unless the request carries ``Authorization: Bearer <METRICS_TOKEN>`` (compared in constant
time): 404 while no token is configured (the endpoint does not exist), 401 for a missing or wrong
token. Production requires the token (bnpl/settings/requirements.py).

Besides the counters and histograms of ``bnpl.core.metrics`` (every process's, added up), a scrape
reads a few gauges from the database and the broker, each one bounded query (an index lookup or a
capped count) or one LLEN per queue, so scraping stays cheap however large the tables grow.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bnpl.core import clock, metrics
from bnpl.core.models import Event
from bnpl.lake.models import LakeWatermark
from merchants.models import WebhookDelivery

COUNT_CAP = 10_000  # counts stop here: "at least 10000" is all an alert needs
BROKER_TIMEOUT = 0.5  # seconds per broker call at scrape time
_broker: dict[str, Any] = {}


def _capped_count(queryset: Any) -> int:
    return int(queryset[:COUNT_CAP].count())


def _age(moment: dt.datetime | None, now: dt.datetime) -> float:
    return max(0.0, (now - moment).total_seconds()) if moment else 0.0


def queue_names() -> list[str]:
    queues = getattr(settings, "CELERY_TASK_QUEUES", None) or [getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")]
    if isinstance(queues, dict):
        return [str(name) for name in queues]
    return [str(getattr(queue, "name", queue)) for queue in queues]


def _queue_depths() -> Iterator[tuple[str, int]]:
    url = str(settings.CELERY_BROKER_URL)
    if not url.startswith(("redis://", "rediss://")):
        return  # RabbitMQ and others: read depth from the broker's own exporter
    client = _broker.get(url)
    if client is None:
        client = _broker[url] = redis.Redis.from_url(
            url, socket_timeout=BROKER_TIMEOUT, socket_connect_timeout=BROKER_TIMEOUT
        )
    pipe = client.pipeline(transaction=False)
    names = queue_names()
    for name in names:
        pipe.llen(name)
    yield from zip(names, (int(depth) for depth in pipe.execute()), strict=True)


class PendingWorkCollector(Collector):
    """Gauges read at scrape time (every process sees the same database: read once, by the scrape)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = clock.now()
        pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
        yield GaugeMetricFamily(
            "bnpl_webhook_deliveries_pending",
            f"Webhook deliveries not yet delivered nor given up (counted up to {COUNT_CAP}).",
            value=_capped_count(pending),
        )
        overdue = pending.filter(next_attempt_at__lte=now).order_by("next_attempt_at").first()
        yield GaugeMetricFamily(
            "bnpl_webhook_delivery_lag_seconds",
            "How late the most overdue pending webhook delivery is (0 when none is due).",
            value=_age(overdue.next_attempt_at if overdue else None, now),
        )
        watermark = LakeWatermark.objects.filter(stream="events").first()
        position = watermark.position if watermark else 0
        lag = 0.0
        if Event.objects.filter(pk__gt=position).exists():  # something is waiting to be exported
            newest_exported = Event.objects.filter(pk=position).values_list("created_at", flat=True).first()
            oldest_waiting = Event.objects.filter(pk__gt=position).order_by("pk").values_list("created_at", flat=True)
            lag = _age(newest_exported or oldest_waiting.first(), now)
        yield GaugeMetricFamily(
            "bnpl_lake_export_lag_seconds",
            "Age of the newest event in the lake while newer events wait to be exported (0 when caught up).",
            value=lag,
        )
        depth = GaugeMetricFamily("bnpl_queue_depth", "Tasks waiting in the broker, by queue.", labels=["queue"])
        try:
            for name, count in _queue_depths():
                depth.add_metric([name], count)
        except redis.RedisError:
            pass  # a broker down shows as missing series (alert on absent()) and in /readyz
        yield depth


_pending_work = PendingWorkCollector()


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    token = str(getattr(settings, "METRICS_TOKEN", "") or "")
    if not token:
        return HttpResponseNotFound()
    if not metrics.authorized(request.headers.get("Authorization", ""), token):
        response = HttpResponse("Unauthorized.\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = generate_latest(metrics.registry()) + generate_latest(_pending_work)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
