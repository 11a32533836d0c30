"""Checkout sessions (a merchant sends a shopper to pay later) and orders (what the merchant then
captures, voids and refunds)."""

from __future__ import annotations

from django.db import models

from bnpl.core.models import BaseModel
from merchants.models import MerchantOwnedModel


class CheckoutSession(MerchantOwnedModel):
    PUBLIC_ID_PREFIX = "cs"

    class Status(models.TextChoices):
        OPEN = "open"  # waiting for the shopper
        COMPLETE = "complete"  # approved: an order exists
        DECLINED = "declined"  # the credit decision said no
        IN_REVIEW = "in_review"  # referred to a person; the shopper is emailed the outcome
        CANCELED = "canceled"  # the shopper went back to the merchant
        EXPIRED = "expired"  # nobody finished it in time

    amount = models.BigIntegerField()  # minor units
    currency = models.CharField(max_length=3)  # ISO 4217
    line_items = models.JSONField(default=list)  # [{name, quantity, unit_amount, total_amount, sku?}]
    merchant_reference = models.CharField(max_length=200, blank=True)
    customer_email = models.EmailField(blank=True)
    customer_phone = models.CharField(max_length=20, blank=True)  # E.164
    return_url = models.URLField(max_length=2048)
    cancel_url = models.URLField(max_length=2048)
    product_kinds = models.JSONField(default=list)  # offer only these kinds ([] = every enabled product)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN, db_index=True)
    expires_at = models.DateTimeField()
    consumer = models.ForeignKey(
        "consumers.Consumer", null=True, blank=True, on_delete=models.PROTECT, related_name="checkout_sessions"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="session_amount_positive")]


class Order(MerchantOwnedModel):
    """An authorization the merchant draws on. Amounts are minor units of ``currency``.

    Invariants (checked by constraints): captured + voided <= authorized; refunded <= captured.
    """

    PUBLIC_ID_PREFIX = "ord"

    class Status(models.TextChoices):
        AUTHORIZED = "authorized"  # nothing captured yet
        PART_CAPTURED = "part_captured"  # some captured, some still open
        CAPTURED = "captured"  # nothing left open: everything captured (or the rest voided)
        VOIDED = "voided"  # the whole authorization released, nothing captured
        EXPIRED = "expired"  # the authorization ran out before anything was captured
        REFUNDED = "refunded"  # everything captured was refunded

    checkout_session = models.OneToOneField(CheckoutSession, on_delete=models.PROTECT, related_name="order")
    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="orders")
    currency = models.CharField(max_length=3)
    authorized_amount = models.BigIntegerField()
    captured_amount = models.BigIntegerField(default=0)
    voided_amount = models.BigIntegerField(default=0)
    refunded_amount = models.BigIntegerField(default=0)
    merchant_fee_amount = models.BigIntegerField(default=0)  # fees kept so far, net of refunded fees
    merchant_fee_bps = models.PositiveIntegerField(default=0)  # the product's terms at purchase, kept
    merchant_fee_fixed_amount = models.BigIntegerField(default=0)  # charged once, at the first capture
    merchant_reference = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.AUTHORIZED, db_index=True)
    authorization_expires_at = models.DateTimeField()
    expiry_warning_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(authorized_amount__gt=0), name="order_authorized_positive"),
            models.CheckConstraint(
                condition=models.Q(captured_amount__gte=0, voided_amount__gte=0, refunded_amount__gte=0),
                name="order_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=models.Q(captured_amount__lte=models.F("authorized_amount") - models.F("voided_amount")),
                name="order_captured_within_authorized",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__lte=models.F("captured_amount")),
                name="order_refunded_within_captured",
            ),
        ]

    @property
    def open_amount(self) -> int:
        """Authorized, not yet captured or voided: what the merchant may still capture."""
        return self.authorized_amount - self.captured_amount - self.voided_amount

    @property
    def refundable_amount(self) -> int:
        return self.captured_amount - self.refunded_amount


class Capture(MerchantOwnedModel):
    PUBLIC_ID_PREFIX = "cap"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="captures")
    amount = models.BigIntegerField()
    merchant_fee_amount = models.BigIntegerField()
    merchant_reference = models.CharField(max_length=200, blank=True)  # e.g. the shipment
    settlement = models.ForeignKey(
        "merchants.Settlement", null=True, blank=True, on_delete=models.PROTECT, related_name="captures"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="capture_amount_positive")]


