"""Core data: the base model, the clock's persisted offset, the append-only audit log, the outbox
of events, and stored idempotent responses."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models

from bnpl.core import clock
from bnpl.core.ids import generate_public_id


class BaseModel(models.Model):
    """Timestamps from the project clock (not the wall clock), so sandbox time moves them too."""

    created_at = models.DateTimeField(default=clock.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.updated_at = clock.now()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "updated_at" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "updated_at"]
        super().save(*args, **kwargs)


class PublicIdModel(BaseModel):
    """A model with an opaque prefixed public id; subclasses set ``PUBLIC_ID_PREFIX``."""

    PUBLIC_ID_PREFIX: ClassVar[str] = ""

    public_id = models.CharField(max_length=40, unique=True, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.public_id

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.public_id:
            self.public_id = generate_public_id(self.PUBLIC_ID_PREFIX)
        super().save(*args, **kwargs)


class ClockState(models.Model):
    """The sandbox clock offset, one row. Shared by the web process and every worker."""

    SINGLETON_ID = 1

    offset_seconds = models.BigIntegerField(default=0)  # seconds added to the real UTC time
    updated_at = models.DateTimeField(auto_now=True)  # real (wall-clock) time of the last move

    class Meta:
        permissions = [("advance_clock", "Can move the sandbox clock forward")]
        constraints = [
            models.CheckConstraint(condition=models.Q(offset_seconds__gte=0), name="clock_offset_forward_only")
        ]

    def __str__(self) -> str:
        return f"clock offset {self.offset_seconds}s"


class AppendOnlyError(ValidationError):
    pass


class AppendOnlyModel(models.Model):
    """Rows are written once. Corrections are new rows. On PostgreSQL a trigger enforces this too."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only")


class AuditLogEntry(AppendOnlyModel):
    """Who did what, when, to which object, from what to what, in which request."""

    created_at = models.DateTimeField(default=clock.now, editable=False, db_index=True)
    actor_kind = models.CharField(max_length=20)
    actor_identifier = models.CharField(max_length=150)
    actor_label = models.CharField(max_length=200, blank=True)
    action = models.CharField(max_length=100, db_index=True)  # e.g. "merchant.approved"
    object_type = models.CharField(max_length=100)  # app_label.model
    object_id = models.CharField(max_length=64, db_index=True)  # the object's public id
    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit log entries"

    def __str__(self) -> str:
        return f"{self.action} {self.object_id} by {self.actor_identifier}"


class Event(PublicIdModel):
    """The outbox: a state change, written in the same transaction as the change it records.

    Dispatchers (webhooks, the data lake) read events in ``id`` order after commit. Events that
    concern one merchant carry it and the mode (test or live) so merchants see only their own.

    Every state change writes one, so its table (like the audit log's) keeps no index its reads do
    not use: none by merchant alone beside the one that leads with it, and on PostgreSQL none of
    the LIKE-pattern indexes Django makes beside a text column's (core migration 0005).
    """

    PUBLIC_ID_PREFIX = "evt"

    type = models.CharField(max_length=100, db_index=True)  # e.g. "merchant.approved"
    merchant = models.ForeignKey(
        "merchants.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="events",
        db_index=False,  # Meta.indexes' (merchant, livemode, -created_at) leads with it
    )
    livemode = models.BooleanField(default=False)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    data = models.JSONField()  # the object's public representation after the change
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["merchant", "livemode", "-created_at"])]


class IdempotencyKey(BaseModel):
    """The first response to a POST with a given ``Idempotency-Key``, stored to be replayed.

    Scoped to the merchant and the mode of the key that made the request (the partner API), or to
    an ``owner`` that is not a merchant (the consumer app API: the consumer, or before sign-in the
    address a code goes to). The unique constraint is the guard: the first request inserts the row
    (``in_progress``), a concurrent one gets a 409, and the response is stored in the same
    transaction as the work it reports.
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    merchant = models.ForeignKey(
        "merchants.Merchant", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    livemode = models.BooleanField()
    # Who the key belongs to when it is not a merchant's: "con_…" (a consumer), "sign_in:<hash>".
    owner = models.CharField(max_length=80, blank=True, default="", db_default="")
    key = models.CharField(max_length=255)
    request_method = models.CharField(max_length=10)
    request_path = models.CharField(max_length=500)
    request_fingerprint = models.CharField(max_length=64)  # sha256 of method, path and canonical body
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_PROGRESS)
    locked_at = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    response_body = models.BinaryField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["merchant", "livemode", "key"], name="idempotency_key_unique"),
            models.UniqueConstraint(
                fields=["owner", "key"], condition=models.Q(merchant__isnull=True), name="idempotency_key_owner_unique"
            ),
            models.CheckConstraint(
                condition=(models.Q(merchant__isnull=False) & models.Q(owner=""))
                | (models.Q(merchant__isnull=True) & ~models.Q(owner="")),
                name="idempotency_key_has_one_owner",
            ),
        ]

    def __str__(self) -> str:
        return self.key
