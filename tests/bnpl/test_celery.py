"""Periodic work runs on a real Celery worker over the configured broker (Redis in CI)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings

from bnpl.celery import app
from bnpl.core import clock
from bnpl.core.models import IdempotencyKey
from bnpl.core.tasks import idempotency_keys_purge
from tests.helpers import wait_until
from tests.merchants.factories import Tenant


@pytest.mark.django_db
def test_every_scheduled_task_is_a_registered_task() -> None:
    app.loader.import_default_modules()
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert scheduled <= set(app.tasks), scheduled - set(app.tasks)


@pytest.mark.django_db(transaction=True)
def test_the_purge_task_runs_on_a_real_worker_and_removes_only_expired_keys(
    tenant: Tenant, celery_worker: None
) -> None:
    now = clock.now()
    common = {
        "merchant": tenant.merchant,
        "livemode": False,
        "request_method": "POST",
        "request_path": "/x",
        "request_fingerprint": "f",
    }
    IdempotencyKey.objects.create(key="expired", created_at=now - dt.timedelta(hours=25), **common)
    IdempotencyKey.objects.create(key="fresh", created_at=now - dt.timedelta(hours=23), **common)

    idempotency_keys_purge.delay()

    assert wait_until(lambda: not IdempotencyKey.objects.filter(key="expired").exists(), timeout=30.0), (
        "the worker never ran the task"
    )
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]
