"""Collections: charge due installments off-session, exactly once each, whatever dies when.

A worker takes due installments a batch at a time (``COLLECTION_BATCH_SIZE``), in three steps,
each safe to repeat:
1. **Claim** (one transaction): lock a batch of due installments and their plans with ``SELECT …
   FOR UPDATE SKIP LOCKED`` (so workers never wait for or take each other's, nor wait for a plan
   another worker is settling), clear their collection date, and
   write for each a ``CollectionAttempt`` (``processing``) and its pending ``Charge``, prepared as
   every installment charge is (``bnpl.servicing.charges``: ``collect:<plan>:<installment>:
   <attempt>``) -- the batch's cards, attempt counts and rows read and written together. An
   installment with an attempt in processing is never claimed again (the database allows one).
   The claim commits before any charge is sent.
2. **Charge** (no transaction): send the batch's charges to the gateway, each with its own key, up
   to ``COLLECTIONS_GATEWAY_CONCURRENCY`` at once from a pool of threads (``gateway_pool``), and
   record the answers on the charges (one update; only a pending charge moves). Its commit does not
   wait for the disk: answers lost with the server are calls not answered (below), and the settle's
   commit, which waits, is later in the log and flushes them first.
3. **Settle** (one transaction): lock the batch's attempts still in processing, then apply every
   success to its plan once (``charges_apply_to_plans``: orders, then plans, locked in id order,
   posted to the ledger), and record every failure with its retry (+1, +3, +7 days by default)
   when one can help -- with an audit row and an event per attempt, written together.

A worker overlaps two batches: while one batch's calls are under way, the batch claimed before it
is recorded and settled, so its own writes hide behind the gateway's round trips. Each batch still
takes the three steps in order (claimed before its calls, settled after its answers). And it runs
``COLLECTIONS_LANES`` such loops at once (``collections_run``), as that many workers would.

A worker killed between any two steps, or a call the gateway did not answer, leaves attempts in
``processing``; the sweeper sends the same charges again (the gateway answers a known key with its
first result, moving money at most once) and settles them. Concurrency changes none of this: each
call carries its own attempt's key, a thread writes nothing of ours, and settling re-checks each
attempt under its lock, so a batch settled twice (a worker and the sweeper) applies each payment
once. So no installment is charged twice, and none is lost.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, QuerySet

from bnpl.checkout.disputes import disputes_escalate_unanswered
from bnpl.collections import lateness
from bnpl.collections.gateway_pool import GatewayPool, Sending
from bnpl.collections.lateness import AssessResult
from bnpl.collections.models import CollectionAttempt
from bnpl.collections.reminders import PaymentFailedNotice, notices_payment_failed
from bnpl.core import clock, metrics
from bnpl.core.compiled import DAY_MARKERS, CompiledSelect, CompiledSelectByIds
from bnpl.core.inserts import insert_many
from bnpl.core.services import Change, change_record_many
from bnpl.payments.models import Charge
from bnpl.payments.services import charges_record
from bnpl.plans.models import Installment, Plan
from bnpl.servicing.balances import give_back
from bnpl.servicing.bulk import rows_update
from bnpl.servicing.charges import installment_charges_prepare
from bnpl.servicing.services import PaymentToApply, charges_apply_to_plans

logger = logging.getLogger(__name__)

# Failures a later try can cure; anything else (authentication needed, a lost or expired card)
# needs the consumer, so collections stops and tells them.
RETRYABLE_FAILURES = frozenset({"insufficient_funds", "card_declined", "processing_error", "try_again_later"})


@dataclass
class RunResult:
    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0  # the gateway did not answer: the sweeper finishes them

    @classmethod
    def total(cls, results: Sequence[RunResult]) -> RunResult:
        return cls(**{name: sum(getattr(result, name) for result in results) for name in vars(cls())})

    def add(self, attempt: CollectionAttempt) -> None:
        if attempt.status == CollectionAttempt.Status.SUCCEEDED:
            self.succeeded += 1
        elif attempt.status == CollectionAttempt.Status.FAILED:
            self.failed += 1
        else:
            self.pending += 1


def due_installments(*, today: dt.date | None = None) -> QuerySet[Installment]:
    """Installments collections should charge today (or on ``today``): scheduled, on an active plan
    not charged off, their collection date reached (claiming clears it), and no payment in flight
    on the plan (a collection's charge or the consumer's pay-now, pending on the plan)."""
    pending = Charge.objects.filter(plan=OuterRef("plan"), kind=Charge.Kind.PAYMENT, status=Charge.Status.PENDING)
    day = clock.today() if today is None else today
    return Installment.objects.collectable().filter(collect_on__lte=day).filter(~Exists(pending))


def collections_claim(*, limit: int) -> list[int] | None:
    """Claim up to ``limit`` due installments for this worker; returns the new attempts' ids, or
    None when nothing was due. Claiming clears ``collect_on`` in the same transaction, so a worker
    whose query raced this one re-checks the row after the lock and skips it. A fixed number of
    queries, whatever ``limit`` is."""
    batch = _claim(limit)
    return None if batch is None else [attempt.pk for attempt in batch.attempts]


def _due_locked(today: dt.date, limit: int) -> QuerySet[Installment]:
    """Up to ``limit`` installments due ``today``, locked with their plans: each installment's plan
    too, and skipping what a settle holds: the batch's charges reference their plans, and waiting
    there for a settle that waits for one of these installments was a deadlock between two workers
    (claim and settle). Never waiting, a claim cannot be half of a cycle."""
    return (
        due_installments(today=today)
        .select_for_update(skip_locked=True, of=("self", "plan"))
        .select_related("plan")
        .order_by("collect_on", "pk")[:limit]
    )


def _claim_and_clear(select: str, columns: int, pk: int) -> str:
    """The claim's SELECT (its rows locked) and the clearing of its installments' ``collect_on`` in
    one statement: a data-modifying ``WITH`` whose result is the SELECT's rows as they were read."""
    names = ", ".join(f"c{index}" for index in range(columns))
    table = connection.ops.quote_name(Installment._meta.db_table)
    return (
        f"WITH claimed ({names}) AS ({select}), "  # noqa: S608  # nosec B608  # compiled by the ORM; our own table
        f"cleared AS (UPDATE {table} SET {connection.ops.quote_name('collect_on')} = NULL "
        f"WHERE {connection.ops.quote_name('id')} IN (SELECT c{pk} FROM claimed)) "
        "SELECT * FROM claimed"
    )


