"""Writes of the tenancy layer: the merchant's own id for a consumer."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from bnpl.core.compiled import CompiledSelect, per_mode
from bnpl.core.services import change_record
from bnpl.tenancy.representations import merchant_consumer_data
from consumers.models import Consumer, MerchantConsumer
from merchants.models import Merchant


def _link(livemode: bool) -> CompiledSelect[MerchantConsumer]:
    return CompiledSelect(
        lambda merchant_id, consumer_id: MerchantConsumer.objects.filter(
            merchant_id=merchant_id, livemode=livemode, consumer_id=consumer_id
        ).order_by("pk")[:1],
        arity=2,
    )


# Every confirm looks the link up: compiled once per process and mode (``bnpl.core.compiled``).
_LINK = per_mode(_link)


def merchant_consumer_ensure(*, merchant: Merchant, livemode: bool, consumer: Consumer) -> MerchantConsumer:
    """The merchant's id for this consumer, made when they first confirm a purchase there (the
    checkout's authorization calls this; opening a checkout does not). Safe to race."""
    found = _LINK[livemode].first(merchant.pk, consumer.pk)
    if found is not None:
        return found
    try:
        with transaction.atomic():
            link = MerchantConsumer.objects.create(merchant=merchant, livemode=livemode, consumer=consumer)
            change_record(action="merchant_consumer.created", instance=link, data=merchant_consumer_data(link))
    except IntegrityError:
        return MerchantConsumer.objects.get(merchant=merchant, livemode=livemode, consumer=consumer)
    return link
