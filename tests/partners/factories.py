from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from bnpl.core import clock
from consumers.models import Consumer
from decisioning import bank_data
from decisioning.models import BankDataConsent
from partners import services
from partners.models import DataPartner, PartnerApiKey


@dataclass(frozen=True)
class Partner:
    partner: DataPartner
    test_key: str  # dpk_test_…
    live_key: str  # dpk_live_…
    test_api_key: PartnerApiKey


def make_partner(*, name: str = "Acme Open Banking", description: str = "Open-banking aggregator") -> Partner:
    partner = services.data_partner_create(name=name, description=description)
    test = services.partner_api_key_create(partner=partner, livemode=False)
    live = services.partner_api_key_create(partner=partner, livemode=True)
    return Partner(partner=partner, test_key=test.token, live_key=live.token, test_api_key=test.api_key)


def grant(consumer: Consumer, partner: Partner, *, livemode: bool = False, days: int = 90) -> BankDataConsent:
    """The consumer grants the partner a consent in their account, as the portal does."""
    return bank_data.partner_consent_grant(
        consumer=consumer, partner=partner.partner, livemode=livemode, expires_at=clock.now() + dt.timedelta(days=days)
    )
