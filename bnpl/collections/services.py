"""Collections: charge due installments off-session, exactly once each, whatever dies when.

The three steps, each safe to repeat:
1. **Claim** (one transaction): lock due installments with ``SELECT … FOR UPDATE SKIP LOCKED`` (so
   workers never wait for or take each other's), write for each a ``CollectionAttempt``
   (``processing``) and its pending ``Charge``, prepared as every installment charge is
   (``bnpl.servicing.charges``: ``collect:<plan>:<installment>:<attempt>``). An installment with an
   attempt in processing is never claimed again (the database allows one).
2. **Charge** (no transaction): send the charge to the gateway with that key.
3. **Settle** (one transaction): apply a success to the plan once (posting it to the ledger), or
   record the failure and schedule the retry (+1, +3, +7 days by default) when one can help.

A worker killed between any two steps leaves an attempt in ``processing``; the sweeper sends the
same charge again (the gateway answers a known key with its first result, moving money at most
once) and settles it. So no installment is charged twice, and none is lost.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from bnpl.checkout.disputes import disputes_escalate_unanswered
from bnpl.collections import lateness
from bnpl.collections.lateness import AssessResult
from bnpl.collections.models import CollectionAttempt
from bnpl.collections.reminders import notice_payment_failed
from bnpl.core import clock
from bnpl.core.services import change_record
from bnpl.payments.models import Charge
from bnpl.payments.services import charge_execute
from bnpl.plans.models import Installment, Plan
from bnpl.servicing.balances import give_back
from bnpl.servicing.charges import installment_charge_prepare, plan_card
from bnpl.servicing.services import charge_apply_to_plan

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

    def add(self, attempt: CollectionAttempt) -> None:
        if attempt.status == CollectionAttempt.Status.SUCCEEDED:
            self.succeeded += 1
        elif attempt.status == CollectionAttempt.Status.FAILED:
            self.failed += 1
        else:
            self.pending += 1


def due_installments() -> QuerySet[Installment]:
    """Installments collections should charge today: scheduled, on an active plan not charged off,
    their collection date reached (claiming clears it), and no payment in flight on the plan (a
    collection's charge or the consumer's pay-now, pending on the plan)."""
    pending = Charge.objects.filter(plan=OuterRef("plan"), kind=Charge.Kind.PAYMENT, status=Charge.Status.PENDING)
    return Installment.objects.collectable().filter(collect_on__lte=clock.today()).filter(~Exists(pending))


def collections_claim(*, limit: int) -> list[int] | None:
    """Claim up to ``limit`` due installments for this worker; returns the new attempts' ids, or
    None when nothing was due. Claiming clears ``collect_on`` in the same statement's transaction, so
    a worker whose query raced this one re-checks the row after the lock and skips it."""
    claimed = []
    with transaction.atomic():
        installments = list(
            due_installments()
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("plan", "plan__consumer")
            .order_by("collect_on", "pk")[:limit]
        )
        if not installments:
            return None
        Installment.objects.filter(pk__in=[installment.pk for installment in installments]).update(collect_on=None)
        for installment in installments:
            plan = installment.plan
            card = plan_card(plan=plan)
            if card is None:  # left uncollected (collect_on cleared) until the consumer pays or adds a card
                logger.warning("plan %s has no card to collect installment %s", plan.public_id, installment.sequence)
                continue
            number = CollectionAttempt.objects.filter(installment=installment).count() + 1
            charge = installment_charge_prepare(plan=plan, installment=installment, payment_method=card)
            attempt = CollectionAttempt.objects.create(
                installment=installment, number=number, charge=charge, amount=charge.amount
            )
            claimed.append(attempt.pk)
    return claimed


def collection_attempt_process(*, attempt_id: int) -> CollectionAttempt:
    """Charge (or re-send the same charge) and settle the attempt. Repeatable: a settled attempt
    is returned as it is; a charge the gateway has not answered stays in processing."""
    attempt = CollectionAttempt.objects.select_related("charge__payment_method", "installment__plan").get(pk=attempt_id)
    if attempt.status != CollectionAttempt.Status.PROCESSING:
        return attempt
    try:
        charge = charge_execute(charge=attempt.charge, off_session=True)
    except Exception:
        logger.exception("gateway error on collection attempt %s; the sweeper will send it again", attempt_id)
        return attempt
    if charge.status == Charge.Status.PENDING:
        return attempt
    excess = 0
    with transaction.atomic():
        # Only the attempt's row here: the order and the plan are locked next, in that order, as
        # refunds, voids and pay-now lock them (no lock-order deadlock).
        attempt = (
            CollectionAttempt.objects.select_for_update(of=("self",))
            .select_related("installment__plan")
            .get(pk=attempt_id)
        )
        if attempt.status != CollectionAttempt.Status.PROCESSING:
            return attempt
        plan = attempt.installment.plan
        if charge.status == Charge.Status.SUCCEEDED:
            excess = charge_apply_to_plan(plan=plan, charge=charge, first=attempt.installment)
            plan.refresh_from_db(fields=["standing"])  # read under the plan lock charge_apply_to_plan took
            if plan.standing == Plan.Standing.CHARGED_OFF:  # written off while in flight: all goes back
                attempt.status, attempt.failure_code = CollectionAttempt.Status.FAILED, "plan_charged_off"
            else:
                attempt.status = CollectionAttempt.Status.SUCCEEDED
        else:
            attempt.status = CollectionAttempt.Status.FAILED
            attempt.failure_code = charge.failure_code
            attempt.retry_on = _retry_on(attempt)
            Installment.objects.filter(pk=attempt.installment_id, status=Installment.Status.SCHEDULED).update(
                collect_on=attempt.retry_on
            )
            notice_payment_failed(
                installment=attempt.installment,
                attempt=attempt.number,
                retry_on=attempt.retry_on,
                reason=charge.failure_message or charge.failure_code,
            )
            change_record(
                action="plan.payment_failed",
                instance=plan,
                data={
                    "plan": plan.public_id,
                    "installment": attempt.installment.sequence,
                    "attempt": attempt.number,
                    "amount": attempt.amount,
                    "failure_code": charge.failure_code,
                    "failure_message": charge.failure_message,
                    "retry_on": attempt.retry_on.isoformat() if attempt.retry_on else None,
                },
            )
        attempt.finished_at = clock.now()
        attempt.save(update_fields=["status", "failure_code", "retry_on", "finished_at", "updated_at"])
    if excess:  # the plan shrank (a refund) while the card was being charged
        give_back(charge=charge, amount=excess)
    return attempt


def _retry_on(attempt: CollectionAttempt) -> dt.date | None:
    schedule = settings.COLLECTION_RETRY_DAYS
    if attempt.failure_code not in RETRYABLE_FAILURES or attempt.number > len(schedule):
        return None
    return clock.today() + dt.timedelta(days=schedule[attempt.number - 1])


def collections_run(*, batch_size: int | None = None) -> RunResult:
    """Claim and process batches until nothing is due (several workers may run this at once)."""
    result = RunResult()
    while True:
        claimed = collections_claim(limit=batch_size or settings.COLLECTION_BATCH_SIZE)
        if claimed is None:
            return result
        result.claimed += len(claimed)
        for attempt_id in claimed:
            result.add(collection_attempt_process(attempt_id=attempt_id))


def collections_sweep(*, stuck_after: dt.timedelta | None = None) -> RunResult:
    """Finish attempts left in processing (a worker died, or the gateway did not answer)."""
    cutoff = clock.now() - (settings.COLLECTION_STUCK_AFTER if stuck_after is None else stuck_after)
    result = RunResult()
    stuck = CollectionAttempt.objects.filter(status=CollectionAttempt.Status.PROCESSING, created_at__lte=cutoff)
    for attempt_id in stuck.order_by("pk").values_list("pk", flat=True):
        result.claimed += 1
        result.add(collection_attempt_process(attempt_id=attempt_id))
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
