from celery import shared_task

from consumers.services import one_time_codes_purge as purge


@shared_task(name="consumers.tasks.one_time_codes_purge")
def one_time_codes_purge() -> int:
    return purge()