# The claim compiled once per process and batch size (the LIMIT is the query's shape; the date
# a parameter): PostgreSQL only. The lanes share it: two threads first asking at once may each make
# one, and each is the same statement.
@functools.cache
def claim_statement(limit: int) -> CompiledSelect[Installment]:
    """The claim of up to ``limit`` installments as one statement (PostgreSQL), compiled once."""
    return CompiledSelect(lambda day: _due_locked(day, limit), markers=(DAY_MARKERS[0],), wrap=_claim_and_clear)


def _claimed(limit: int) -> list[Installment]:
    """Lock up to ``limit`` due installments with their plans and clear their collection dates; the
    installments returned as read (in due order), each with its plan. On PostgreSQL one statement,
    compiled once per batch size; elsewhere the ORM's SELECT and UPDATE."""
    today = clock.today()
    if connection.vendor != "postgresql":
        installments = list(_due_locked(today, limit))
        Installment.objects.filter(pk__in=[installment.pk for installment in installments]).update(collect_on=None)
        return installments
    installments = claim_statement(limit).rows(today)
    return sorted(installments, key=lambda installment: (installment.collect_on, installment.pk))


def _claim(limit: int) -> _Batch | None:
    """``collections_claim``, returning the batch as written (its attempts with their charges and
    cards), so the worker sends it without reading it back."""
    with transaction.atomic():
        installments = _claimed(limit)
        if not installments:
            return None
        charges = installment_charges_prepare(installments=installments)
        for installment in installments:
            if installment.pk not in charges:  # left uncollected (collect_on cleared) until the consumer acts
                logger.warning(
                    "plan %s has no card to collect installment %s", installment.plan.public_id, installment.sequence
                )
        tried = dict(
            CollectionAttempt.objects.filter(installment_id__in=list(charges))
            .values("installment_id")
            .annotate(count=Count("pk"))
            .values_list("installment_id", "count")
        )
        attempts = insert_many(
            [
                CollectionAttempt(
                    installment=installment,
                    number=tried.get(installment.pk, 0) + 1,
                    charge=charges[installment.pk],
                    amount=charges[installment.pk].amount,
                )
                for installment in installments
                if installment.pk in charges
            ]
        )
    if any(attempt.pk is None for attempt in attempts):  # a database whose bulk insert returns no ids
        written = CollectionAttempt.objects.filter(charge_id__in=[attempt.charge_id for attempt in attempts])
        return _Batch.load(list(written.values_list("pk", flat=True)))
    return _Batch(attempts=sorted(attempts, key=lambda attempt: attempt.pk))


