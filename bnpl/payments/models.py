"""Cards and the money moved on them. Card numbers never reach the database: a gateway token does."""

from __future__ import annotations

from django.db import models

from bnpl.core.models import BaseModel, PublicIdModel


class PaymentMethod(PublicIdModel):
    """A saved card, in one mode: saved through that mode's gateway, it pays for that mode's plans
    only (a live card never pays a test checkout, a test card never a live one). Each mode has its
    own default card, the one collections charge."""

    PUBLIC_ID_PREFIX = "pm"

    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="payment_methods")
    livemode = models.BooleanField()  # the mode of the gateway that saved it
    gateway = models.CharField(max_length=20)  # "sandbox" or "stripe"
    gateway_token = models.CharField(max_length=200)  # the gateway's reference to the card
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    is_default = models.BooleanField(default=True)  # the default card of its consumer in its mode

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["consumer", "livemode"],
                condition=models.Q(is_default=True),
                name="payment_method_one_default_per_mode",
            )
        ]

    def __str__(self) -> str:
        return f"{self.brand} •••• {self.last4}"


class Charge(PublicIdModel):
    """One attempt to take money from a card (or give it back: ``kind`` refund)."""

    PUBLIC_ID_PREFIX = "ch"

    class Kind(models.TextChoices):
        PAYMENT = "payment"
        REFUND = "refund"

    class Status(models.TextChoices):
        PENDING = "pending"  # written before the gateway is called; settled after
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="charges")
    payment_method = models.ForeignKey(PaymentMethod, on_delete=models.PROTECT, related_name="charges")
    plan = models.ForeignKey("plans.Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="charges")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PAYMENT)
    refunded_charge = models.ForeignKey(  # for a refund: the payment it gives money back from
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="refund_charges"
    )
    amount = models.BigIntegerField()  # minor units, always positive
    currency = models.CharField(max_length=3)
    livemode = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices)
    failure_code = models.CharField(max_length=50, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    gateway_reference = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=200, unique=True)
    applied_at = models.DateTimeField(
        null=True, blank=True
    )  # when a payment was applied to its plan (once)  # derived from our own row: never charge twice

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The pending few, which the every-minute settle sweep looks for among every charge ever made.
            models.Index(fields=["created_at"], name="charge_pending", condition=models.Q(status="pending")),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="charge_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(kind="payment", refunded_charge__isnull=True)
                | models.Q(kind="refund", refunded_charge__isnull=False),
                name="charge_refund_names_its_payment",
            ),
        ]

    @property
    def refundable_amount(self) -> int:
        """What is left to give back from this payment (refunds not failed count against it)."""
        given_back = self.refund_charges.exclude(status=self.Status.FAILED).aggregate(total=models.Sum("amount"))
        return self.amount - (given_back["total"] or 0)


class SandboxGatewayCharge(models.Model):
    """What the sandbox gateway 'processed', keyed by the idempotency key the caller sent (as a real
    processor keeps its own record): the same key returns the first result and never moves money
    twice. Lets tests and operators see, from the gateway's side, how many times money moved."""

    class Kind(models.TextChoices):
        CHARGE = "charge"
        REFUND = "refund"
        PAYOUT = "payout"

    idempotency_key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    succeeded = models.BooleanField()
    reference = models.CharField(max_length=200)
    failure_code = models.CharField(max_length=50, blank=True)
    failure_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.reference


class GatewayCustomer(models.Model):
    """A consumer as a gateway knows them, per mode (Stripe: one Customer per consumer in each mode's
    account data; a test Customer cannot be charged with live keys, nor the reverse)."""

    gateway = models.CharField(max_length=20)
    livemode = models.BooleanField()
    holder = models.CharField(max_length=40)  # our consumer's public id
    reference = models.CharField(max_length=200)  # e.g. cus_…

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gateway", "livemode", "holder"], name="gateway_customer_once_per_mode")
        ]

    def __str__(self) -> str:
        return self.reference


class StripeWebhookEvent(models.Model):
    """A Stripe event received (deduplicated by its id): delivered twice, applied once."""

    event_id = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=100)
    livemode = models.BooleanField(null=True)  # the mode whose signing secret verified it (null: before modes)
    received_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.event_id


class ConsumerBalance(PublicIdModel):
    """Money the platform holds for a consumer because a refund to their card failed for good (the
    bank refused it: a closed account, an expired card). It is applied to their next installments
    (``applied_amount``) or paid out another way an operator chooses (``paid_out_amount``); until
    then the ledger's ``consumer_credit`` account carries it, so the consumer is never owed money
    without a record of it. One per failed refund (``source_charge``): recording it twice is a no-op."""

    PUBLIC_ID_PREFIX = "bal"

    class PayoutMethod(models.TextChoices):
        BANK_TRANSFER = "bank_transfer"
        CHECK = "check"
        OTHER_CARD = "other_card"

    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="balances")
    livemode = models.BooleanField()
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()  # minor units, what the failed refund should have returned
    source_charge = models.OneToOneField(Charge, on_delete=models.PROTECT, related_name="balance")
    plan = models.ForeignKey(  # the plan the refund came from, when there was one
        "plans.Plan", null=True, blank=True, on_delete=models.PROTECT, related_name="balances"
    )
    applied_amount = models.BigIntegerField(default=0)
    paid_out_amount = models.BigIntegerField(default=0)
    paid_out_method = models.CharField(max_length=20, choices=PayoutMethod.choices, blank=True)
    paid_out_reference = models.CharField(max_length=200, blank=True)
    paid_out_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="consumer_balance_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(applied_amount__gte=0, paid_out_amount__gte=0)
                & models.Q(amount__gte=models.F("applied_amount") + models.F("paid_out_amount")),
                name="consumer_balance_never_overspent",
            ),
        ]

    @property
    def remaining_amount(self) -> int:
        return self.amount - self.applied_amount - self.paid_out_amount


class BalanceApplication(BaseModel):
    """Part of a consumer's balance paid toward one plan (its installments). Kept so that money
    going back from that plan -- a refund or void that leaves the consumer paid beyond what they
    owe -- returns to the balance it came from, as card payments return to their cards."""

    balance = models.ForeignKey(ConsumerBalance, on_delete=models.PROTECT, related_name="applications")
    plan = models.ForeignKey("plans.Plan", on_delete=models.PROTECT, related_name="balance_applications")
    amount = models.BigIntegerField()  # minor units applied
    returned_amount = models.BigIntegerField(default=0)  # given back to the balance since

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0, returned_amount__gte=0, returned_amount__lte=models.F("amount")),
                name="balance_application_returns_at_most_what_it_paid",
            )
        ]
