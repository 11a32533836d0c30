"""Every credit decision, kept with what it was based on (for adverse-action notices, monitoring
and, later, training)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models

from bnpl.core.models import BaseModel, PublicIdModel


class CreditDecision(PublicIdModel):
    """One decision, written on the checkout's hot path with its audit row and event in one
    statement. Its table keeps only the indexes its reads use (each index is a write and WAL on
    every decision): the consumer's decisions, a session's, the monitoring windows (by time and
    champion), a public id's; the challenger, the reviewer and approved referrals are indexed only
    where they are; no index by merchant (nothing reads decisions by merchant alone) and, on
    PostgreSQL, no pattern index on the public id (it is looked up whole; migration 0007 drops the
    one ``unique`` makes beside the unique index)."""

    PUBLIC_ID_PREFIX = "dec"

    class Outcome(models.TextChoices):
        APPROVED = "approved"
        # Approved for less than the order (``approved_amount``): the consumer pays the rest today as a
        # down payment (``down_payment_amount``), or goes back to the shop. Regulation B's counteroffer.
        APPROVED_WITH_DOWN_PAYMENT = "approved_with_down_payment"
        DECLINED = "declined"
        REFERRED = "referred"  # close to the cutoff: a person decides (the manual review queue)

    class Review(models.TextChoices):
        APPROVED = "approved"
        DECLINED = "declined"

    APPROVALS = (Outcome.APPROVED, Outcome.APPROVED_WITH_DOWN_PAYMENT)  # counted as approvals in monitoring

    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="credit_decisions")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+", db_index=False)
    livemode = models.BooleanField(default=False)
    checkout_session = models.ForeignKey(
        "checkout.CheckoutSession", null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    product_kind = models.CharField(max_length=20)
    amount = models.BigIntegerField()  # minor units
    currency = models.CharField(max_length=3)
    outcome = models.CharField(max_length=30, choices=Outcome.choices)
    spending_limit = models.BigIntegerField(null=True, blank=True)  # minor units the consumer may finance here
    approved_amount = models.BigIntegerField(null=True, blank=True)  # minor units lent (approvals only)
    down_payment_amount = models.BigIntegerField(default=0)  # minor units due today on top of the product's own
    reasons = models.JSONField(default=list)  # [{"code", "text"}], principal reasons first
    features = models.JSONField(default=dict)  # what the policy saw
    policy_version = models.CharField(max_length=50)
    model_inputs = models.JSONField(default=dict)  # the model's features (bureau + platform), None = unknown
    cash_flow = models.JSONField(default=dict)  # bank cash-flow features at decision time ({} without bank data)
    model_version = models.ForeignKey(
        "decisioning.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    score = models.FloatField(null=True, blank=True)  # calibrated probability of default from the champion
    cutoff_probability = models.FloatField(null=True, blank=True)  # declined at or above
    challenger_version = models.ForeignKey(
        "decisioning.ModelVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="shadow_decisions",
        db_index=False,  # indexed where set: Meta.indexes
    )
    challenger_score = models.FloatField(null=True, blank=True)  # scored in shadow, never acted on
    latency_ms = models.FloatField(null=True, blank=True)  # features + policy + model + reasons
    review_status = models.CharField(max_length=20, choices=Review.choices, blank=True)  # referred ones only
    review_note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # indexed where set: Meta.indexes
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["challenger_version"],
                condition=models.Q(challenger_version__isnull=False),
                name="credit_decision_challenger",
            ),
            models.Index(
                fields=["reviewed_by"], condition=models.Q(reviewed_by__isnull=False), name="credit_decision_reviewer"
            ),
            # Every decision asks whether a reviewer approved a referral of the same application
            # (``decisioning.inputs``): one probe of an index of the approved referrals alone.
            models.Index(
                fields=["checkout_session"],
                condition=models.Q(outcome="referred", review_status="approved"),
                name="credit_decision_approved_ref",
            ),
        ]


class ModelVersion(PublicIdModel):
    """One trained credit model: its artifact in storage (checked by sha256 before use), the feature
    spec it was trained with, and how it did in cross-validation.

    Invariants, held by the database: versions are unique per name, and a name has at most one
    champion (the model decisions use) and at most one challenger (scored in shadow, never acted on).
    Status changes go through ``decisioning.registry`` only, each audited.
    """

    PUBLIC_ID_PREFIX = "mdl"

    class Status(models.TextChoices):
        CANDIDATE = "candidate"
        CHAMPION = "champion"
        CHALLENGER = "challenger"
        RETIRED = "retired"

    name = models.CharField(max_length=50)  # the model family, e.g. "credit"
    version = models.PositiveIntegerField()  # 1, 2, … within the name
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CANDIDATE)
    artifact_path = models.CharField(max_length=255)  # storage name of the UBJSON booster
    artifact_sha256 = models.CharField(max_length=64)  # hex digest of the artifact's bytes
    feature_spec = models.JSONField()  # {label, features: [{name, monotone, reason}], protected, comment}
    metrics = models.JSONField(default=dict)  # out-of-fold AUC, KS, Brier, calibration table, importance…
    training_fingerprint = models.CharField(max_length=100)  # "sha256:<hex> rows=<n> columns=<m>"
    score_distribution = models.JSONField(default=dict)  # {edges: 9 decile cut points, counts: 10}, for PSI
    cutoff_probability = models.FloatField(default=0.2)  # decline at or above this calibrated default probability
    trained_at = models.DateTimeField()
    promoted_at = models.DateTimeField(null=True, blank=True)  # last promotion to champion or challenger
    replaced_champion = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )  # the champion this one displaced: what a rollback re-promotes

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="model_version_unique_per_name"),
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(status="champion"), name="model_version_one_champion_per_name"
            ),
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(status="challenger"),
                name="model_version_one_challenger_per_name",
            ),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="model_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.status})"


class DataSource(PublicIdModel):
    """Where alternative data comes from: a merchant sending bank data through the partner API, or a
    data partner (``partners.DataPartner``, an open-banking aggregator) sending it through its own
    API under consents the consumer granted it in their account. Every consent, bank transaction and
    cash-flow total names its source, so that data from one source reaches decisions elsewhere only
    under the consumer's own consent to that (``BankDataConsent.Scope``)."""

    PUBLIC_ID_PREFIX = "src"

    class Kind(models.TextChoices):
        MERCHANT = "merchant"
        PARTNER = "partner"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    merchant = models.OneToOneField(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="data_source"
    )
    partner = models.OneToOneField(
        "partners.DataPartner", null=True, blank=True, on_delete=models.PROTECT, related_name="data_source"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="merchant", merchant__isnull=False, partner__isnull=True)
                | models.Q(kind="partner", partner__isnull=False, merchant__isnull=True),
                name="data_source_names_its_sender",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        """What the consumer sees as the source."""
        if self.merchant is not None:
            return self.merchant.name
        return self.partner.name if self.partner is not None else self.public_id

    @property
    def is_partner(self) -> bool:
        return self.kind == self.Kind.PARTNER


