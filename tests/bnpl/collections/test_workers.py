"""Collections with real Celery workers: separate processes on PostgreSQL and Redis (and again on
RabbitMQ), as in production, each running two collections lanes and sending its batches' charges to the
gateway from a pool of threads. Two workers
collect 600 due installments exactly once each; then, trial after trial, one of them is
killed with SIGKILL part-way (with calls in flight) and the sweeper finishes its work: every
installment is charged exactly once (counted on the gateway's own record), and the ledger balances."""

from __future__ import annotations

import datetime as dt
import signal
import time
from contextlib import AbstractContextManager
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count, Q

from bnpl.collections import services
from bnpl.collections.models import CollectionAttempt
from bnpl.collections.tasks import collections_run
from bnpl.core.services import clock_advance
from bnpl.payments.models import Charge, SandboxGatewayCharge
from bnpl.plans.models import Installment, Plan
from tests.bnpl.checkout.factories import make_authorized_order
from tests.celery_workers import Workers, queue_delete, queue_name, workers
from tests.helpers import wait_until
from tests.merchants.factories import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PLANS = 300  # 12 monthly payments each: two months due at first is 600 installments
GATEWAY_CONCURRENCY = 8  # each worker sends a batch's charges 8 at a time
LANES = 2  # each worker runs two claim-charge-settle loops at once, as production's default does


def _collectors(queue: str, logs: Path, broker: str) -> AbstractContextManager[Workers]:
    return workers(
        queue,
        logs,
        broker,
        state=lambda: f"due={_due()} processing={CollectionAttempt.objects.filter(status='processing').count()}",
        # Killed with calls in flight: each call takes the sandbox 200 ms, so a batch of 25 stays in
        # flight for most of a second. At 0 ms a quick machine finished a run between two looks for one,
        # and at 50 ms a loaded one did (the test process, starved of CPU, looked once the whole run of
        # 120 installments had taken its 2 s).
        environment={
            "COLLECTIONS_GATEWAY_CONCURRENCY": str(GATEWAY_CONCURRENCY),
            "COLLECTIONS_LANES": str(LANES),
            "SANDBOX_GATEWAY_LATENCY_MS": "200",
        },
    )


def _due() -> int:
    return services.due_installments().count()


def _processing() -> bool:
    return CollectionAttempt.objects.filter(status=CollectionAttempt.Status.PROCESSING).exists()


def _assert_each_due_installment_charged_once(expected: int) -> None:
    paid = Installment.objects.filter(status=Installment.Status.PAID, collection_attempts__isnull=False)
    assert paid.distinct().count() == expected
    gateway = SandboxGatewayCharge.objects.filter(kind="charge", idempotency_key__startswith="collect:")
    per_installment = (
        gateway.filter(succeeded=True)
        .values("idempotency_key")
        .annotate(n=Count("pk"))
        .values_list("idempotency_key", flat=True)
    )
    installments = {key.rsplit(":", 1)[0] for key in per_installment}
    assert len(installments) == len(list(per_installment)) == expected  # one success per installment
    assert not CollectionAttempt.objects.filter(status=CollectionAttempt.Status.PROCESSING).exists()
    assert (
        not CollectionAttempt.objects.values("installment")
        .annotate(wins=Count("pk", filter=Q(status="succeeded")))
        .filter(wins__gt=1)
    )
    assert Charge.objects.filter(status="succeeded", kind="payment", applied_at__isnull=True).count() == 0
    out = StringIO()
    call_command("ledger_verify", stdout=out)
    assert "Ledger OK" in out.getvalue()


@pytest.mark.slow
def test_two_workers_collect_every_due_installment_exactly_once_even_when_one_is_killed(
    tenant: Tenant, tmp_path: Path, redis_broker: str
) -> None:
    queue = queue_name("collections")
    _collect_with_two_workers_one_killed(
        tenant, tmp_path, redis_broker, queue, plans=PLANS, kill_afters=(0.0, 0.5, 1.5)
    )


@pytest.mark.slow
def test_on_rabbitmq_two_workers_collect_exactly_once_even_when_one_is_killed(
    tenant: Tenant, tmp_path: Path, rabbitmq_broker: str
) -> None:
    """The same on the other broker the machine runs: RabbitMQ gives a killed worker's unacknowledged
    task to the survivor at once (Redis only after its visibility timeout), so the task runs twice:
    safe, as everything collections does is."""
    queue = queue_name("collections-amqp")
    try:
        _collect_with_two_workers_one_killed(
            tenant, tmp_path, rabbitmq_broker, queue, plans=120, kill_afters=(0.0, 0.5)
        )
    finally:
        queue_delete(rabbitmq_broker, queue)


def _collect_with_two_workers_one_killed(
    tenant: Tenant, tmp_path: Path, broker: str, queue: str, *, plans: int, kill_afters: tuple[float, ...]
) -> None:
    """Two workers collect every due installment (two per plan) exactly once; then, trial after
    trial, one of them is killed part-way and the sweeper finishes what it left in flight."""
    for _ in range(plans):
        make_authorized_order(merchant=tenant.merchant, livemode=False, amount=60_000, kind="financing", count=12)
    assert Plan.objects.count() == plans

    clock_advance(by=dt.timedelta(days=62))  # two monthly payments due on every plan
    assert _due() == 2 * plans
    with _collectors(queue, tmp_path, broker) as workers:
        workers.send(collections_run, queue, times=4, batch_size=25)
        assert wait_until(lambda: _due() == 0, timeout=240), workers.diagnosis(queue)
        assert wait_until(lambda: not _processing(), timeout=240), workers.diagnosis(queue)
    _assert_each_due_installment_charged_once(2 * plans)

    collected = 2 * plans
    left_in_flight = []
    # Killed once attempts are in flight (not after a fixed time: on a loaded machine the workers may
    # not have started by then), then early, a little later and later still in the run.
    for kill_after in kill_afters:
        clock_advance(by=dt.timedelta(days=31))
        due = _due()
        assert due == plans
        with _collectors(queue, tmp_path, broker) as workers:
            victim, survivor = workers
            assert wait_until(workers.ready, timeout=120), workers.diagnosis(queue)  # both consuming
            workers.send(collections_run, queue, times=4, batch_size=25)
            assert wait_until(_processing, timeout=120), workers.diagnosis(queue)
            time.sleep(kill_after)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            finished = wait_until(lambda: _due() == 0 or survivor.poll() is not None, timeout=240)  # noqa: B023
            assert finished, workers.diagnosis(queue)
        swept = services.collections_sweep(stuck_after=dt.timedelta(0))  # what the victim left in flight
        rest = services.collections_run()  # what nobody had claimed yet
        assert swept.pending == rest.pending == 0
        left_in_flight.append(swept.claimed)
        collected += due
        _assert_each_due_installment_charged_once(collected)
    assert sum(left_in_flight) > 0, "no kill landed mid-attempt: the sweeper was never exercised"
