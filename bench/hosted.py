"""CPU of one purchase through the hosted checkout, as the load test's returning shopper makes it
(loadtest/locustfile.py): the checkout page with the offers, the confirm with a card typed in, and
the approval page, through Django's test Client in this process (so the figure is the web process's
own CPU, ``time.process_time``, without the waits for PostgreSQL and Redis); and each step's wall
time, those waits included (the durable commits' disk flushes among them).

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


def _purchase(
    client: Any, merchant: Any, email: str | None, number: int, kind_index: int
) -> dict[str, tuple[float, float]]:
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
    spent: dict[str, tuple[float, float]] = {}
    page = _step(spent, "checkout page", lambda: client.get(path))
    assert page.status_code == 200, page.status_code
    products = PRODUCT_INPUT.findall(page.content.decode())
    assert products, "no offers"
    choice = {"product": products[kind_index % len(products)], **CARD}
    confirmed = _step(spent, "confirm", lambda: client.post(f"{path}/confirm", choice))
    assert confirmed.status_code == 302, (confirmed.status_code, confirmed.content[:2000])
    approved = _step(spent, "approved page", lambda: client.get(confirmed["Location"]))
    assert approved.status_code == 200, approved.status_code
    return spent


def _step(spent: dict[str, tuple[float, float]], name: str, call: Any) -> Any:
    """``call()``, its process CPU and wall seconds kept under ``name``."""
    cpu, wall = time.process_time(), time.perf_counter()
    response = call()
    spent[name] = (time.process_time() - cpu, time.perf_counter() - wall)
    return response


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
    walls: dict[str, list[float]] = {step: [] for step in STEPS}
    totals: list[float] = []
    wall_totals: list[float] = []
    for number in range(WARMUP, WARMUP + purchases):
        client, consumer = shoppers[number // 3]
        if profiler:
            profiler.enable()
        spent = _purchase(client, tenant.merchant, consumer.email, number, number)
        if profiler:
            profiler.disable()
        for step, (seconds, wall) in spent.items():
            samples[step].append(seconds)
            walls[step].append(wall)
        totals.append(sum(seconds for seconds, _ in spent.values()))
        wall_totals.append(sum(wall for _, wall in spent.values()))
    if profiler and profile_path:
        profiler.dump_stats(profile_path)
    if os.environ.get("BENCH_HOSTED_QUERIES"):
        _print_queries(shoppers[-1], tenant.merchant, WARMUP + purchases)
    print(f"hosted purchases: {purchases}; web CPU per step, ms (median / mean); wall time, ms (median)")
    rows: list[tuple[str, list[float], list[float]]] = [(step, samples[step], walls[step]) for step in STEPS]
    for label, cpu_times, wall_times in [*rows, ("purchase", totals, wall_totals)]:
        print(
            f"  {label:15s} {statistics.median(cpu_times) * 1e3:7.1f} / {statistics.mean(cpu_times) * 1e3:7.1f}"
            f"   wall {statistics.median(wall_times) * 1e3:7.1f}"
        )


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