class BankDataConsent(PublicIdModel):
    """A consumer's consent for one source to share their bank transactions with us, in one mode.

    The consent belongs to the consumer: a source may record that the consumer consented on its
    site (its own assertion, so at most its own decisions use the data: ``Scope.SOURCE``); only the
    consumer, in their account, widens it to every decision (``Scope.ALL_DECISIONS``), narrows it
    again, revokes it, or grants again what they revoked. Transactions are refused without a current
    consent, and revoking or expiry deletes what was shared under it."""

    PUBLIC_ID_PREFIX = "bdc"

    class Scope(models.TextChoices):
        SOURCE = "source"  # decisions for purchases at the source that shared the data
        ALL_DECISIONS = "all_decisions"  # every decision about the consumer: set by the consumer only

    class RevokedBy(models.TextChoices):
        SOURCE = "source"
        CONSUMER = "consumer"

    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="bank_data_consents")
    livemode = models.BooleanField(default=False)
    source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="consents")
    reference = models.CharField(max_length=200)  # the source's own record of the consent (e.g. its consent id)
    granted_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.CharField(max_length=20, choices=RevokedBy.choices, blank=True)  # blank unless revoked
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.SOURCE)
    scope_changed_at = models.DateTimeField(null=True, blank=True)  # when the consumer last chose the scope

    class Meta:
        ordering = ["-granted_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "livemode", "consumer"], name="bank_data_consent_one_per_source"),
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True, revoked_by="")
                | models.Q(revoked_at__isnull=False, revoked_by__in=["source", "consumer"]),
                name="bank_data_consent_revocation_says_by_whom",
            ),
        ]

    def is_current(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and self.granted_at <= now and (self.expires_at is None or now < self.expires_at)

    @classmethod
    def current_at(cls, now: dt.datetime) -> models.Q:
        """``is_current`` as a filter."""
        return models.Q(revoked_at__isnull=True, granted_at__lte=now) & (
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )

    @property
    def status(self) -> str:
        """active, expired or revoked (read against the project clock)."""
        from bnpl.core import clock

        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.is_current(clock.now()) else "expired"


class BankTransaction(BaseModel):
    """One bank-account transaction a source sent, kept once per (consent, transaction id): a consent
    names one source, consumer and mode."""

    class Category(models.TextChoices):
        INCOME = "income"  # payroll, benefits, pension: what the consumer lives on
        DEBT_PAYMENT = "debt_payment"  # loan, card or BNPL repayments
        NSF_FEE = "nsf_fee"  # a payment returned for insufficient funds
        OVERDRAFT_FEE = "overdraft_fee"
        TRANSFER = "transfer"  # between the consumer's own accounts: not income, not spending
        OTHER = "other"

    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="bank_transactions")
    livemode = models.BooleanField(default=False)
    source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="+")  # who sent it (the consent's)
    consent = models.ForeignKey(BankDataConsent, on_delete=models.PROTECT, related_name="transactions")
    external_id = models.CharField(max_length=100)  # the source's transaction id
    account_id = models.CharField(max_length=100)
    booked_on = models.DateField()
    amount = models.BigIntegerField()  # minor units: positive money in, negative money out
    currency = models.CharField(max_length=3)
    balance_after = models.BigIntegerField(null=True, blank=True)  # minor units, as the bank reported it
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.OTHER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consent", "external_id"], name="bank_transaction_once_per_consent"),
            models.CheckConstraint(condition=~models.Q(amount=0), name="bank_transaction_amount_not_zero"),
        ]
        indexes = [models.Index(fields=["consumer", "livemode", "currency", "booked_on"])]