def collection_attempts_process(*, attempt_ids: Sequence[int], pool: GatewayPool) -> list[CollectionAttempt]:
    """Charge (or re-send the same charges) and settle a batch of attempts, returned in id order.
    Repeatable: settled attempts are returned as they are; a charge the gateway has not answered
    leaves its attempt in processing (the sweeper sends it again)."""
    batch = _Batch.load(attempt_ids)
    return batch.finish(pool.start(batch.unsent))


@dataclass
class _Batch:
    """A batch of attempts between its claim and its settling."""

    attempts: list[CollectionAttempt]  # in id order

    @classmethod
    def load(cls, attempt_ids: Sequence[int]) -> _Batch:
        attempts = CollectionAttempt.objects.filter(pk__in=attempt_ids).select_related("charge__payment_method")
        return cls(attempts=list(attempts.order_by("pk")))

    @property
    def in_flight(self) -> list[CollectionAttempt]:
        return [attempt for attempt in self.attempts if attempt.status == CollectionAttempt.Status.PROCESSING]

    @property
    def unsent(self) -> list[Charge]:
        """The charges still to send (a charge settled already -- by a webhook, or by a run that
        died after hearing back -- is not sent again)."""
        return [attempt.charge for attempt in self.in_flight if attempt.charge.status == Charge.Status.PENDING]

    def finish(self, sending: Sending) -> list[CollectionAttempt]:
        """Steps 2 (its end: the answers recorded) and 3 (settling what was answered)."""
        answers = sending.answers()
        in_flight = self.in_flight
        if answers:
            recorded = charges_record(charges=[attempt.charge for attempt in in_flight], answers=answers)
            for attempt in in_flight:
                attempt.charge = recorded.get(attempt.charge_id, attempt.charge)
        answered = {
            attempt.pk: attempt.charge for attempt in in_flight if attempt.charge.status != Charge.Status.PENDING
        }
        if not answered:
            return self.attempts
        settled = _attempts_settle(answered)
        return [settled.get(attempt.pk, attempt) for attempt in self.attempts]


# The batch's attempts still in processing, locked with their installments (their plans are
# locked next, with their orders: not read here), in one statement compiled once.
_attempts_in_processing: CompiledSelectByIds[CollectionAttempt] = CompiledSelectByIds(
    lambda match: (
        CollectionAttempt.objects.select_for_update(of=("self",))
        .select_related("installment")
        .filter(match, status=CollectionAttempt.Status.PROCESSING)
        .order_by("pk")
    )
)


