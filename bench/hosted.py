"""CPU of one purchase through the hosted checkout, as the load test's returning shopper makes it
(loadtest/locustfile.py): the checkout page with the offers, the confirm with a card typed in, and
the approval page, through Django's test Client in this process (so the figure is the web process's
own CPU, ``time.process_time``, without the waits for PostgreSQL and Redis).

Run (own database and Redis; a test database ``test_<name>`` is made and dropped)::

    DATABASE_URL=... CACHE_URL=... CELERY_BROKER_URL=... .venv/bin/python -m bench.hosted [purchases] [profile.out]

With a second argument, the measured purchases also run under cProfile (timer ``time.process_time``)
and the profile is written there (read it with ``python -m pstats``).
"""

from __future__ import annotations

import cProfile
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.test")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

CARD = {"card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}
PRODUCT_INPUT = re.compile(r'name="product" value="(prod_\w+)"')
STEPS = ("checkout page", "confirm", "approved page")
WARMUP = 5


def _purchase(client: Any, merchant: Any, email: str | None, number: int, kind_index: int) -> dict[str, float]:
    from bnpl.checkout import sessions as checkout_sessions

    session = checkout_sessions.checkout_session_create(
        merchant=merchant,
        livemode=False,
        amount=12000 + 100 * (number % 50),
        currency="USD",
        line_items=[{"name": "Item", "quantity": 1, "unit_amount": 12000 + 100 * (number % 50)}],
        return_url="https://shop.example.com/thanks",
        cancel_url="https://shop.example.com/cart",
        merchant_reference=f"bench-{number}",
        customer_email=email or "",
    )
    path = f"/checkout/{session.public_id}"
    spent: dict[str, float] = {}
    start = time.process_time()
    page = client.get(path)
    spent["checkout page"] = time.process_time() - start
    assert page.status_code == 200, page.status_code
    products = PRODUCT_INPUT.findall(page.content.decode())
    assert products, "no offers"
    start = time.process_time()
    confirmed = client.post(f"{path}/confirm", {"product": products[kind_index % len(products)], **CARD})
    spent["confirm"] = time.process_time() - start
    assert confirmed.status_code == 302, (confirmed.status_code, confirmed.content[:2000])
    start = time.process_time()
    approved = client.get(confirmed["Location"])
    spent["approved page"] = time.process_time() - start
    assert approved.status_code == 200, approved.status_code
    return spent


def _print_queries(shopper: tuple[Any, Any], merchant: Any, number: int) -> None:
    """The SQL of one more purchase, step by step (``BENCH_HOSTED_QUERIES=1``)."""
    from django.test.utils import CaptureQueriesContext

    client, consumer = shopper
    with CaptureQueriesContext(connection) as captured:
        _purchase(client, merchant, consumer.email, number, number)
    for query in captured.captured_queries:
        print(query["sql"][:400])
    print(f"{len(captured.captured_queries)} queries")


def run(purchases: int, profile_path: str | None) -> None:
    from django.test import Client

    from bench.common import champion_ensure, statistics_gather
    from consumers.selectors import SESSION_KEY
    from tests.consumers.factories import make_verified_consumer
    from tests.merchants.factories import make_tenant

    tenant = make_tenant(name="Hosted bench")
    champion_ensure()
    shoppers = []
    for index in range((purchases + WARMUP) // 3 + 1):  # three purchases per shopper, as in the load test
        consumer = make_verified_consumer(email=f"hosted+clean{index}@example.com")
        client = Client()
        session = client.session
        session[SESSION_KEY] = consumer.public_id
        session.save()
        shoppers.append((client, consumer))
    statistics_gather()
    for number in range(WARMUP):
        client, consumer = shoppers[number // 3]
        _purchase(client, tenant.merchant, consumer.email, number, number)
    profiler = cProfile.Profile(time.process_time) if profile_path else None
    samples: dict[str, list[float]] = {step: [] for step in STEPS}
    totals = []
    for number in range(WARMUP, WARMUP + purchases):
        client, consumer = shoppers[number // 3]
        if profiler:
            profiler.enable()
        spent = _purchase(client, tenant.merchant, consumer.email, number, number)
        if profiler:
            profiler.disable()
        for step, seconds in spent.items():
            samples[step].append(seconds)
        totals.append(sum(spent.values()))
    if profiler and profile_path:
        profiler.dump_stats(profile_path)
    if os.environ.get("BENCH_HOSTED_QUERIES"):
        _print_queries(shoppers[-1], tenant.merchant, WARMUP + purchases)
    print(f"hosted purchases: {purchases}; web CPU per step, ms (median / mean)")
    for step in STEPS:
        print(
            f"  {step:15s} {statistics.median(samples[step]) * 1e3:7.1f} / {statistics.mean(samples[step]) * 1e3:7.1f}"
        )
    print(f"  {'purchase':15s} {statistics.median(totals) * 1e3:7.1f} / {statistics.mean(totals) * 1e3:7.1f}")


def main() -> None:
    purchases = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    profile_path = sys.argv[2] if len(sys.argv) > 2 else None
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        run(purchases, profile_path)
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