class CashFlowMonth(BaseModel):
    """A consumer's bank cash flow in one calendar month and currency, as shared by one source under
    one consent, kept up to date as transactions arrive (each new transaction adds to its month), so
    a decision reads a few rows instead of every transaction, and only the rows of consents that
    may feed it. ``source`` is the consent's (a consent's source never changes)."""

    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.CASCADE, related_name="cash_flow_months")
    livemode = models.BooleanField(default=False)
    source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="+")
    consent = models.ForeignKey(BankDataConsent, on_delete=models.CASCADE, related_name="cash_flow_months")
    currency = models.CharField(max_length=3)
    month = models.DateField()  # the first day of the month
    inflow_amount = models.BigIntegerField(default=0)  # minor units in, transfers excluded
    outflow_amount = models.BigIntegerField(default=0)  # minor units out (positive), transfers excluded
    income_amount = models.BigIntegerField(default=0)
    debt_payment_amount = models.BigIntegerField(default=0)  # positive
    nsf_count = models.PositiveIntegerField(default=0)
    overdraft_count = models.PositiveIntegerField(default=0)  # overdraft fees and balances below zero
    transaction_count = models.PositiveIntegerField(default=0)
    balance_sum = models.BigIntegerField(default=0)  # of the reported balances, for their mean
    balance_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["consumer", "currency", "month"]
        constraints = [
            models.UniqueConstraint(fields=["consent", "currency", "month"], name="cash_flow_month_unique_per_consent")
        ]
        indexes = [models.Index(fields=["consumer", "livemode", "currency", "month"])]
