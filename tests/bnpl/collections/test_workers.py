"""Collections with real Celery workers: separate processes on PostgreSQL and Redis, as in
production, each sending its batches' charges to the gateway from a pool of threads. Two workers
collect a thousand due installments exactly once each; then, trial after trial, one of them is
killed with SIGKILL part-way (with calls in flight) and the sweeper finishes its work: every
installment is charged exactly once (counted on the gateway's own record), and the ledger balances."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Q

from bnpl.collections import services
from bnpl.collections.models import CollectionAttempt
from bnpl.collections.tasks import collections_run
from bnpl.core.services import clock_advance
from bnpl.payments.models import Charge, SandboxGatewayCharge
from bnpl.plans.models import Installment, Plan
from tests.bnpl.checkout.factories import make_authorized_order
from tests.merchants.factories import Tenant

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
WORKER = [sys.executable, "-m", "celery", "-A", "bnpl", "worker", "--pool=solo", "--without-gossip", "--without-mingle"]
PLANS = 500  # 12 monthly payments each: two months due at first is 1,000 installments
GATEWAY_CONCURRENCY = 8  # each worker sends a batch's charges 8 at a time


@pytest.fixture(autouse=True)
def _needs_a_broker_processes_can_share() -> None:
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs a Redis broker (CELERY_BROKER_URL), as .ci/run sets")


@contextmanager
def _workers(queue: str, count: int = 2) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` worker processes on this test's database, consuming only ``queue``."""
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bnpl.settings.test",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "COLLECTIONS_GATEWAY_CONCURRENCY": str(GATEWAY_CONCURRENCY),  # killed with calls in flight in threads
    }
    processes = [
        subprocess.Popen(
            [*WORKER, "-Q", queue, f"--hostname=collector{index}-{queue}@%h"],
            cwd=ROOT,
            env=environment,
        )
        for index in range(count)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _due() -> int:
    return services.due_installments().count()


def _wait_until(condition: object, timeout: float = 240.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.25)
    return False


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


def test_two_workers_collect_a_thousand_installments_exactly_once_even_when_one_is_killed(tenant: Tenant) -> None:
    for _ in range(PLANS):
        make_authorized_order(merchant=tenant.merchant, livemode=False, amount=60_000, kind="financing", count=12)
    assert Plan.objects.count() == PLANS

    clock_advance(by=dt.timedelta(days=62))  # two monthly payments due on every plan
    assert _due() == 2 * PLANS
    queue = f"collections-{uuid.uuid4().hex[:8]}"
    with _workers(queue):
        for _ in range(4):
            collections_run.apply_async(kwargs={"batch_size": 25}, queue=queue)
        assert _wait_until(lambda: _due() == 0), f"{_due()} still due"
        assert _wait_until(lambda: not CollectionAttempt.objects.filter(status="processing").exists())
    _assert_each_due_installment_charged_once(2 * PLANS)

    collected = 2 * PLANS
    left_in_flight = []
    # Killed once attempts are in flight (not after a fixed time: on a loaded machine the workers may
    # not have started by then), then early, a little later and later still in the run.
    for kill_after in (0.0, 0.5, 1.5):
        clock_advance(by=dt.timedelta(days=31))
        due = _due()
        assert due == PLANS
        with _workers(queue) as (victim, survivor):
            time.sleep(3.0)  # both workers up
            for _ in range(4):
                collections_run.apply_async(kwargs={"batch_size": 25}, queue=queue)
            assert _wait_until(lambda: CollectionAttempt.objects.filter(status="processing").exists(), timeout=120)
            time.sleep(kill_after)
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            assert _wait_until(lambda: _due() == 0 or survivor.poll() is not None)
        swept = services.collections_sweep(stuck_after=dt.timedelta(0))  # what the victim left in flight
        rest = services.collections_run()  # what nobody had claimed yet
        assert swept.pending == rest.pending == 0
        left_in_flight.append(swept.claimed)
        collected += due
        _assert_each_due_installment_charged_once(collected)
    assert sum(left_in_flight) > 0, "no kill landed mid-attempt: the sweeper was never exercised"
