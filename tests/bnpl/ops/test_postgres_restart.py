"""PostgreSQL restarts in the middle of a collections batch, and in the middle of a checkout confirm.

A real Celery worker collects on a PostgreSQL cluster of the test's own (tests/bnpl/ops/instances.py),
sending its charges to a sandbox gateway that takes 30 ms to answer, so that a batch is always under
way. The cluster is restarted (fast shutdown: every connection cut) while attempts are in flight:
the worker's run fails part-way, between claim, charge and settle, with some charges sent and not
recorded. The worker is not restarted. When the database is back, the next scheduled runs (the
sweep, then collections, as beat sends them) finish the work: every due installment is paid, each
charged exactly once at the gateway, nothing left in flight, and the ledger balances."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from bnpl.collections.models import CollectionAttempt
from bnpl.collections.tasks import collections_run, collections_sweep
from tests.bnpl.ops.instances import PrivatePostgres, private_postgres
from tests.bnpl.ops.web_process import CARD, WebProcess
from tests.celery_workers import queue_name, workers
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[3]
PLANS = 100  # two payments due on each: 200 installments


def _environment(database_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "SANDBOX_GATEWAY_LATENCY_MS": "30",
        "COLLECTIONS_GATEWAY_CONCURRENCY": "4",
        "COLLECTIONS_LANES": "2",  # production's default: both lanes lose their connections
        "COLLECTION_STUCK_AFTER_SECONDS": "0",  # the sweep after the restart takes every attempt left
    }


def _collections(database_url: str, *arguments: str) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "tests.bnpl.ops.collections_process", *arguments],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test", **_environment(database_url)},
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _in_flight(cluster: PrivatePostgres) -> int:
    table = CollectionAttempt._meta.db_table
    try:
        connection = psycopg2.connect(cluster.url("bnpl"), connect_timeout=2)
    except psycopg2.OperationalError:
        return 0
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table} WHERE status = 'processing'")
            row = cursor.fetchone()
    finally:
        connection.close()
    return int(row[0]) if row else 0


@pytest.mark.slow
def test_a_postgres_restart_mid_batch_charges_nothing_twice_and_loses_nothing(
    tmp_path: Path, redis_broker: str
) -> None:
    with private_postgres() as cluster:
        cluster.database_create("bnpl")
        database_url = cluster.url("bnpl")
        assert _collections(database_url, "seed", str(PLANS)) == {"due": 2 * PLANS}

        queue = queue_name("restart")
        with workers(queue, tmp_path, redis_broker, count=1, environment=_environment(database_url)) as started:
            [worker] = started
            assert wait_until(started.ready, timeout=120), started.diagnosis(queue)
            started.send(collections_run, queue, batch_size=25)
            assert wait_until(lambda: _in_flight(cluster) > 0, timeout=120), started.diagnosis(queue)
            time.sleep(0.3)  # a batch's calls under way, the one before it settling

            cluster.stop()  # fast: every connection is cut, mid-statement for some
            cluster.start()
            before = _collections(database_url, "report")
            assert before["processing"] > 0, f"the restart did not land with attempts in flight: {before}"
            assert worker.poll() is None, "the worker died with its database"

            # What beat sends next: the sweep (attempts left in flight) and a run (what is still due).
            started.send(collections_sweep, queue)
            started.send(collections_run, queue, batch_size=25)

            def finished() -> bool:
                report = _collections(database_url, "report")
                return report["due"] == 0 and report["processing"] == 0

            assert wait_until(finished, timeout=180, every=1.0), started.diagnosis(queue)

        after = _collections(database_url, "report")
        assert after["paid"] == after["charged"] == 2 * PLANS, (before, after)
        assert after["charged_twice"] == [], after
        assert after["ledger"].startswith("Ledger OK"), after


@pytest.mark.slow
def test_a_postgres_restart_mid_confirm_answers_503_and_the_shopper_pays_once() -> None:
    """The hosted confirm calls the sandbox gateway, which takes a second and a half per call here:
    the card is tokenized (one call), then the payment due today is taken (another). The cluster
    restarts during the payment's call, so the confirm loses its database between its charge and
    its order. The shopper sees the branded 503; pressing again confirms (one order) with the payment
    the first try prepared, and after the sweeps beat runs, the card is charged net exactly the
    first payment, once, and the ledger balances. (A shopper who walks away instead, or pays with
    another card, gets that payment back: tests/bnpl/checkout/test_orphaned_first_payments.py.)"""
    with private_postgres() as cluster:
        cluster.database_create("bnpl")
        web = WebProcess(cluster.url("bnpl"), SANDBOX_GATEWAY_LATENCY_MS="1500")
        try:
            shopper = web.ask(shopper=True)
            session = shopper["session"]
            form = {"product": shopper["product"], "payment_method": "", **CARD}

            web.send(confirm=session, form=form)
            time.sleep(2.0)  # the card tokenized (1.5 s); the payment's call under way
            cluster.stop()
            cluster.start()
            interrupted = web.read()
            assert interrupted["status"] == 503, interrupted  # not 302: the restart landed inside the confirm
            assert "briefly unavailable" in interrupted["body"]
            assert str(interrupted["retry_after"] or "").isdigit()

            again = web.ask(confirm=session, form=form)  # the shopper presses Pay again
            assert again["status"] == 302 and again["location"].endswith("/approved"), again
            # The same card makes the same payment key: the retry took over the first try's payment
            # (pending or taken), so nothing is left for the sweeps to give back.
            assert web.ask(sweep=True) == {"given_back": 0}
            money = web.ask(money=session)
            assert money["ledger"].startswith("Ledger OK"), money
            assert {key: money[key] for key in ("session", "orders", "applied", "pending", "card_net")} == {
                "session": "complete",
                "orders": 1,
                "applied": 1,
                "pending": 0,
                "card_net": 2_500,  # pay in 4 of $100.00: the first payment, once
            }, money
        finally:
            web.close()