def _attempts_settle(charges: dict[int, Charge]) -> dict[int, CollectionAttempt]:
    """Step 3 for the attempts (by id) whose charges the gateway answered: one transaction, then
    whatever did not fit a plan goes back to the card after it commits."""
    give_backs: list[tuple[Charge, int]] = []
    with transaction.atomic():
        # The attempts' rows first: the orders and then the plans are locked next, in that order, as
        # refunds, voids and pay-now lock them (no lock-order deadlock).
        attempts = _attempts_in_processing.rows(list(charges))
        succeeded = [attempt for attempt in attempts if charges[attempt.pk].status == Charge.Status.SUCCEEDED]
        failed = [attempt for attempt in attempts if charges[attempt.pk].status == Charge.Status.FAILED]
        applied = charges_apply_to_plans(
            payments=[
                PaymentToApply(
                    plan_id=attempt.installment.plan_id, charge=charges[attempt.pk], first=attempt.installment
                )
                for attempt in succeeded
            ]
        )
        for attempt in succeeded:
            outcome = applied[attempt.charge_id]
            if outcome.excess:  # the plan shrank (a refund) while the card was being charged
                give_backs.append((charges[attempt.pk], outcome.excess))
            if outcome.plan_standing == Plan.Standing.CHARGED_OFF:  # written off while in flight: all goes back
                attempt.status, attempt.failure_code = CollectionAttempt.Status.FAILED, "plan_charged_off"
            else:
                attempt.status = CollectionAttempt.Status.SUCCEEDED
        _failures_record(failed, charges)
        now = clock.now()
        for attempt in attempts:
            attempt.finished_at = attempt.updated_at = now
        rows_update(CollectionAttempt, attempts, ["status", "failure_code", "retry_on", "finished_at", "updated_at"])
    for attempt in attempts:  # counted once committed
        metrics.collection_attempts.labels(result=attempt.status).inc()
    metrics.collection_retries.inc(sum(1 for attempt in failed if attempt.retry_on is not None))
    for charge, excess in give_backs:
        give_back(charge=charge, amount=excess)
    return {attempt.pk: attempt for attempt in attempts}


def _failures_record(attempts: list[CollectionAttempt], charges: dict[int, Charge]) -> None:
    """Failed charges: each attempt failed with the gateway's reason and its retry date (the
    installment due again then, unless paid meanwhile), the consumer told, and
    ``plan.payment_failed`` recorded."""
    if not attempts:
        return
    plans = Plan.objects.select_related("consumer", "merchant").in_bulk(
        {attempt.installment.plan_id for attempt in attempts}
    )
    for attempt in attempts:  # the consumer told, by the merchant's name: read for failures only
        attempt.installment.plan = plans[attempt.installment.plan_id]
    retries: dict[dt.date | None, list[int]] = defaultdict(list)
    for attempt in attempts:
        charge = charges[attempt.pk]
        attempt.status = CollectionAttempt.Status.FAILED
        attempt.failure_code = charge.failure_code
        attempt.retry_on = _retry_on(attempt)
        retries[attempt.retry_on].append(attempt.installment_id)
    for retry_on, installment_ids in retries.items():  # at most one update per retry date
        Installment.objects.filter(pk__in=installment_ids, status=Installment.Status.SCHEDULED).update(
            collect_on=retry_on
        )
    notices_payment_failed(
        notices=[
            PaymentFailedNotice(
                installment=attempt.installment,
                attempt=attempt.number,
                retry_on=attempt.retry_on,
                reason=charges[attempt.pk].failure_message or charges[attempt.pk].failure_code,
            )
            for attempt in attempts
        ]
    )
    change_record_many(
        changes=[
            Change(
                action="plan.payment_failed",
                instance=attempt.installment.plan,
                merchant=attempt.installment.plan.merchant,
                data={
                    "plan": attempt.installment.plan.public_id,
                    "installment": attempt.installment.sequence,
                    "attempt": attempt.number,
                    "amount": attempt.amount,
                    "failure_code": charges[attempt.pk].failure_code,
                    "failure_message": charges[attempt.pk].failure_message,
                    "retry_on": attempt.retry_on.isoformat() if attempt.retry_on else None,
                },
            )
            for attempt in attempts
        ]
    )


def _retry_on(attempt: CollectionAttempt) -> dt.date | None:
    schedule = settings.COLLECTION_RETRY_DAYS
    if attempt.failure_code not in RETRYABLE_FAILURES or attempt.number > len(schedule):
        return None
    return clock.today() + dt.timedelta(days=schedule[attempt.number - 1])


