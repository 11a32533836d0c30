"""Factories for consumers as a merchant knows them (with a current bank-data consent), made
through the real services and registered for the schema-walking tests."""

from __future__ import annotations

import datetime as dt

from bnpl.core import clock
from bnpl.tenancy.services import merchant_consumer_ensure
from consumers.models import MerchantConsumer
from decisioning import bank_data
from merchants.models import Merchant
from tests.checkout_factories import make_verified_consumer
from tests.factories import owned_object_factory


@owned_object_factory(MerchantConsumer)
def make_merchant_consumer(*, merchant: Merchant, livemode: bool, consent: bool = True) -> MerchantConsumer:
    link = merchant_consumer_ensure(merchant=merchant, livemode=livemode, consumer=make_verified_consumer())
    if consent:
        bank_data.consent_record(
            link=link, reference=f"consent-{link.public_id}", granted_at=clock.now() - dt.timedelta(days=1)
        )
    return link
