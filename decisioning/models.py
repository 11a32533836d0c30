"""Every credit decision, kept with what it was based on (for adverse-action notices, monitoring
and, later, training)."""

from __future__ import annotations

from django.db import models

from bnpl.core.models import PublicIdModel


class CreditDecision(PublicIdModel):
    PUBLIC_ID_PREFIX = "dec"

    class Outcome(models.TextChoices):
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
    features = models.JSONField(default=dict)  # what the decision saw
    policy_version = models.CharField(max_length=50)

    class Meta:
        ordering = ["-created_at"]
