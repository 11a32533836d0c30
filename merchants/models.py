"""Tenants: the merchant, its team, its API keys and its webhook endpoints.

Everything a merchant owns carries ``merchant`` and ``livemode`` (``MerchantOwnedModel``): test-mode
keys see only test-mode data and live keys only live data.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.db import models

from bnpl.core import clock
from bnpl.core.crypto import EncryptedTextField
from bnpl.core.models import AppendOnlyModel, BaseModel, PublicIdModel


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
    # Where the gateway pays settlements out (Stripe: the connected account, acct_…). Operators set it;
    # blank pays the sandbox gateway's own ledger of payouts.
    payout_account = models.CharField(max_length=100, blank=True)
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
    # Which hash secret made token_hash (bnpl.core.keys.secret_fingerprint): during a rotation, the
    # keys still under an old secret; blank for keys made before secrets had fingerprints.
    token_hash_secret = models.CharField(max_length=12, blank=True)
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


class WebhookDelivery(MerchantOwnedModel):
    """One event owed to one endpoint. The unique (endpoint, event) pair makes fan-out idempotent;
    the row is the truth of the delivery's state machine, not the task queue:

    ``pending`` (due at ``next_attempt_at``) → ``succeeded`` (a 2xx) or → ``failed`` (gave up three
    days after the first attempt). A replay puts any delivery back to ``pending``, due now.

    While an attempt is in flight, ``next_attempt_at`` is the end of the sender's claim and
    ``claim_token`` names the claim: a worker that dies mid-send leaves a claim that expires, and
    the delivery is sent again (at-least-once). Only the current claim may move the state.
    """

    PUBLIC_ID_PREFIX = "whd"

    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"  # gave up after the retry window

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey("core.Event", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)  # due time while pending; null once settled
    claim_token = models.CharField(max_length=32, blank=True)  # the in-flight attempt's claim, "" when none
    first_attempt_at = models.DateTimeField(null=True, blank=True)  # the retry window runs from here
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        permissions = [("replay_webhookdelivery", "Can send webhook deliveries again")]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="webhook_delivery_unique_per_endpoint_event"),
            models.CheckConstraint(
                condition=models.Q(status="pending", next_attempt_at__isnull=False)
                | (~models.Q(status="pending") & models.Q(next_attempt_at__isnull=True)),
                name="webhook_delivery_due_only_while_pending",
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]


class WebhookDeliveryAttempt(AppendOnlyModel):
    """One HTTP request made for a delivery, as sent and as answered: the delivery log."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.PROTECT, related_name="attempts")
    attempted_at = models.DateTimeField(default=clock.now, db_index=True)
    request_headers = models.JSONField(default=dict)
    request_body = models.TextField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)  # null: no HTTP answer
    response_body = models.TextField(blank=True)  # the first 2 KB of the answer
    error = models.TextField(blank=True)  # why there was no usable answer (timeout, refused, …)
    duration_ms = models.PositiveIntegerField(default=0)  # milliseconds from sending to the answer or error

    class Meta:
        ordering = ["-attempted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.delivery} at {self.attempted_at:%Y-%m-%d %H:%M:%S}"

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300

    @property
    def outcome(self) -> str:
        """The attempt in plain words: "Your endpoint answered 500 Internal Server Error", or why
        there was no answer ("Timed out after 10 s")."""
        if self.response_status is None:
            return self.error or "No answer"
        try:
            phrase = HTTPStatus(self.response_status).phrase
        except ValueError:
            phrase = ""
        return f"Your endpoint answered {self.response_status} {phrase}".rstrip()


class WebhookFanOutWatermark(models.Model):
    """How far the periodic sweep has fanned the outbox out to deliveries (one row): every event
    with an id at or below ``last_event_id`` has had its deliveries created."""

    SINGLETON_ID = 1

    last_event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"webhook fan-out up to event {self.last_event_id}"


class Settlement(MerchantOwnedModel):
    """One payout batch for a merchant in a currency: what it captured, less our fees, less what it
    refunded (with the fees given back), plus what an earlier batch carried forward. A negative or
    zero net is never paid out: it is carried into the next batch."""

    PUBLIC_ID_PREFIX = "stl"
    # The payout reference of a test-mode batch: marked paid, never sent to any gateway.
    TEST_PAYOUT_PREFIX = "test_po_"

    class Status(models.TextChoices):
        PENDING = "pending"  # computed; the payout has not been confirmed by the gateway yet
        PAID = "paid"
        CARRIED_FORWARD = "carried_forward"  # nothing (or less than nothing) to pay: rolls into the next
        FAILED = "failed"  # the gateway refused the payout: the net carries forward

    currency = models.CharField(max_length=3)
    cutoff = models.DateTimeField()  # captures and refunds before this instant are in the batch
    captured_amount = models.BigIntegerField(default=0)
    fee_amount = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    fee_refunded_amount = models.BigIntegerField(default=0)
    carried_in_amount = models.BigIntegerField(
        default=0
    )  # the batch before, unless paid (negative, or a failed payout)
    net_amount = models.BigIntegerField(default=0)  # captured - fees - refunds + fees back + carried in
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    payout_reference = models.CharField(max_length=200, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "livemode", "currency"],
                condition=models.Q(status="pending"),
                name="settlement_one_pending_per_currency",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    net_amount=models.F("captured_amount")
                    - models.F("fee_amount")
                    - models.F("refunded_amount")
                    + models.F("fee_refunded_amount")
                    + models.F("carried_in_amount")
                ),
                name="settlement_net_adds_up",
            ),
        ]

    @property
    def is_test_payout(self) -> bool:
        """Paid in test mode: recorded only, no transfer, no money."""
        return self.payout_reference.startswith(self.TEST_PAYOUT_PREFIX)


