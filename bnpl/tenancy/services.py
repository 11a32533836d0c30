"""Writes of the tenancy layer: the merchant's own id for a consumer."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from bnpl.core.services import change_record
from bnpl.tenancy.representations import merchant_consumer_data
from consumers.models import Consumer, MerchantConsumer
from merchants.models import Merchant


def merchant_consumer_ensure(*, merchant: Merchant, livemode: bool, consumer: Consumer) -> MerchantConsumer:
    """The merchant's id for this consumer, made when they first confirm a purchase there (the
    checkout's authorization calls this; opening a checkout does not). Safe to race."""
    link = MerchantConsumer.objects.filter(merchant=merchant, livemode=livemode, consumer=consumer).first()
    if link is not None:
        return link
    try:
        with transaction.atomic():
            link = MerchantConsumer.objects.create(merchant=merchant, livemode=livemode, consumer=consumer)
            change_record(action="merchant_consumer.created", instance=link, data=merchant_consumer_data(link))
    except IntegrityError:
        return MerchantConsumer.objects.get(merchant=merchant, livemode=livemode, consumer=consumer)
    return link
