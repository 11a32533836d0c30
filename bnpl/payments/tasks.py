from celery import shared_task

from bnpl.payments.services import charges_settle_pending as settle


@shared_task(name="bnpl.payments.tasks.charges_settle_pending")
def charges_settle_pending() -> int:
    return settle()
