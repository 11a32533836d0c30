"""Collections and settlement: due installments collected per second by one worker against a bare
claim loop on the same rows, and one settlement batch against a bare ``SUM`` over its captures."""

from __future__ import annotations

import os
import time
from typing import Any

from django.db import connection, models

from bench.common import champion_ensure

COLLECTION_PLANS = int(os.environ.get("BENCH_COLLECTION_PLANS", "850"))  # x 12 months due: 10,200 installments


def bench_collections(tenant: Any) -> None:
    """Due installments collected per second (claim, sandbox charge, settle, ledger) against a bare
    claim loop (``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)``) on the same rows."""
    import datetime as dt

    from django.db import transaction

    from bnpl.checkout import orders as checkout_orders
    from bnpl.collections import services
    from bnpl.core.services import clock_advance
    from bnpl.plans.models import Installment
    from tests.bnpl.checkout.factories import make_authorized_order
    from tests.consumers.factories import make_verified_consumer

    champion_ensure()
    for index in range(COLLECTION_PLANS):  # spotless files: the champion approves them
        order = make_authorized_order(
            merchant=tenant.merchant,
            livemode=False,
            amount=60_000,
            kind="financing",
            count=12,
            consumer=make_verified_consumer(email=f"payer{index}+clean@example.com"),
        )
        checkout_orders.order_capture(order=order, amount=order.authorized_amount)  # shipped: settled later
    clock_advance(by=dt.timedelta(days=370))
    due = services.due_installments().count()
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    table = Installment._meta.db_table
    claim = (
        f"UPDATE {table} SET collect_on = NULL WHERE id IN "  # nosec B608  # our own table name, constants
        f"(SELECT id FROM {table} WHERE status = 'scheduled' AND collect_on IS NOT NULL ORDER BY id LIMIT 50{lock})"
    )
    started = time.perf_counter()
    claimed = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(claim)
            if not cursor.rowcount:
                break
            claimed += cursor.rowcount
    bare = claimed / (time.perf_counter() - started)
    Installment.objects.filter(status="scheduled").update(collect_on=models.F("due_date"))  # due again

    started = time.perf_counter()
    result = services.collections_run(batch_size=50)
    elapsed = time.perf_counter() - started
    assert result.succeeded == due, (result, due)
    rate = result.succeeded / elapsed
    print(f"\ncollections on {connection.vendor}: {due:,} due installments, one worker; per second")
    print(f"{'baseline: bare UPDATE … SKIP LOCKED claim loop':45s} {bare:9,.0f} /s   1.00x")
    print(f"{'collections_run: claim + charge + settle':45s} {rate:9,.0f} /s  {rate / bare:5.3f}x ({elapsed:.1f} s)")
    bench_settlement(tenant)


def bench_settlement(tenant: Any) -> None:
    """One merchant's settlement batch over every capture of the run, against a bare SUM over them."""
    import datetime as dt

    from bnpl.checkout.models import Capture
    from bnpl.core import clock
    from merchants.settlements import settlements_run

    captures = Capture.objects.filter(merchant=tenant.merchant, settlement__isnull=True)
    count = captures.count()
    started = time.perf_counter()
    total = captures.aggregate(total=models.Sum("amount"))["total"]
    bare = time.perf_counter() - started
    started = time.perf_counter()
    run = settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))
    elapsed = time.perf_counter() - started
    assert run.paid >= 1 and total, run
    print(f"\nsettlement batch on {connection.vendor}: {count:,} captures")
    print(f"{'baseline: SUM(amount) over the captures':45s} {bare * 1000:9.1f} ms   1.00x")
    print(f"{'settlements_run: batch + lines + payout':45s} {elapsed * 1000:9.1f} ms  {elapsed / bare:5.1f}x")
