"""Factories for consumers: shoppers registered and verified, and consumers as a merchant knows them
(with a current bank-data consent), made through the real services."""

from __future__ import annotations

import datetime as dt
import itertools

from django.db import transaction

from bnpl.core import clock
from bnpl.tenancy.services import merchant_consumer_ensure
from consumers.models import Consumer, MerchantConsumer
from consumers.services import consumer_register, identity_submit
from decisioning import bank_data
from merchants.models import Merchant

_sequence = itertools.count(1)


def make_consumer(*, email: str | None = None) -> Consumer:
    with transaction.atomic():
        return consumer_register(email=email or f"shopper{next(_sequence)}@example.com")


def make_verified_consumer(*, email: str | None = None, born: dt.date = dt.date(1990, 5, 17)) -> Consumer:
    consumer = make_consumer(email=email)
    identity_submit(
        consumer=consumer,
        legal_name="Ada Lovelace",
        date_of_birth=born,
        address_line1="1 Main St",
        city="Springfield",
        postal_code="12345",
        country="US",
        national_id_last4="1234",
    )
    return consumer


def make_merchant_consumer(*, merchant: Merchant, livemode: bool, consent: bool = True) -> MerchantConsumer:
    link = merchant_consumer_ensure(merchant=merchant, livemode=livemode, consumer=make_verified_consumer())
    if consent:
        bank_data.consent_record(
            link=link, reference=f"consent-{link.public_id}", granted_at=clock.now() - dt.timedelta(days=1)
        )
    return link