class Refund(MerchantOwnedModel):
    PUBLIC_ID_PREFIX = "re"

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    merchant_fee_refunded_amount = models.BigIntegerField(default=0)
    applied_to_plan_amount = models.BigIntegerField(default=0)  # taken off installments still to pay
    returned_to_card_amount = models.BigIntegerField(default=0)  # paid already, so sent back to the card
    reason = models.CharField(max_length=200, blank=True)
    settlement = models.ForeignKey(
        "merchants.Settlement", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds"
    )

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_positive")]


class Dispute(MerchantOwnedModel):
    """A consumer's return or dispute about an order. While it is open the plan's collections and
    late fees pause and its standing cannot worsen; the merchant answers by refunding or by
    contesting with evidence, and an operator decides contested ones.

    ``amount`` is what is in question (at most what was refundable when it opened). It resolves as
    ``refunded`` once the order has been refunded by at least that much since it opened.
    """

    PUBLIC_ID_PREFIX = "dp"

    class Kind(models.TextChoices):
        RETURN = "return"  # the consumer sent goods back and waits for the refund
        DISPUTE = "dispute"  # the consumer disagrees with the charge (not received, not as described…)

    class Reason(models.TextChoices):
        RETURNED = "returned"
        NOT_RECEIVED = "not_received"
        NOT_AS_DESCRIBED = "not_as_described"
        CANCELED_ORDER = "canceled_order"
        INCORRECT_AMOUNT = "incorrect_amount"
        OTHER = "other"

    class Status(models.TextChoices):
        NEEDS_RESPONSE = "needs_response"  # waiting for the merchant (until respond_by)
        UNDER_REVIEW = "under_review"  # contested, or the merchant did not answer: an operator decides
        REFUNDED = "refunded"  # the merchant refunded the amount (closed for the consumer)
        WON = "won"  # decided for the merchant: collections resume
        LOST = "lost"  # decided for the consumer: the amount was refunded
        WITHDRAWN = "withdrawn"  # the consumer withdrew it: collections resume

    class Source(models.TextChoices):
        CONSUMER = "consumer"  # opened in the portal
        CARD_NETWORK = "card_network"  # a chargeback the consumer raised with their card's bank

    OPEN_STATUSES = (Status.NEEDS_RESPONSE, Status.UNDER_REVIEW)

    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="disputes")
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.CONSUMER)
    gateway_reference = models.CharField(max_length=200, blank=True)  # the gateway's dispute (Stripe dp_…)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.CharField(max_length=30, choices=Reason.choices)
    amount = models.BigIntegerField()
    description = models.TextField(blank=True)  # the consumer's words, shown to the merchant
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.NEEDS_RESPONSE, db_index=True)
    respond_by = models.DateTimeField()
    refunded_at_open = models.BigIntegerField()  # order.refunded_amount when it opened
    evidence = models.TextField(blank=True)  # the merchant's answer when contesting
    decision_note = models.TextField(blank=True)  # the operator's, when deciding
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="dispute_amount_positive"),
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(status__in=["needs_response", "under_review"]),
                name="dispute_one_open_per_order",
            ),
            models.UniqueConstraint(
                fields=["gateway_reference"],
                condition=~models.Q(gateway_reference=""),
                name="dispute_gateway_reference_once",
            ),
        ]

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class CheckoutCardClearance(BaseModel):
    """A card the shopper may pay with at this checkout without a step-up: one they typed in here
    (``entered``), or a saved card they confirmed with a fresh one-time code (``one_time_code``).
    Needed for a saved card at a merchant where the shopper has no confirmed purchase yet
    (``bnpl.checkout.step_up``); one row per session, consumer and card."""

    class Via(models.TextChoices):
        ENTERED = "entered"
        ONE_TIME_CODE = "one_time_code"

    checkout_session = models.ForeignKey(CheckoutSession, on_delete=models.PROTECT, related_name="card_clearances")
    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="+")
    payment_method = models.ForeignKey("payments.PaymentMethod", on_delete=models.PROTECT, related_name="+")
    via = models.CharField(max_length=20, choices=Via.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["checkout_session", "consumer", "payment_method"], name="checkout_card_cleared_once"
            )
        ]


class Prequalification(BaseModel):
    """The credit decision on one payment option of a session for its signed-in shopper, made
    before any card is asked for: the page offers only what these approve, and the confirmation is
    governed by the same decision (``bnpl.checkout.confirmation``)."""

    checkout_session = models.ForeignKey(CheckoutSession, on_delete=models.PROTECT, related_name="prequalifications")
    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="+")
    product = models.ForeignKey("plans.PaymentProduct", on_delete=models.PROTECT, related_name="+")
    decision = models.ForeignKey("decisioning.CreditDecision", on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["checkout_session", "consumer", "product"], name="prequalification_once_per_option"
            )
        ]
