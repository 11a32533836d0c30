"""Collections and settlement: due installments collected per second by one worker against a bare
claim loop on the same rows -- with the sandbox gateway answering at once, and answering in 100 ms
as a card network does -- and settlement batches against a bare ``SUM`` over their captures: the
run's captures, then 100,000 captures in one batch."""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

from django.db import connection, models, transaction
from django.test.utils import override_settings

from bench.common import champion_ensure, rows_insert_sql, statistics_gather

COLLECTION_PLANS = int(os.environ.get("BENCH_COLLECTION_PLANS", "850"))  # x 12 months due: 10,200 installments
LATENCY_PLANS = int(os.environ.get("BENCH_LATENCY_PLANS", "100"))  # x 6 months due at 100 ms a call
LATENCY_MONTHS = 6  # fewer than 12: a batch then holds one month of half the plans, as a day's run does
LATENCY_MS = 100
BATCH_SIZE = int(os.environ.get("BENCH_COLLECTION_BATCH", "50"))
CONCURRENCY = int(os.environ.get("BENCH_GATEWAY_CONCURRENCY", "50"))  # COLLECTIONS_GATEWAY_CONCURRENCY
LANES = int(os.environ.get("BENCH_COLLECTION_LANES", "2"))  # COLLECTIONS_LANES, production's default
SETTLEMENT_CAPTURES = int(os.environ.get("BENCH_SETTLEMENT_CAPTURES", "100000"))
INSERT_BATCH = 20_000


def bench_collections(tenant: Any) -> None:
    """Due installments collected per second (claim, charge, settle, ledger) against a bare claim
    loop (``UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED)``) on the same rows."""
    from bnpl.collections import services
    from bnpl.core.services import clock_advance
    from bnpl.plans.models import Installment

    champion_ensure()
    plans = _plans_make(tenant, COLLECTION_PLANS + LATENCY_PLANS)
    clock_advance(by=dt.timedelta(days=370))
    statistics_gather()  # each batch's claim planned for 1,800 due, not for one (55 ms a batch, not 0.4)
    due = services.due_installments().count()
    bare = _bare_claim_rate()
    later = Installment.objects.filter(plan_id__in=plans[COLLECTION_PLANS:], status="scheduled")
    Installment.objects.filter(status="scheduled").update(collect_on=models.F("due_date"))  # due again
    later.update(collect_on=dt.date(2999, 1, 1))  # kept for the 100 ms run

    sandbox = f"sandbox gateway, {CONCURRENCY} calls at once"
    print(
        f"\ncollections on {connection.vendor}: one worker, {LANES} lane(s), batches of {BATCH_SIZE};"
        " installments per second"
    )
    print(f"{'baseline: bare UPDATE … SKIP LOCKED claim loop':58s} {bare:9,.0f} /s   1.00x  ({due:,} rows)")
    for label, latency, concurrency in (
        (f"collections_run, {sandbox}, 0 ms", 0, CONCURRENCY),
        (f"collections_run, {sandbox}, {LATENCY_MS} ms", LATENCY_MS, CONCURRENCY),
    ):
        if latency:
            later.filter(sequence__lte=LATENCY_MONTHS).update(collect_on=models.F("due_date"))
        with override_settings(
            SANDBOX_GATEWAY_LATENCY_MS=latency, COLLECTIONS_GATEWAY_CONCURRENCY=concurrency, COLLECTIONS_LANES=LANES
        ):
            count = services.due_installments().count()
            started, cpu = time.perf_counter(), time.process_time()
            result = services.collections_run(batch_size=BATCH_SIZE)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert result.succeeded == count, (result, count)
        rate = result.succeeded / elapsed
        each = cpu / max(count, 1) * 1000  # the worker process (gateway threads too), not PostgreSQL
        timing = f"{count:,} in {elapsed:.1f} s; CPU {each:.2f} ms each"
        print(f"{label:58s} {rate:9,.0f} /s  {rate / bare:5.3f}x ({timing})")
    bench_settlement(tenant)


def _plans_make(tenant: Any, count: int) -> list[int]:
    from bnpl.checkout import orders as checkout_orders
    from tests.bnpl.checkout.factories import make_authorized_order
    from tests.consumers.factories import make_verified_consumer

    plans = []
    for index in range(count):  # spotless files: the champion approves them
        order = make_authorized_order(
            merchant=tenant.merchant,
            livemode=False,
            amount=60_000,
            kind="financing",
            count=12,
            consumer=make_verified_consumer(email=f"payer{index}+clean@example.com"),
        )
        checkout_orders.order_capture(order=order, amount=order.authorized_amount)  # shipped: settled later
        plans.append(order.plan.pk)
    return plans


def _bare_claim_rate() -> float:
    from bnpl.plans.models import Installment

    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    table = Installment._meta.db_table
    claim = (
        f"UPDATE {table} SET collect_on = NULL WHERE id IN "  # nosec B608  # our own table name, constants
        f"(SELECT id FROM {table} WHERE status = 'scheduled' AND collect_on IS NOT NULL ORDER BY id "
        f"LIMIT {BATCH_SIZE}{lock})"
    )
    started = time.perf_counter()
    claimed = 0
    while True:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(claim)
            if not cursor.rowcount:
                break
            claimed += cursor.rowcount
    return claimed / (time.perf_counter() - started)


def bench_settlement(tenant: Any) -> None:
    """One merchant's settlement batch over every capture of the run, then over
    ``SETTLEMENT_CAPTURES`` captures inserted with SQL, each against a bare SUM over them."""
    from bnpl.checkout.models import Capture

    print(f"\nsettlement batch on {connection.vendor}: one merchant, one batch")
    _settle_once(tenant, "the run's captures")
    orders = list(Capture.objects.filter(merchant=tenant.merchant).values_list("order_id", flat=True))
    _captures_insert(tenant, orders, SETTLEMENT_CAPTURES)
    _settle_once(tenant, "captures inserted with SQL")


def _settle_once(tenant: Any, label: str) -> None:
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
    print(f"{f'{count:,} captures ({label})':58s}")
    print(f"{'  baseline: SUM(amount) over the captures':58s} {bare * 1000:9.1f} ms   1.00x")
    print(f"{'  settlements_run: batch + lines + payout':58s} {elapsed * 1000:9.1f} ms  {elapsed / bare:5.1f}x")


def _captures_insert(tenant: Any, orders: list[int], rows: int) -> None:
    """``rows`` captures of the tenant's orders (in turn), created a minute ago, with one statement
    per ``INSERT_BATCH`` rows (as bench/lake.py writes events): the services would take far longer
    to make them than the settlement takes to batch them."""
    from bnpl.checkout.models import Capture
    from bnpl.core import clock
    from bnpl.core.ids import generate_public_id

    table = Capture._meta.db_table
    fields = [
        "public_id",
        "created_at",
        "updated_at",
        "merchant",
        "livemode",
        "order",
        "amount",
        "merchant_fee_amount",
        "merchant_reference",
    ]
    names = ", ".join(str(getattr(Capture._meta.get_field(field), "column", field)) for field in fields)
    moment = connection.ops.adapt_datetimefield_value(clock.now() - dt.timedelta(minutes=1))
    for first in range(0, rows, INSERT_BATCH):
        values = [
            (
                generate_public_id(Capture.PUBLIC_ID_PREFIX),
                moment,
                moment,
                tenant.merchant.pk,
                False,
                orders[index % len(orders)],
                1_000 + index % 500,
                30 + index % 15,
                f"shipment-{index}",
            )
            for index in range(first, min(rows, first + INSERT_BATCH))
        ]
        rows_insert_sql(table, names, values)
