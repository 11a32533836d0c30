"""Payment products (configuration per merchant and mode) and the plans consumers repay."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from bnpl.core.models import BaseModel
from bnpl.core.money import MAX_AMOUNT
from bnpl.plans.schedule import DisclosedTerms
from merchants.models import MerchantOwnedModel


class ProductKind(models.TextChoices):
    PAY_IN_4 = "pay_in_4", "Pay in 4"  # 25% today, then every 2 weeks, no interest
    PAY_IN_30 = "pay_in_30", "Pay in 30 days"  # everything 30 days later, no interest
    FINANCING = "financing", "Monthly financing"  # monthly payments with interest (APR)


class RefundPolicy(models.TextChoices):
    LAST_FIRST = "last_first", "Reduce the last installments first"
    EVEN_SPREAD = "even_spread", "Spread evenly over the remaining installments"


class PaymentProduct(MerchantOwnedModel):
    """One way to pay that a merchant offers, with its limits, price and rules. Data, not code."""

    PUBLIC_ID_PREFIX = "prod"

    kind = models.CharField(max_length=20, choices=ProductKind.choices)
    name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3)  # ISO 4217
    is_enabled = models.BooleanField(default=True)
    installment_count = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(360)]
    )  # 4 for pay in 4, 1 for pay in 30, months for financing
    interval_days = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(366)]
    )  # days between payments (0: monthly)
    apr_bps = models.PositiveIntegerField(default=0, validators=[MaxValueValidator(36_000)])  # 1999 = 19.99%
    down_payment_bps = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(9_999)]
    )  # share of the order paid today (financing)
    min_amount = models.BigIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)])  # minor
    max_amount = models.BigIntegerField(validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)])  # minor
    merchant_fee_bps = models.PositiveIntegerField(
        default=0, validators=[MaxValueValidator(10_000)]
    )  # share of each capture kept as our fee
    merchant_fee_fixed_amount = models.BigIntegerField(default=0)  # minor units per order, at first capture
    late_fee_amount = models.BigIntegerField(default=0)  # minor units per missed installment
    late_fee_grace_days = models.PositiveSmallIntegerField(default=10)
    late_fee_cap_bps = models.PositiveIntegerField(
        default=2500, validators=[MaxValueValidator(10_000)]
    )  # total late fees at most this share of the order
    late_fee_cap_amount = models.BigIntegerField(default=0)  # … and at most this much (0: no fixed cap)
    refund_policy = models.CharField(max_length=20, choices=RefundPolicy.choices, default=RefundPolicy.LAST_FIRST)
    # The credit model's cutoff for this product (probability of default at or above which it declines);
    # empty: the champion model's own cutoff. Longer financing usually wants a stricter one.
    credit_cutoff_probability = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)]
    )

    # The most one consumer may finance with this product at the best score (the limit falls with
    # risk; see decisioning.limits); empty: the product's maximum amount.
    spending_limit_amount = models.BigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_AMOUNT)]
    )

    class Meta:
        ordering = ["kind", "installment_count"]
        constraints = [
            models.CheckConstraint(condition=models.Q(min_amount__gt=0), name="product_min_positive"),
            models.CheckConstraint(
                condition=models.Q(max_amount__gte=models.F("min_amount")), name="product_max_ge_min"
            ),
            models.CheckConstraint(condition=models.Q(installment_count__gte=1), name="product_count_positive"),
            models.UniqueConstraint(
                fields=["merchant", "livemode", "currency", "kind", "installment_count"], name="product_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"


class Plan(MerchantOwnedModel):
    """What a consumer repays for one order: installments with due dates. Its total is what was
    authorized less what was voided or refunded, plus interest where the product charges it."""

    PUBLIC_ID_PREFIX = "pln"

    class Status(models.TextChoices):
        ACTIVE = "active"  # installments left to pay
        PAID = "paid"  # every installment paid
        CANCELED = "canceled"  # nothing left to pay because the order was voided or refunded in full

    class Standing(models.TextChoices):
        """How far behind the consumer is (bnpl.collections moves it daily)."""

        CURRENT = "current"
        LATE = "late"  # an installment is past due
        DELINQUENT = "delinquent"  # past due COLLECTION_DELINQUENT_AFTER_DAYS or more
        CHARGED_OFF = "charged_off"  # written off after COLLECTION_CHARGE_OFF_AFTER_DAYS: no more collection

    order = models.OneToOneField("checkout.Order", on_delete=models.PROTECT, related_name="plan")
    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="plans")
    product = models.ForeignKey(PaymentProduct, on_delete=models.PROTECT, related_name="plans")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    # The product's NOMINAL annual interest rate, copied at purchase (999 = 9.99%): what each month's
    # interest is computed at. Not the disclosed APR (below), which Appendix J computes from the schedule.
    apr_bps = models.PositiveIntegerField(default=0)
    standing = models.CharField(max_length=20, choices=Standing.choices, default=Standing.CURRENT)
    # Collections and late fees wait, and the standing cannot worsen, while a hardship request is
    # open or granted (bnpl.servicing.actions.plan_pause / plan_resume_if_clear). A return or
    # dispute holds only its share of the plan instead (``Installment.held_since``).
    collections_paused = models.BooleanField(default=False)
    paused_since = models.DateField(null=True, blank=True)
    due_date_moved = models.BooleanField(default=False)  # the one self-service move a plan allows
    refund_policy = models.CharField(max_length=20, choices=RefundPolicy.choices)
    # The Truth in Lending box exactly as the shopper saw it when buying, kept: a refund or a payoff
    # changes the schedule, never what was disclosed. Empty only for a plan bought before these were
    # kept whose first schedule could not be read back (migration 0010).
    disclosed_apr = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True
    )  # percent, two decimals (9.98 = 9.98%)
    disclosed_financed_amount = models.BigIntegerField(null=True, blank=True)  # minor units: the amount financed
    disclosed_finance_charge_amount = models.BigIntegerField(null=True, blank=True)  # minor units
    disclosed_total_of_payments_amount = models.BigIntegerField(null=True, blank=True)  # minor units

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    disclosed_apr__isnull=True,
                    disclosed_financed_amount__isnull=True,
                    disclosed_finance_charge_amount__isnull=True,
                    disclosed_total_of_payments_amount__isnull=True,
                )
                | models.Q(
                    disclosed_apr__gte=0,
                    disclosed_financed_amount__gte=0,
                    disclosed_finance_charge_amount__gte=0,
                    disclosed_total_of_payments_amount=models.F("disclosed_financed_amount")
                    + models.F("disclosed_finance_charge_amount"),
                ),
                name="plan_disclosure_whole_and_adds_up",
            )
        ]

    @property
    def disclosure(self) -> DisclosedTerms | None:
        """The Truth in Lending figures disclosed at purchase (None: not known for this old plan)."""
        if (
            self.disclosed_apr is None
            or self.disclosed_financed_amount is None
            or self.disclosed_finance_charge_amount is None
            or self.disclosed_total_of_payments_amount is None
        ):
            return None
        return DisclosedTerms(
            apr=self.disclosed_apr,
            amount_financed=self.disclosed_financed_amount,
            finance_charge=self.disclosed_finance_charge_amount,
            total_of_payments=self.disclosed_total_of_payments_amount,
        )


class InstallmentQuerySet(models.QuerySet["Installment"]):
    def collectable(self) -> InstallmentQuerySet:
        """Still to pay on a plan we collect: active, not charged off, not paused, and not held by an
        open return or dispute. The one definition collections, reminders and re-arming share."""
        return self.filter(
            status=Installment.Status.SCHEDULED,
            plan__status=Plan.Status.ACTIVE,
            plan__collections_paused=False,
            held_since__isnull=True,
        ).exclude(plan__standing=Plan.Standing.CHARGED_OFF)


class Installment(BaseModel):
    class Status(models.TextChoices):
        SCHEDULED = "scheduled"
        PAID = "paid"
        CANCELED = "canceled"  # reduced to nothing by a refund or void

    objects = InstallmentQuerySet.as_manager()

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="installments")
    sequence = models.PositiveSmallIntegerField()  # 1-based, in due-date order
    due_date = models.DateField()
    amount = models.BigIntegerField()  # minor units owed in total (principal + interest)
    principal_amount = models.BigIntegerField()
    interest_amount = models.BigIntegerField(default=0)
    paid_amount = models.BigIntegerField(default=0)
    paid_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    # When collections next charges it: the due date, then each retry's date; empty: not
    # automatically (retries used up, or a failure no retry can fix -- the consumer acts).
    collect_on = models.DateField(null=True, blank=True)
    # A late fee is an installment of its own (principal and interest 0), for the installment it was
    # charged on; at most one per installment.
    fee_amount = models.BigIntegerField(default=0)
    fee_for = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="late_fee")
    # The day an open return or dispute began holding this installment as part of the amount in
    # question (bnpl.checkout.disputes): not collected, no late fee, and its lateness frozen as it
    # was that day, until the dispute closes. Empty: not held.
    held_since = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["plan", "sequence"]
        indexes = [
            # What collections claims, in its order: scheduled installments whose collection date is
            # set (claiming clears it). Partial, so it holds the few due or coming rather than every
            # installment ever paid: without it each batch's claim read the whole table.
            models.Index(
                fields=["collect_on", "id"],
                name="installment_due",
                condition=models.Q(status="scheduled", collect_on__isnull=False),
            ),
            # Still to pay, by due date: lateness (every 30 minutes) and reminders look up the
            # overdue and the coming; paid and canceled installments, most of the table, stay out.
            models.Index(fields=["due_date"], name="installment_open_by_due", condition=models.Q(status="scheduled")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["plan", "sequence"], name="installment_sequence_unique"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="installment_amount_not_negative"),
            models.CheckConstraint(
                condition=models.Q(
                    amount=models.F("principal_amount") + models.F("interest_amount") + models.F("fee_amount")
                ),
                name="installment_amount_is_principal_interest_and_fee",
            ),
            models.CheckConstraint(
                condition=models.Q(paid_amount__gte=0) & models.Q(paid_amount__lte=models.F("amount")),
                name="installment_paid_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plan_id}#{self.sequence}"

    @property
    def remaining_amount(self) -> int:
        return self.amount - self.paid_amount

    @property
    def is_on_hold(self) -> bool:
        return self.held_since is not None
