"""Data partners: outside services (an open-banking aggregator, say) that send us a consumer's bank
transactions for credit decisions, with API keys of their own.

Why an app of its own rather than a kind of merchant or a model inside ``decisioning``: a partner is
a *principal* -- someone who authenticates, holds keys, is onboarded and suspended by operators and
calls an API of its own -- as a merchant is, but it is no tenant: it sells nothing, owns no orders,
plans or settlements, and must never pass a merchant-scoped check (``bnpl.tenancy``) or see a
merchant's event. Giving it merchant keys would have made every merchant endpoint its door; making
it a row in ``decisioning`` would have put authentication and keys into the lending domain. So the
principal and its keys live here, beside ``merchants`` in the products tier, and ``decisioning``
keeps the data: a partner sends through a ``decisioning.DataSource`` of kind ``partner`` (as a
merchant sends through one of kind ``merchant``), under consents the consumer grants it in their
account, with the same bank-data services (``decisioning.bank_data``) and so the same effect on
decisions."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from bnpl.core.models import PublicIdModel


class DataPartner(PublicIdModel):
    """A data partner, created by an operator. Only an active partner may be chosen by consumers and
    use its keys; suspending it refuses every key at once (consents stay, and the consumer may still
    revoke them)."""

    PUBLIC_ID_PREFIX = "dpa"

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUSPENDED = "suspended"

    name = models.CharField(max_length=200, unique=True)  # what the consumer sees and grants consent to
    description = models.CharField(max_length=500, blank=True)  # e.g. "Open-banking aggregator", shown too
    website = models.URLField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    suspended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class PartnerApiKey(PublicIdModel):
    """A partner's secret key (``dpk_test_…`` / ``dpk_live_…``), stored as an HMAC only (the same
    hash and secrets as merchant keys: ``bnpl.tenancy.keys.api_key_hash``) and shown once, when an
    operator issues it. A key works in one mode: it reaches the consents of that mode only."""

    PUBLIC_ID_PREFIX = "dpkey"

    partner = models.ForeignKey(DataPartner, on_delete=models.PROTECT, related_name="api_keys")
    livemode = models.BooleanField(default=False)
    name = models.CharField(max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)  # HMAC-SHA256(API_KEY_HASH_SECRET, token)
    token_hash_secret = models.CharField(max_length=12)  # which hash secret (bnpl.core.keys.secret_fingerprint)
    token_hint = models.CharField(max_length=40)  # e.g. "dpk_test_…x7Qa": enough to recognise, not to use
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.token_hint

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
