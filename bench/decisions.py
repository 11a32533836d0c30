"""Credit decisions: ``decide()`` (policy, bureau, cash flow, model, stored decision) against a raw
``Booster.inplace_predict`` of one row, in the same run. ``BENCH_DECISION_SHOPPERS`` (1,000 by
default; ten decisions each) makes a quicker figure."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from bench.common import bench_features, champion_ensure, timed


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


def bench_decisions(tenant: Any) -> None:
    from decisioning import decide, scoring
    from decisioning.policy import Application
    from decisioning.registry import predict_one
    from tests.bnpl.checkout.factories import make_checkout_session, product_for
    from tests.consumers.factories import make_verified_consumer

    inputs = bench_features(20_000)
    scorer = champion_ensure(inputs)
    sample = inputs[:10_000]
    matrices = [scorer.row(row) for row in sample]
    raw = timed([partial(scorer.booster.inplace_predict, matrix, validate_features=False) for matrix in matrices])
    # decide() predicts through the C function inplace_predict wraps (decisioning.registry.predict_one),
    # which costs less than the wrapper: its figure is shown too, and decide()'s ratio to it.
    direct = timed([partial(predict_one, scorer.booster, matrix) for matrix in matrices])
    model_path = timed([partial(scoring.score, scorer, row, with_reasons=False) for row in sample])
    with_reasons = timed([partial(scoring.score, scorer, row, with_reasons=True) for row in sample[:2_000]])

    merchant = tenant.merchant
    product = product_for(merchant, False)
    shoppers = int(os.environ.get("BENCH_DECISION_SHOPPERS", "1000"))
    consumers = [make_verified_consumer(email=f"bench{index}@example.com") for index in range(shoppers)]
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
    full = timed([partial(decide, application=application) for application in applications])
    print(
        "\ncredit decisions; wall p50 / p99 per decision and its p50's ratio to raw inplace_predict's;"
        " process CPU p50 and its ratio to the raw prediction's"
    )
    table_rows = [
        ("baseline: Booster.inplace_predict (1 row)", raw, "10,000 rows"),
        ("  the C call it wraps (registry.predict_one)", direct, "10,000 rows"),
        ("features + calibrated score", model_path, "10,000 rows"),
        ("  + reasons (pred_contribs)", with_reasons, "2,000 rows"),
        ("decide(): policy + bureau + model + stored", full, f"{len(applications):,} decisions"),
    ]
    for label, (p50, p99, cpu), count in table_rows:
        print(
            f"{label:45s} {p50:9.0f} / {p99:6.0f} µs  {p50 / raw[0]:5.2f}x"
            f"   CPU {cpu:6.0f} µs {cpu / raw[2]:5.2f}x   ({count})"
        )
    print(f"{'decide() p99 / its p50':45s} {full[1] / full[0]:9.2f}x")
    print(
        f"{'decide() p50 / the C call p50 (a stricter floor)':45s} {full[0] / direct[0]:9.2f}x"
        f"   CPU {full[2] / direct[2]:5.2f}x"
    )
