from celery import shared_task

from bnpl.collections import lateness, reminders, services


@shared_task(name="bnpl.collections.tasks.collections_run")
def collections_run(batch_size: int | None = None) -> dict[str, int]:
    return vars(services.collections_run(batch_size=batch_size))


@shared_task(name="bnpl.collections.tasks.collections_sweep")
def collections_sweep() -> dict[str, int]:
    return vars(services.collections_sweep())


@shared_task(name="bnpl.collections.tasks.plans_assess_lateness")
def plans_assess_lateness() -> dict[str, int]:
    return vars(lateness.plans_assess_lateness())


@shared_task(name="bnpl.collections.tasks.reminders_send_upcoming")
def reminders_send_upcoming() -> int:
    return reminders.reminders_send_upcoming()
