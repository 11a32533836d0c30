import os
from typing import Any

from celery import shared_task
from celery.signals import worker_init, worker_process_shutdown
from django.conf import settings

from bnpl.core import metrics
from bnpl.core.idempotency import idempotency_keys_purge as purge
from bnpl.retention import retention_sweep as sweep


@shared_task(name="bnpl.core.tasks.idempotency_keys_purge")
def idempotency_keys_purge() -> int:
    return purge()


@shared_task(name="bnpl.core.tasks.retention_sweep")
def retention_sweep() -> int:
    return sweep().total


@worker_init.connect
def _metrics_serve(**_: Any) -> None:
    """The worker's /metrics on METRICS_WORKER_PORT (off when 0 or without METRICS_TOKEN)."""
    if settings.METRICS_WORKER_PORT and settings.METRICS_TOKEN:
        metrics.worker_serve(
            address=settings.METRICS_WORKER_ADDRESS, port=settings.METRICS_WORKER_PORT, token=settings.METRICS_TOKEN
        )


@worker_process_shutdown.connect
def _metrics_process_dead(**_: Any) -> None:
    metrics.process_dead(os.getpid())
