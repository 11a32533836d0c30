"""Consumers: shoppers with one account across every merchant, signing in with one-time codes."""

from __future__ import annotations

import datetime as dt

from django.db import models

from bnpl.core import clock
from bnpl.core.crypto import EncryptedTextField
from bnpl.core.models import BaseModel, PublicIdModel
from merchants.models import MerchantOwnedModel


class Channel(models.TextChoices):
    EMAIL = "email"
    SMS = "sms"
    PUSH = "push"  # to a device of the consumer's app (bnpl.notifications.PushSender)


class Consumer(PublicIdModel):
    PUBLIC_ID_PREFIX = "con"

    class Status(models.TextChoices):
        ACTIVE = "active"
        BLOCKED = "blocked"  # an operator closed the account: sign-in refused
        ERASED = "erased"  # personal data erased (consumers.erasure): the books remain, under the public id

    email = models.EmailField(null=True, blank=True, unique=True)  # lower-cased
    phone = models.CharField(max_length=20, null=True, blank=True, unique=True)  # E.164
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    erased_at = models.DateTimeField(null=True, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    phone_verified_at = models.DateTimeField(null=True, blank=True)
    last_sign_in_at = models.DateTimeField(null=True, blank=True)
    # Payment reminders and notices (one-time codes are always sent: they are how one signs in).
    notify_by_email = models.BooleanField(default=True)
    notify_by_sms = models.BooleanField(default=True)

    class Meta:
        permissions = [("erase_consumer", "Can erase a consumer's personal data")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email__isnull=False) | models.Q(phone__isnull=False) | models.Q(status="erased"),
                name="consumer_has_email_or_phone_unless_erased",
            ),
            models.CheckConstraint(
                condition=models.Q(status="erased", erased_at__isnull=False)
                | (~models.Q(status="erased") & models.Q(erased_at__isnull=True)),
                name="consumer_erased_when_erased_at",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id  # never the email or phone: str() ends up in logs and admin history


class Identity(BaseModel):
    """Know-your-customer basics, collected once. The national id digits are stored encrypted."""

    consumer = models.OneToOneField(Consumer, on_delete=models.CASCADE, related_name="identity")
    legal_name = models.CharField(max_length=200)
    date_of_birth = models.DateField()
    address_line1 = models.CharField(max_length=200)
    address_line2 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100)
    region = models.CharField(max_length=100, blank=True)  # state / province
    postal_code = models.CharField(max_length=20)
    country = models.CharField(max_length=2)  # ISO 3166-1 alpha-2
    national_id_last4 = EncryptedTextField()  # last 4 digits of the SSN / national id, encrypted
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return self.legal_name

    def age_on(self, day: dt.date) -> int:
        born = self.date_of_birth
        return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


class OneTimeCode(BaseModel):
    """A 6-digit code sent to an email address or phone. Only its hash is kept. It belongs to the
    browser session that asked for it (``requester``): only that session can enter it, and only
    that session's next request supersedes it (consumers.services explains why)."""

    channel = models.CharField(max_length=10, choices=Channel.choices)
    destination = models.CharField(max_length=254, db_index=True)  # normalized email or E.164 phone
    code_hash = models.CharField(max_length=64)  # HMAC-SHA256(ONE_TIME_CODE_HASH_SECRET, destination:code)
    # HMAC-SHA256(ONE_TIME_CODE_HASH_SECRET, the session's sign-in token): never the token itself.
    requester = models.CharField(max_length=64, default="")
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    consumed_at = models.DateTimeField(null=True, blank=True)
    invalidated_at = models.DateTimeField(null=True, blank=True)  # superseded or locked out

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["destination", "requester"], name="one_time_code_requester")]

    @property
    def is_expired(self) -> bool:
        return clock.now() >= self.expires_at


