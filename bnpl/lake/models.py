"""How far the data lake has been exported, and every export batch.

The database, not the bucket, says what is done: a batch is planned here (its key range fixed)
before any file is written, its files and manifest are uploaded, and only then is it marked
completed and the stream's watermark moved past it, in one transaction. A batch left ``started`` by
a dead exporter is redone with the same range, so it writes the same keys with the same bytes.
"""

from __future__ import annotations

from django.db import models

from bnpl.core import clock
from bnpl.core.models import BaseModel


class LakeWatermark(models.Model):
    """One row per stream: ``events`` and ``ledger_postings`` (rows appended in id order, exported
    incrementally) and ``snapshots`` (the hourly full snapshot of the mutable tables)."""

    stream = models.CharField(max_length=50, unique=True)
    # Append streams: every row with an id at or below this is in a completed batch.
    position = models.BigIntegerField(default=0)
    # Snapshots: the hour of the last completed snapshot.
    last_snapshot_at = models.DateTimeField(null=True, blank=True)
    # The newest id seen at ``observed_at`` and, on PostgreSQL, a transaction id above every one
    # handed out then: once every older transaction has ended, no row with a lower id can still appear.
    observed_position = models.BigIntegerField(null=True, blank=True)
    observed_transaction = models.BigIntegerField(null=True, blank=True)
    observed_at = models.DateTimeField(null=True, blank=True)
    # The exporter working on the stream and until when its claim holds (renewed at every batch).
    lease_token = models.CharField(max_length=32, blank=True)
    leased_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"{self.stream} at {self.position}"


class LakeBatch(BaseModel):
    """One export batch. Append streams: the rows with ``lower_key < id <= upper_key``; snapshots:
    every exported table as of ``snapshot_at``. ``name`` is derived from the range (or the hour), and
    so are the object keys, so a batch redone writes exactly the same objects."""

    class Status(models.TextChoices):
        STARTED = "started"  # planned; files may be partly uploaded; no manifest trusted yet
        COMPLETED = "completed"  # files and manifest uploaded; the watermark is past it

    stream = models.CharField(max_length=50)
    name = models.CharField(max_length=100)  # e.g. "00000000000000000001-00000000000000200000"
    lower_key = models.BigIntegerField(default=0)  # exclusive
    upper_key = models.BigIntegerField(default=0)  # inclusive
    snapshot_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.STARTED)
    row_count = models.BigIntegerField(null=True, blank=True)  # rows in its files, once completed
    file_count = models.PositiveIntegerField(null=True, blank=True)
    manifest_key = models.CharField(max_length=500, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "lake batches"
        constraints = [
            models.UniqueConstraint(fields=["stream", "name"], name="lake_batch_name_unique"),
            models.UniqueConstraint(
                fields=["stream"], condition=models.Q(status="started"), name="lake_batch_one_started_per_stream"
            ),
            models.CheckConstraint(condition=models.Q(upper_key__gte=models.F("lower_key")), name="lake_batch_range"),
        ]

    def __str__(self) -> str:
        return f"{self.stream} {self.name} ({self.status})"
