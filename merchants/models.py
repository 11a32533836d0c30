"""Tenants: the merchant, its team, its API keys and its webhook endpoints.

Everything a merchant owns carries ``merchant`` and ``livemode`` (``MerchantOwnedModel``): test-mode
keys see only test-mode data and live keys only live data.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from bnpl.core.models import PublicIdModel


class Merchant(PublicIdModel):
    PUBLIC_ID_PREFIX = "mer"

    class Status(models.TextChoices):
        PENDING = "pending"  # signed up; test mode only, waiting for an operator's approval
        ACTIVE = "active"  # approved: live keys work
        SUSPENDED = "suspended"  # every key refused until reinstated

    name = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    country = models.CharField(max_length=2, default="US")  # ISO 3166-1 alpha-2
    default_currency = models.CharField(max_length=3, default="USD")  # ISO 4217
    currencies = models.JSONField(default=list)  # ISO 4217 codes the merchant sells in
    website = models.URLField(blank=True)
    support_email = models.EmailField(blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    suspended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class MerchantOwnedModel(PublicIdModel):
    """A row that belongs to one merchant in one mode. Read it only through ``merchants.selectors``."""

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="+")
    livemode = models.BooleanField(default=False)

    class Meta:
        abstract = True


class Membership(PublicIdModel):
    """A user's place in a merchant's team."""

    PUBLIC_ID_PREFIX = "mem"

    class Role(models.TextChoices):
        OWNER = "owner"  # everything, including the team
        ADMIN = "admin"  # everything but the team's owners
        ANALYST = "analyst"  # read-only

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "user"], name="membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) at {self.merchant}"

    @property
    def can_write(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.ADMIN)


class ApiKey(MerchantOwnedModel):
    """A merchant API key. Secret keys are stored as an HMAC only and shown once, at creation;
    publishable keys are public by design (they sit in web pages) and stay visible."""

    PUBLIC_ID_PREFIX = "key"

    class Kind(models.TextChoices):
        SECRET = "secret"
        PUBLISHABLE = "publishable"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=100, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)  # HMAC-SHA256(API_KEY_HASH_SECRET, token)
    token_hint = models.CharField(max_length=40)  # e.g. "sk_test_…x7Qa": enough to recognise, not to use
    publishable_token = models.CharField(max_length=64, blank=True)  # the full token, publishable keys only
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class WebhookEndpoint(MerchantOwnedModel):
    """Where the merchant wants events delivered, signed with ``secret``."""

    PUBLIC_ID_PREFIX = "we"

    class Status(models.TextChoices):
        ENABLED = "enabled"
        DISABLED = "disabled"

    url = models.URLField(max_length=2048)
    description = models.CharField(max_length=500, blank=True)
    enabled_events = models.JSONField(default=list)  # event types, or ["*"] for all
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ENABLED)
    secret = models.CharField(max_length=64)  # "whsec_…", signs deliveries
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