class Device(PublicIdModel):
    """A phone (an installation of the consumer's app) the consumer signed in on. Every app token is
    bound to one, and is refused once the device is no longer ``pending`` or ``trusted``.

    The consumer's first device ever is trusted by the sign-in code itself. A later one starts
    ``pending``: a trusted device approves or denies it, or else it proves itself with a fresh
    one-time code. ``secret_hash`` lets the same installation sign in again after signing out
    without asking to be trusted anew (the app keeps the secret it was given once)."""

    PUBLIC_ID_PREFIX = "dev"

    class Status(models.TextChoices):
        PENDING = "pending"  # signed in, waiting to be approved (or verified by a code)
        TRUSTED = "trusted"
        DENIED = "denied"  # a trusted device said "not me": its tokens are dead
        REVOKED = "revoked"  # the consumer removed it: its tokens are dead

    class Platform(models.TextChoices):
        IOS = "ios", "iOS"
        ANDROID = "android", "Android"
        OTHER = "other", "Other"

    class TrustedBy(models.TextChoices):
        FIRST_SIGN_IN = "first_sign_in"  # the consumer's first device, trusted by the sign-in code
        APPROVAL = "approval"  # a trusted device approved it
        CODE = "code"  # a fresh one-time code

    consumer = models.ForeignKey(Consumer, on_delete=models.CASCADE, related_name="devices")
    name = models.CharField(max_length=100)  # as the app names it ("Ada's iPhone")
    platform = models.CharField(max_length=10, choices=Platform.choices, default=Platform.OTHER)
    push_token = models.CharField(max_length=500, blank=True)  # the push provider's address of the app
    secret_hash = models.CharField(max_length=64)  # sha256 of the device secret the app keeps
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    trusted_by = models.CharField(max_length=20, choices=TrustedBy.choices, blank=True)
    approved_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    trusted_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)  # denied or revoked
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="trusted") | models.Q(trusted_at__isnull=False, trusted_by__gt=""),
                name="device_trusted_says_how",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["denied", "revoked"]) | models.Q(ended_at__isnull=False),
                name="device_ended_says_when",
            ),
        ]

    @property
    def is_usable(self) -> bool:
        return self.status in {self.Status.PENDING, self.Status.TRUSTED}


class RefreshTokenFamily(PublicIdModel):
    """One sign-in of the app on a device: the refresh tokens it rotates through share the family.
    Only the newest (``current_jti``) may be used; presenting an older one means a copy leaked, and
    the whole family is revoked. Access tokens name their family too, so revoking it (sign-out,
    reuse, the device revoked) ends them at once, not only at expiry."""

    PUBLIC_ID_PREFIX = "rtf"

    class RevokedReason(models.TextChoices):
        SIGNED_OUT = "signed_out"
        SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
        REUSE_DETECTED = "reuse_detected"
        DEVICE_ENDED = "device_ended"  # the device was denied or revoked

    consumer = models.ForeignKey(Consumer, on_delete=models.CASCADE, related_name="token_families")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="token_families")
    current_jti = models.CharField(max_length=64)  # the id of the only refresh token that may be used
    generation = models.PositiveIntegerField(default=1)  # how many refresh tokens the family has had
    refreshed_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=30, choices=RevokedReason.choices, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["consumer", "revoked_at"], name="token_family_consumer_live")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True, revoked_reason="")
                | models.Q(revoked_at__isnull=False, revoked_reason__gt=""),
                name="token_family_revoked_says_why",
            )
        ]


class SandboxMessage(BaseModel):
    """A message the sandbox sender 'delivered': shown in the sandbox inbox page instead of sent."""

    channel = models.CharField(max_length=10, choices=Channel.choices)
    destination = models.CharField(max_length=254, db_index=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()  # the text (an email's plain-text part)
    html = models.TextField(blank=True)  # an email's HTML part, shown rendered in a sandboxed frame

    class Meta:
        ordering = ["-created_at", "-id"]


class MerchantConsumer(MerchantOwnedModel):
    """A consumer as one merchant knows them: the ``cus_…`` id that merchant's API uses.

    Consumers have one account across every merchant; a merchant sees only the consumers who bought
    through its own checkout (in that mode), under an id of its own, so two merchants cannot match
    their customers through ours. Made when the consumer confirms a purchase at the merchant (its
    order is authorized), never merely because they opened its checkout: the link is what lets the
    merchant name the consumer in its API and send bank data for them.
    """

    PUBLIC_ID_PREFIX = "cus"

    consumer = models.ForeignKey(Consumer, on_delete=models.PROTECT, related_name="merchant_links")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["merchant", "livemode", "consumer"], name="merchant_consumer_unique")
        ]

    def __str__(self) -> str:
        return self.public_id
