"""Every credit decision, kept with what it was based on (for adverse-action notices, monitoring
and, later, training)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from bnpl.core.models import PublicIdModel


class CreditDecision(PublicIdModel):
    PUBLIC_ID_PREFIX = "dec"

    class Outcome(models.TextChoices):
        APPROVED = "approved"
        DECLINED = "declined"
        REFERRED = "referred"  # close to the cutoff: a person decides (the manual review queue)

    class Review(models.TextChoices):
        APPROVED = "approved"
        DECLINED = "declined"

    consumer = models.ForeignKey("consumers.Consumer", on_delete=models.PROTECT, related_name="credit_decisions")
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="+")
    livemode = models.BooleanField(default=False)
    checkout_session = models.ForeignKey(
        "checkout.CheckoutSession", null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    product_kind = models.CharField(max_length=20)
    amount = models.BigIntegerField()  # minor units
    currency = models.CharField(max_length=3)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    reasons = models.JSONField(default=list)  # [{"code", "text"}], principal reasons first
    features = models.JSONField(default=dict)  # what the policy saw
    policy_version = models.CharField(max_length=50)
    model_inputs = models.JSONField(default=dict)  # the model's features (bureau + platform), None = unknown
    model_version = models.ForeignKey(
        "decisioning.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    score = models.FloatField(null=True, blank=True)  # calibrated probability of default from the champion
    cutoff_probability = models.FloatField(null=True, blank=True)  # declined at or above
    challenger_version = models.ForeignKey(
        "decisioning.ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="shadow_decisions"
    )
    challenger_score = models.FloatField(null=True, blank=True)  # scored in shadow, never acted on
    latency_ms = models.FloatField(null=True, blank=True)  # features + policy + model + reasons
    review_status = models.CharField(max_length=20, choices=Review.choices, blank=True)  # referred ones only
    review_note = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


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
