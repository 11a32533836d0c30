"""The platform through PgBouncer in transaction pooling mode (a pooler of the test's own, in front of
the machine's PostgreSQL; tests/bnpl/ops/instances.py), with ``DATABASE_TRANSACTION_POOLING`` on:
a web process migrates its database, serves the partner API (an idempotent POST replayed), a
shopper's hosted confirm (a credit decision, a payment, an order and its plan, a ledger entry) and a
page, all through pooled server connections that no request keeps between its transactions."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from tests.bnpl.ops.instances import private_pgbouncer
from tests.bnpl.ops.web_process import CARD, SESSION, WebProcess


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True, capture_output=True)


def _pooled_transactions(port: int, database: str) -> int:
    """Transactions PgBouncer ran for ``database`` (its admin console's SHOW STATS)."""
    console = ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "pgbouncer", "-A", "-F", "|"]
    stats = subprocess.run(
        [*console, "-c", "SHOW STATS"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    header = stats[0].split("|")
    rows = [dict(zip(header, line.split("|"), strict=False)) for line in stats[1:]]
    return sum(int(row["total_xact_count"]) for row in rows if row.get("database") == database)


@pytest.mark.slow
def test_the_api_and_a_hosted_confirm_work_through_pgbouncer_in_transaction_pooling() -> None:
    database = f"bnpl_pooled_{uuid.uuid4().hex[:8]}"
    _psql(f"CREATE DATABASE {database}")
    try:
        with private_pgbouncer() as port:
            web = WebProcess(f"postgres://postgres@127.0.0.1:{port}/{database}", DATABASE_TRANSACTION_POOLING="true")
            try:
                assert web.ask(get="/api/v1/account")["status"] == 200
                first = web.ask(post="/api/v1/checkout/sessions", data=SESSION, key="pooled-1")
                again = web.ask(post="/api/v1/checkout/sessions", data=SESSION, key="pooled-1")
                assert first["status"] == again["status"] == 201, (first, again)
                assert json.loads(first["body"])["id"] == json.loads(again["body"])["id"]
                assert web.ask(count="checkout_sessions") == {"count": 1}

                shopper = web.ask(shopper=True)
                form = {"product": shopper["product"], "payment_method": "", **CARD}
                confirmed = web.ask(confirm=shopper["session"], form=form)
                assert confirmed["status"] == 302 and confirmed["location"].endswith("/approved"), confirmed
                money = web.ask(money=shopper["session"])
                assert money["ledger"].startswith("Ledger OK"), money
                assert (money["orders"], money["applied"], money["pending"], money["card_net"]) == (1, 1, 0, 2_500)
                assert web.ask(page="/merchant/login")["status"] == 200
            finally:
                web.close()
            transactions = _pooled_transactions(port, database)
            assert transactions > 100, transactions  # the migrations and the requests went through the pooler
    finally:
        _psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
