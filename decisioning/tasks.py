from celery import shared_task

from decisioning import bank_data


@shared_task(name="decisioning.tasks.bank_data_consents_expire")
def bank_data_consents_expire() -> int:
    return bank_data.consents_expire()
