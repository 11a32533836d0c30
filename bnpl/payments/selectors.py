"""Reads of saved cards, always in one mode: a card pays only for its own mode's plans."""

from __future__ import annotations

from django.db.models import QuerySet

from bnpl.core.ids import is_well_formed
from bnpl.payments.models import PaymentMethod
from consumers.models import Consumer


def payment_method_list(*, consumer: Consumer, livemode: bool) -> QuerySet[PaymentMethod]:
    """The consumer's cards of one mode, newest first."""
    return PaymentMethod.objects.filter(consumer=consumer, livemode=livemode)


def payment_method_get(*, consumer: Consumer, livemode: bool, public_id: str) -> PaymentMethod | None:
    """One of the consumer's cards of this mode (None for another consumer's, or another mode's)."""
    if not is_well_formed(public_id):
        return None
    return payment_method_list(consumer=consumer, livemode=livemode).filter(public_id=public_id).first()


def payment_method_default(*, consumer_id: int, livemode: bool) -> PaymentMethod | None:
    """The card the consumer's payments of this mode use (collections, pay now, pay early)."""
    return PaymentMethod.objects.filter(consumer_id=consumer_id, livemode=livemode, is_default=True).first()