class SettlementLine(models.Model):
    """A capture or refund in a settlement: what the report lists, one row each."""

    class Kind(models.TextChoices):
        CAPTURE = "capture"
        REFUND = "refund"

    settlement = models.ForeignKey(Settlement, on_delete=models.CASCADE, related_name="lines")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    source_id = models.CharField(max_length=40)  # the capture's or refund's public id
    order_id = models.CharField(max_length=40)  # the order's public id
    merchant_reference = models.CharField(max_length=200, blank=True)  # a capture's own reference (e.g. shipment)
    reason = models.CharField(max_length=200, blank=True)  # a refund's reason, as the merchant gave it
    amount = models.BigIntegerField()  # + captured, - refunded
    fee_amount = models.BigIntegerField()  # - fee kept, + fee given back
    net_amount = models.BigIntegerField()
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["occurred_at", "id"]
        constraints = [models.UniqueConstraint(fields=["kind", "source_id"], name="settlement_line_once")]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_id}"


# --- Onboarding (know your business) ------------------------------------------------------------


def merchant_documents_storage() -> Any:
    """The storage alias for onboarding documents and logos (``STORAGES["merchant_files"]``): a
    local folder by default, a private bucket in production. A callable keeps the alias, not a
    path, in migrations."""
    from django.core.files.storage import storages

    return storages["merchant_files"]


class BusinessCategory(models.TextChoices):
    APPAREL = "apparel", "Apparel and accessories"
    ELECTRONICS = "electronics", "Electronics"
    HOME = "home", "Home and garden"
    HEALTH_BEAUTY = "health_beauty", "Health and beauty"
    SPORTS = "sports", "Sports and outdoors"
    TRAVEL = "travel", "Travel"
    SERVICES = "services", "Services"
    OTHER = "other", "Other"


