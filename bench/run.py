"""Benchmarks of the partner API spine, each with its ratio to a baseline measured in the same run.

Baseline: a bare Django view returning a small JSON body through the same middleware stack.
Measured: an authenticated GET (key lookup, throttle, tenant scoping, serialization), an idempotent
POST that creates an object (claim, transaction, audit row, outbox event, stored response), the
replay of that POST, and a capture (order lock, fee, balanced journal entry, event). Pure math
(schedules, Appendix J APR) is compared with a trivial Python loop measured in the same run.
Figures are medians over many requests in one process (no network), so they
show the cost our layers add, not the server's throughput.

The data-lake export (bench/lake.py) is compared with a bare pyarrow write of the same rows.

Run: make bench   (SQLite by default; set DATABASE_URL to measure on PostgreSQL;
BENCH_LAKE_ROWS=100000 for a quicker lake figure)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.test")

import django

django.setup()

from django.db import connection, models  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings, setup_test_environment  # noqa: E402
from django.urls import include, path  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "400"))
WARMUP = 30


def bare(request):  # type: ignore[no-untyped-def]
    return JsonResponse({"id": "mer_x", "object": "merchant", "name": "Bench"})


urlpatterns = [path("bench/bare", bare), path("", include("bnpl.urls"))]


def measure(label: str, call: Callable[[], int], expected: int) -> float:
    for _ in range(WARMUP):
        assert call() == expected, label
    samples = []
    for _ in range(REQUESTS):
        start = time.perf_counter()
        status = call()
        samples.append(time.perf_counter() - start)
        assert status == expected, (label, status)
    return statistics.median(samples) * 1e6


def _time_pure(call: Callable[[], object], repeat: int = 200) -> float:
    for _ in range(10):
        call()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1e6, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6


def _timed(calls: list[Callable[[], object]]) -> tuple[float, float]:
    samples = []
    for call in calls:
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return _percentiles(samples)


def _bank_history(merchant: Any, consumer: Any) -> None:
    """Three months of pay and spending through the real stream (consent first)."""
    import datetime as dt

    from bnpl.core import clock
    from bnpl.tenancy.services import merchant_consumer_ensure
    from decisioning import bank_data
    from decisioning.cashflow import month_index, month_start

    link = merchant_consumer_ensure(merchant=merchant, livemode=False, consumer=consumer)
    bank_data.consent_record(link=link, reference="bench", granted_at=clock.now() - dt.timedelta(days=1))
    today = clock.today()
    transactions = []
    for back in range(3):
        day = min(month_start(month_index(today) - back) + dt.timedelta(days=1), today)
        transactions += [
            bank_data.IncomingTransaction(f"in{back}", "acc", day, 420_000, "USD", "income", 900_000),
            bank_data.IncomingTransaction(f"out{back}", "acc", day, -310_000, "USD", "other", 590_000),
        ]
    bank_data.transactions_ingest(link=link, transactions=transactions)


def bench_decisions(tenant: object) -> None:
    """decide() against raw Booster.inplace_predict on the same rows, in the same run."""
    import json

    import numpy as np
    import pyarrow as pa

    from decisioning import registry, scoring, training
    from decisioning.bureau import SandboxBureau
    from decisioning.features import PlatformHistory, model_features
    from decisioning.models import ModelVersion

    spec_dict = json.loads((Path(training.__file__).parent / "specs" / "give_me_some_credit.json").read_text())
    rng = np.random.default_rng(3)
    rows = 20_000
    bureau = SandboxBureau()
    reports = [bureau.report(consumer_id=f"con_bench{index}", email=None) for index in range(rows)]
    inputs = [model_features(bureau=report, history=PlatformHistory(0, 0.0), amount_major=100.0) for report in reports]
    spec = training.FeatureSpec.from_dict(spec_dict)
    columns = {name: np.array([row[name] for row in inputs], dtype=float) for name in spec.feature_names}
    margin = -3 + 2 * columns["RevolvingUtilizationOfUnsecuredLines"] + columns["NumberOfTimes90DaysLate"]
    columns[spec.label] = (rng.random(rows) < 1 / (1 + np.exp(-margin))).astype(np.int64)
    table = training.Table(path="bench", columns={k: pa.chunked_array([v]) for k, v in columns.items()}, row_count=rows)
    trained = training.train(
        training.validate(table, spec), spec, training.TrainingParameters(folds=3, rounds=200, threads=2)
    )
    registry.model_promote(
        model_version=registry.register_model(name="credit", trained=trained), to=ModelVersion.Status.CHAMPION
    )
    scorer = scoring.champion()
    assert scorer is not None
    sample = inputs[:10_000]
    matrices = [scorer.row(row) for row in sample]
    raw = _timed([partial(scorer.booster.inplace_predict, matrix, validate_features=False) for matrix in matrices])
    model_path = _timed([partial(scoring.score, scorer, row, with_reasons=False) for row in sample])
    with_reasons = _timed([partial(scoring.score, scorer, row, with_reasons=True) for row in sample[:2_000]])

    from decisioning import decide
    from decisioning.policy import Application
    from tests.bnpl.checkout.factories import make_checkout_session, product_for
    from tests.consumers.factories import make_verified_consumer

    merchant = tenant.merchant  # type: ignore[attr-defined]
    product = product_for(merchant, False)
    consumers = [make_verified_consumer(email=f"bench{index}@example.com") for index in range(1_000)]
    for consumer in consumers[::2]:  # half have bank data: the cash-flow path is in the figure
        _bank_history(merchant, consumer)
    applications = [  # one session per shopper, ten decisions each (as a shopper retrying would)
        Application(
            consumer=consumer,
            merchant=merchant,
            product=product,
            amount=10000,
            currency="USD",
            livemode=False,
            checkout_session=make_checkout_session(merchant=merchant, livemode=False),
        )
        for consumer in consumers
    ] * 10
    full = _timed([partial(decide, application=application) for application in applications])
    print("\ncredit decisions; p50 / p99 per decision; ratio of p50 to raw inplace_predict p50")
    table_rows = [
        ("baseline: Booster.inplace_predict (1 row)", raw, "10,000 rows"),
        ("features + calibrated score", model_path, "10,000 rows"),
        ("  + reasons (pred_contribs)", with_reasons, "2,000 rows"),
        ("decide(): policy + bureau + model + stored", full, "10,000 decisions"),
    ]
    for label, (p50, p99), count in table_rows:
        print(f"{label:45s} {p50:9.0f} / {p99:6.0f} µs  {p50 / raw[0]:5.2f}x   ({count})")


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

    for index in range(COLLECTION_PLANS):  # spotless files: the champion from the decisions bench approves them
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


def main() -> None:
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        with override_settings(ROOT_URLCONF=__name__):
            run()
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


def run() -> None:
    from tests.merchants.factories import make_tenant

    tenant = make_tenant(name="Bench")
    client = Client()
    auth = {"Authorization": f"Bearer {tenant.test_key}"}
    body = '{"url": "https://bench.example.com/hook", "enabled_events": ["*"]}'

    def post(key: str) -> int:
        return client.post(
            "/api/v1/webhook_endpoints", body, content_type="application/json", headers={**auth, "Idempotency-Key": key}
        ).status_code

    replay_key = str(uuid.uuid4())
    post(replay_key)

    from bnpl.plans import schedule
    from tests.bnpl.checkout.factories import make_authorized_order

    # Captures rotate over many orders so each order keeps a realistic handful of captures.
    orders = [make_authorized_order(merchant=tenant.merchant, livemode=False, amount=150_000) for _ in range(60)]
    captures = iter(range(10**9))

    def capture() -> int:
        order = orders[next(captures) % len(orders)]
        return client.post(
            f"/api/v1/orders/{order.public_id}/captures",
            '{"amount": 1}',
            content_type="application/json",
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        ).status_code

    import datetime as dt

    start = dt.date(2026, 1, 15)
    payments = schedule.amortized(principal=250_000, apr_bps=1499, months=12, start=start)
    dated = [(payment.due_date, payment.amount) for payment in payments]

    baseline = measure("bare view", lambda: client.get("/bench/bare").status_code, 200)
    rows = [
        (
            "GET /api/v1/account (authenticated)",
            measure("get", lambda: client.get("/api/v1/account", headers=auth).status_code, 200),
        ),
        ("POST /api/v1/webhook_endpoints (new key)", measure("post", lambda: post(str(uuid.uuid4())), 201)),
        ("POST replay (same key)", measure("replay", lambda: post(replay_key), 201)),
        ("POST /api/v1/orders/{id}/captures (ledger)", measure("capture", capture, 201)),
    ]
    pure_baseline = _time_pure(lambda: sum(range(1000)))
    pure_rows = [
        (
            "schedule.amortized (12 months)",
            _time_pure(lambda: schedule.amortized(principal=250_000, apr_bps=1499, months=12, start=start)),
        ),
        (
            "schedule.apr (Appendix J, 12 payments)",
            _time_pure(lambda: schedule.apr(amount_financed=250_000, payments=dated, advance_date=start)),
        ),
    ]
    print(f"database: {connection.vendor}; {REQUESTS} requests each; median per request")
    print(f"{'baseline: bare Django view':45s} {baseline:9.0f} µs   1.00x")
    for label, micros in rows:
        print(f"{label:45s} {micros:9.0f} µs  {micros / baseline:5.2f}x")
    print(f"{'baseline: sum(range(1000)) in Python':45s} {pure_baseline:9.1f} µs   1.00x")
    for label, micros in pure_rows:
        print(f"{label:45s} {micros:9.1f} µs  {micros / pure_baseline:5.1f}x")
    bench_decisions(tenant)
    bench_collections(tenant)
    from bench.lake import bench_lake  # export throughput and memory against a bare pyarrow write

    bench_lake()


if __name__ == "__main__":
    main()
