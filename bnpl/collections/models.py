"""Collection attempts: one row per try at charging a due installment off-session."""

from __future__ import annotations

from django.db import models

from bnpl.core.models import BaseModel


class CollectionAttempt(BaseModel):
    """Attempt ``number`` at an installment, with the charge it made (whose idempotency key is
    derived from this row: plan, installment, attempt). The database holds the invariants: one
    attempt per (installment, number), and at most one ``processing`` per installment, so no two
    workers can charge the same installment at once."""

    class Status(models.TextChoices):
        PROCESSING = "processing"  # claimed; the charge may or may not have reached the gateway
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    installment = models.ForeignKey("plans.Installment", on_delete=models.PROTECT, related_name="collection_attempts")
    number = models.PositiveSmallIntegerField()  # 1, 2, … per installment
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROCESSING)
    charge = models.OneToOneField("payments.Charge", on_delete=models.PROTECT, related_name="collection_attempt")
    amount = models.BigIntegerField()  # minor units asked
    failure_code = models.CharField(max_length=50, blank=True)
    retry_on = models.DateField(null=True, blank=True)  # after a failure: when the next attempt is due
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["installment", "number"], name="collection_attempt_number_unique"),
            models.UniqueConstraint(
                fields=["installment"],
                condition=models.Q(status="processing"),
                name="collection_attempt_one_processing",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="collection_attempt_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} on installment {self.installment_id}"


class Reminder(BaseModel):
    """A reminder or notice sent about an installment, once per kind (the send is idempotent)."""

    installment = models.ForeignKey("plans.Installment", on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=50)  # "upcoming", "payment_failed:<attempt>"
    channels = models.CharField(max_length=20, blank=True)  # "email,sms" as sent ("" when the consumer opted out)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["installment", "kind"], name="reminder_once_per_kind")]


class HardshipRequest(BaseModel):
    """A consumer asking for room to pay. Collections and late fees on the plan pause until an
    operator decides (admin: the hardship queue)."""

    class Status(models.TextChoices):
        OPEN = "open"
        GRANTED = "granted"  # the operator agreed a new arrangement (collections stay paused)
        DECLINED = "declined"  # collections resume

    plan = models.ForeignKey("plans.Plan", on_delete=models.PROTECT, related_name="hardship_requests")
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    decision_note = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan"], condition=models.Q(status="open"), name="hardship_one_open_per_plan"
            )
        ]
