"""The read replica: reporting reads go to it when one is configured; everything else stays on the primary.

A PostgreSQL streaming replica (``REPLICA_DATABASE_URL``, the ``replica`` alias) takes the heavy reads
that may be a few seconds old off the primary: the dashboard's figures and charts, CSV exports, the
model-monitoring report and the lake's hourly snapshots. Four rules keep it from ever showing a
wrong page or refusing one:

1. **Only reads marked as reporting move.** ``reporting_reads()`` (a context manager and a
   decorator) marks them; the router sends every other read, and every read of an object fetched
   from the replica after the block, to the primary. A read that decides something (a balance
   before a charge, a row locked, an idempotency lookup) is never marked.
2. **Read your writes.** A unit of work (a request, a Celery task) that wrote reads from the
   replica only once the replica has replayed the primary's WAL past the primary's position at the
   time of the read, which includes those writes; inside an open transaction on the primary, and
   after a write inside the block itself, from the primary.
3. **Fall back, never fail.** A replica that does not answer, or whose replay lags more than
   ``REPLICA_MAX_LAG_SECONDS`` behind what it has received, leaves the reads on the primary. One
   check (``pg_last_xact_replay_timestamp``) is trusted for ``REPLICA_CHECK_SECONDS`` per process;
   each reporting block sent to the primary is counted in ``bnpl_replica_fallbacks{reason}`` and a
   failed check is logged.
4. **Writes and migrations never go to the replica** (a hot standby would refuse them anyway).

Which server a block uses is decided once, as it opens, so all its reads see one server.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, InterfaceError, connections
from django.db.models import Model

from bnpl.core import metrics

logger = logging.getLogger(__name__)

PRIMARY = DEFAULT_DB_ALIAS
REPLICA = "replica"

# Seconds the replica's replay is behind what it has received: 0 when it has replayed everything
# (an idle primary sends no new commits, so the last replayed commit's age says nothing then) and
# on a server that is not a standby (the replica alias mirroring the primary in tests).
LAG_SQL = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0
    WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
    ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
END
"""
# Whether the replica has replayed the primary's WAL up to a position (read-your-writes).
REPLAYED_SQL = "SELECT COALESCE(pg_last_wal_replay_lsn() >= %s::pg_lsn, NOT pg_is_in_recovery())"

# The server this block's reads go to; None outside any reporting block.
_reporting: ContextVar[str | None] = ContextVar("bnpl_reporting_reads", default=None)
# Whether the current unit of work (request, task) wrote through the ORM.
_wrote: ContextVar[bool] = ContextVar("bnpl_unit_wrote", default=False)


@dataclass(frozen=True)
class ReplicaCheck:
    lag_seconds: float | None  # None: the replica did not answer
    checked_at: float  # time.monotonic() of the check

    @property
    def fallback_reason(self) -> str | None:
        if self.lag_seconds is None:
            return "unreachable"
        if self.lag_seconds > settings.REPLICA_MAX_LAG_SECONDS:
            return "lagging"
        return None


_last_check: ReplicaCheck | None = None


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def reading_alias() -> str:
    """The alias reads go to here: the block's server inside ``reporting_reads()``, else the primary.
    For code that reads through a connection rather than the ORM (COPY, a cursor)."""
    return _reporting.get() or PRIMARY


def new_unit_of_work(**signal: Any) -> None:
    """A request or a task begins: nothing written yet (connected to request_started and task_prerun).
    A task run eagerly, inside its caller, is part of the caller's unit."""
    task = signal.get("task")
    if task is not None and task.request.is_eager:
        return
    _wrote.set(False)


def _forget_connection() -> None:
    """Drop a replica connection that failed, so the next check connects afresh."""
    with contextlib.suppress(DatabaseError, InterfaceError):
        connections[REPLICA].close()


def replica_lag_seconds() -> float | None:
    """The replica's replay lag in seconds, ``inf`` when it cannot tell, None when it does not answer."""
    try:
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(LAG_SQL)
            (lag,) = cursor.fetchone()
    except (DatabaseError, InterfaceError) as error:
        logger.warning("read replica unreachable, reporting reads use the primary: %s", error)
        _forget_connection()
        return None
    return float("inf") if lag is None else float(lag)


def replica_check() -> ReplicaCheck:
    """The latest check of the replica, made again once older than ``REPLICA_CHECK_SECONDS``."""
    global _last_check
    now = time.monotonic()
    if _last_check is None or now - _last_check.checked_at >= settings.REPLICA_CHECK_SECONDS:
        _last_check = ReplicaCheck(lag_seconds=replica_lag_seconds(), checked_at=now)
        if _last_check.fallback_reason == "lagging":
            logger.warning(
                "read replica %.1f s behind (more than %s s), reporting reads use the primary",
                _last_check.lag_seconds,
                settings.REPLICA_MAX_LAG_SECONDS,
            )
    return _last_check


def _forget_check() -> None:
    global _last_check
    _last_check = None


def _replica_has_own_writes() -> bool:
    """Whether the replica has replayed the primary's WAL up to where it is now (so up to this unit's
    committed writes)."""
    try:
        with connections[PRIMARY].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_lsn()")
            (position,) = cursor.fetchone()
        with connections[REPLICA].cursor() as cursor:
            cursor.execute(REPLAYED_SQL, [position])
            return bool(cursor.fetchone()[0])
    except (DatabaseError, InterfaceError):
        _forget_connection()
        return False


def _fallback_reason(*, reads_own_writes: bool) -> str | None:
    """Why this block's reads must stay on the primary, or None when the replica may serve them."""
    if connections[PRIMARY].in_atomic_block:
        return "transaction"
    reason = replica_check().fallback_reason
    if reason is None and reads_own_writes and _wrote.get() and not _replica_has_own_writes():
        reason = "own_writes"
    return reason


def _choose(*, reads_own_writes: bool) -> str:
    if not replica_configured():
        return PRIMARY
    reason = _fallback_reason(reads_own_writes=reads_own_writes)
    if reason is None:
        return REPLICA
    metrics.replica_fallbacks.labels(reason=reason).inc()
    return PRIMARY


@contextmanager
def reporting_reads(*, reads_own_writes: bool = True) -> Iterator[str]:
    """Mark the reads inside as reporting reads: they may go to the replica (see the module's rules).

    ``with reporting_reads():`` or ``@reporting_reads()``; yields the alias chosen. Nested blocks
    keep the outer block's choice. ``reads_own_writes=False`` for a unit whose earlier writes are
    bookkeeping the block does not read (the lake exporter's claim and batch rows)."""
    chosen = _reporting.get()
    if chosen is not None:
        yield chosen
        return
    token = _reporting.set(_choose(reads_own_writes=reads_own_writes))
    try:
        yield _reporting.get() or PRIMARY
    except (DatabaseError, InterfaceError):
        if _reporting.get() == REPLICA:
            _forget_check()  # a replica that failed between two checks: the next block checks again
        raise
    finally:
        _reporting.reset(token)


class ReplicaRouter:
    """``DATABASE_ROUTERS``: reporting reads to the block's server, everything else to the primary."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str:
        return reading_alias()

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        _wrote.set(True)
        if _reporting.get() == REPLICA:
            _reporting.set(PRIMARY)  # the rest of this block reads what it just wrote
        return PRIMARY

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool:
        return True  # the replica holds the primary's rows: an object read from either is the same row

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        return False if db == REPLICA else None
