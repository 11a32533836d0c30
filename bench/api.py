"""The partner API spine against a bare Django view returning a small JSON body through the same
middleware stack: an authenticated GET (key lookup, throttle, tenant scoping, serialization), an
idempotent POST that creates an object (claim, transaction, audit row, outbox event, stored
response), its replay, a capture (order lock, fee, balanced journal entry, event), a checkout
session created (its offers in the answer), an order read with its captures, and a list of orders
(with its query count at two page sizes: it must not grow with the rows). Pure math (schedules,
Appendix J APR) is compared with a trivial Python loop measured in the same run.

This module is also the bench's URLconf (the bare view beside the project's URLs)."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path

from bench.common import measure, time_pure

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "400"))


def bare(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"id": "mer_x", "object": "merchant", "name": "Bench"})


urlpatterns = [path("bench/bare", bare), path("", include("bnpl.urls"))]


def _queries(call: Any) -> int:
    with CaptureQueriesContext(connection) as captured:
        call()
    return len(captured.captured_queries)


def bench_api(tenant: Any) -> None:
    from bnpl.plans import schedule
    from tests.bnpl.checkout.factories import make_authorized_order

    client = Client()
    auth = {"Authorization": f"Bearer {tenant.test_key}"}
    body = '{"url": "https://bench.example.com/hook", "enabled_events": ["*"]}'

    def post(key: str) -> int:
        return client.post(
            "/api/v1/webhook_endpoints", body, content_type="application/json", headers={**auth, "Idempotency-Key": key}
        ).status_code

    replay_key = str(uuid.uuid4())
    post(replay_key)

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

    session_body = (
        '{"amount": 12000, "currency": "USD", "line_items": [{"name": "Lamp", "quantity": 1, "unit_amount": 12000}],'
        ' "return_url": "https://shop.example.com/done", "cancel_url": "https://shop.example.com/cart"}'
    )

    def session_create() -> int:
        return client.post(
            "/api/v1/checkout/sessions",
            session_body,
            content_type="application/json",
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        ).status_code

    def order_list(limit: int) -> int:
        return client.get(f"/api/v1/orders?limit={limit}", headers=auth).status_code

    start = dt.date(2026, 1, 15)
    payments = schedule.amortized(principal=250_000, apr_bps=1499, months=12, start=start)
    dated = [(payment.due_date, payment.amount) for payment in payments]

    def timed(label: str, call: Any, expected: int) -> tuple[float, float]:
        return measure(label, call, expected, requests=REQUESTS)

    baseline = timed("bare view", lambda: client.get("/bench/bare").status_code, 200)
    rows = [
        (
            "GET /api/v1/account (authenticated)",
            timed("get", lambda: client.get("/api/v1/account", headers=auth).status_code, 200),
        ),
        ("POST /api/v1/webhook_endpoints (new key)", timed("post", lambda: post(str(uuid.uuid4())), 201)),
        ("POST replay (same key)", timed("replay", lambda: post(replay_key), 201)),
        ("POST /api/v1/orders/{id}/captures (ledger)", timed("capture", capture, 201)),
        ("POST /api/v1/checkout/sessions (with offers)", timed("session", session_create, 201)),
        (
            "GET /api/v1/orders/{id} (its captures)",
            timed(
                "retrieve", lambda: client.get(f"/api/v1/orders/{orders[0].public_id}", headers=auth).status_code, 200
            ),
        ),
        ("GET /api/v1/orders?limit=10", timed("list", lambda: order_list(10), 200)),
    ]
    list_queries = {limit: _queries(lambda limit=limit: order_list(limit)) for limit in (10, 50)}
    pure_baseline = time_pure(lambda: sum(range(1000)))
    pure_rows = [
        (
            "schedule.amortized (12 months)",
            time_pure(lambda: schedule.amortized(principal=250_000, apr_bps=1499, months=12, start=start)),
        ),
        (
            "schedule.apr (Appendix J, 12 payments)",
            time_pure(lambda: schedule.apr(amount_financed=250_000, payments=dated, advance_date=start)),
        ),
    ]
    print(f"\npartner API; {REQUESTS} requests each; median per request (wall, and this process's CPU);")
    print("ratio to the bare view's")
    wall_floor, cpu_floor = baseline
    print(f"{'baseline: bare Django view':45s} {wall_floor:9.0f} µs   1.00x   CPU {cpu_floor:7.0f} µs   1.00x")
    for label, (wall, cpu) in rows:
        print(f"{label:45s} {wall:9.0f} µs  {wall / wall_floor:5.2f}x   CPU {cpu:7.0f} µs  {cpu / cpu_floor:5.2f}x")
    print(f"{'GET /api/v1/orders: queries at limit 10 / 50':45s} {list_queries[10]:9d} / {list_queries[50]}")
    print(f"{'baseline: sum(range(1000)) in Python':45s} {pure_baseline:9.1f} µs   1.00x")
    for label, micros in pure_rows:
        print(f"{label:45s} {micros:9.1f} µs  {micros / pure_baseline:5.1f}x")
