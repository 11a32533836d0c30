from celery import shared_task

from bnpl.core.idempotency import idempotency_keys_purge as purge


@shared_task(name="bnpl.core.tasks.idempotency_keys_purge")
def idempotency_keys_purge() -> int:
    return purge()