def collections_run(*, batch_size: int | None = None) -> RunResult:
    """Claim and process batches until nothing is due (several workers may run this at once).

    ``COLLECTIONS_LANES`` lanes run at once, each in its own thread with its own database
    connection, sharing the worker's gateway pool. A lane is what a worker was: a loop of claim,
    calls, settle, in which two batches overlap (a batch's gateway calls are under way while the
    batch claimed before it is recorded and settled). Lanes add nothing to the argument above: they
    claim with ``SKIP LOCKED`` as separate workers do, so no two hold the same installment or plan.
    What they buy is the other core: while one lane waits for PostgreSQL, another runs Python."""
    size = batch_size or settings.COLLECTION_BATCH_SIZE
    lanes = settings.COLLECTIONS_LANES
    if lanes < 1:
        raise ValueError("COLLECTIONS_LANES must be at least 1")
    with GatewayPool(size=settings.COLLECTIONS_GATEWAY_CONCURRENCY) as pool:
        if lanes == 1:
            return _lane(pool, size)
        with ThreadPoolExecutor(max_workers=lanes - 1, thread_name_prefix="collections-lane") as others:
            started = [others.submit(_lane_on_its_own_connection, pool, size) for _ in range(lanes - 1)]
            results = [_lane(pool, size)]  # this thread is a lane too
            results += [future.result() for future in started]  # waits for them; raises what one raised
    return RunResult.total(results)


def _lane(pool: GatewayPool, size: int) -> RunResult:
    """One lane: claim a batch, start its calls, settle the batch before it; until nothing is due
    and nothing is in flight (a batch in flight hides its plans from the next claim)."""
    result = RunResult()
    previous: tuple[_Batch, Sending] | None = None
    while True:
        batch = _claim(size)
        current = None
        if batch is not None:
            result.claimed += len(batch.attempts)
            current = (batch, pool.start(batch.unsent))  # its calls go out while the batch before settles
        if previous is not None:
            for attempt in previous[0].finish(previous[1]):
                result.add(attempt)
        elif current is None:
            return result
        previous = current


def _lane_on_its_own_connection(pool: GatewayPool, size: int) -> RunResult:
    try:
        return _lane(pool, size)
    finally:
        connection.close()  # this thread's own: the thread ends with the run


def collections_sweep(*, stuck_after: dt.timedelta | None = None, batch_size: int | None = None) -> RunResult:
    """Finish attempts left in processing (a worker died, or the gateway did not answer), a batch
    at a time."""
    cutoff = clock.now() - (settings.COLLECTION_STUCK_AFTER if stuck_after is None else stuck_after)
    result = RunResult()
    stuck = CollectionAttempt.objects.filter(status=CollectionAttempt.Status.PROCESSING, created_at__lte=cutoff)
    stuck_ids = list(stuck.order_by("pk").values_list("pk", flat=True))
    size = batch_size or settings.COLLECTION_BATCH_SIZE
    with GatewayPool(size=settings.COLLECTIONS_GATEWAY_CONCURRENCY) as pool:
        for start in range(0, len(stuck_ids), size):
            batch = stuck_ids[start : start + size]
            result.claimed += len(batch)
            for attempt in collection_attempts_process(attempt_ids=batch, pool=pool):
                result.add(attempt)
    return result


@dataclass
class DailyWork:
    escalated: int  # disputes the merchant did not answer in time, now with an operator
    swept: RunResult
    assessed: AssessResult
    collected: RunResult


def collections_daily_work(*, stuck_after: dt.timedelta | None = None, batch_size: int | None = None) -> DailyWork:
    """A day's collections work in order: send unanswered disputes to an operator, finish stuck
    attempts, assess late fees and delinquency, then collect what is due (``run_collections`` and
    the sandbox clock share it)."""
    escalated = disputes_escalate_unanswered()
    swept = collections_sweep(stuck_after=stuck_after)
    assessed = lateness.plans_assess_lateness()
    collected = collections_run(batch_size=batch_size)
    return DailyWork(escalated=escalated, swept=swept, assessed=assessed, collected=collected)