class BusinessProfile(PublicIdModel):
    """The merchant's application to sell live: who the business is, and where it stands in the
    operators' queue.

    ``draft`` (filling in) → ``submitted`` (in the queue) → ``approved`` (the merchant is activated)
    or ``rejected``, or → ``information_requested`` (back to the merchant, who submits again).
    """

    PUBLIC_ID_PREFIX = "bp"

    class Status(models.TextChoices):
        DRAFT = "draft"
        SUBMITTED = "submitted"
        INFORMATION_REQUESTED = "information_requested", "More information requested"
        APPROVED = "approved"
        REJECTED = "rejected"

    merchant = models.OneToOneField(Merchant, on_delete=models.PROTECT, related_name="business_profile")
    legal_name = models.CharField(max_length=200, blank=True)
    registration_number = models.CharField(max_length=50, blank=True)  # company register number
    tax_number = models.CharField(max_length=50, blank=True)  # e.g. the EIN or VAT number
    address_line1 = models.CharField(max_length=200, blank=True)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, default="US")  # ISO 3166-1 alpha-2
    website = models.URLField(blank=True)
    category = models.CharField(max_length=30, choices=BusinessCategory.choices, blank=True)
    expected_monthly_volume_amount = models.BigIntegerField(default=0)  # minor units of volume_currency
    volume_currency = models.CharField(max_length=3, default="USD")  # ISO 4217
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.DRAFT, db_index=True)
    operator_note = models.TextField(blank=True)  # why more information is needed, or why rejected
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["submitted_at", "id"]  # the queue: oldest submission first

    def __str__(self) -> str:
        return f"{self.legal_name or self.merchant.name} ({self.status})"


class BankAccount(PublicIdModel):
    """Where payouts go. The account number is stored encrypted (``bnpl.core.crypto``) and shown
    only by its last four digits."""

    PUBLIC_ID_PREFIX = "ba"

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="bank_accounts")
    holder_name = models.CharField(max_length=200)
    bank_name = models.CharField(max_length=200, blank=True)
    routing_number = models.CharField(max_length=20)  # ABA routing number or sort code / BIC
    account_number = EncryptedTextField()  # encrypted at rest; never shown whole
    account_number_last4 = models.CharField(max_length=4)
    currency = models.CharField(max_length=3, default="USD")  # ISO 4217
    is_default = models.BooleanField(default=True)
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "currency"],
                condition=models.Q(is_default=True, removed_at__isnull=True),
                name="bank_account_one_default_per_currency",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bank_name or 'Bank'} ••••{self.account_number_last4}"


class MerchantDocument(PublicIdModel):
    """A file the merchant uploaded for its application, kept through the storage API."""

    PUBLIC_ID_PREFIX = "doc"

    class Kind(models.TextChoices):
        REGISTRATION = "registration", "Certificate of registration"
        TAX = "tax", "Tax registration"
        IDENTITY = "identity", "Owner's identity document"
        BANK_STATEMENT = "bank_statement", "Bank statement"
        OTHER = "other", "Other"

    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="documents")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    file = models.FileField(storage=merchant_documents_storage, upload_to="documents/%Y/%m/", max_length=300)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size_bytes = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    removed_at = models.DateTimeField(null=True, blank=True)  # taken out by the merchant; the file is kept

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.original_name}"


# --- Branding and team ----------------------------------------------------------------------------


class Branding(BaseModel):
    """How the hosted checkout presents the merchant: a display name, a logo, two colours."""

    merchant = models.OneToOneField(Merchant, on_delete=models.CASCADE, related_name="branding")
    display_name = models.CharField(max_length=100, blank=True)  # blank: the merchant's name
    logo = models.FileField(storage=merchant_documents_storage, upload_to="logos/", blank=True, max_length=300)
    primary_colour = models.CharField(max_length=7, default="#3b2bd6")  # "#rrggbb": buttons and links
    accent_colour = models.CharField(max_length=7, default="#1d1d27")  # "#rrggbb": headings

    def __str__(self) -> str:
        return f"Branding of {self.merchant}"


class Invitation(PublicIdModel):
    """An invitation to join a merchant's team. Only the token's HMAC is stored; the link is shown
    once to the inviter (and emailed)."""

    PUBLIC_ID_PREFIX = "inv"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=20, choices=Membership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} ({self.role}) to {self.merchant}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and clock.now() < self.expires_at
