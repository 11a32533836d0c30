"""Celery's processes as production runs them: tasks routed to queues by urgency, a worker finishing
the task in flight on SIGTERM (warm shutdown), and beat held to one process by its Redis lock.
The real-process tests need a Redis broker (CELERY_BROKER_URL), as .ci/run sets."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from bnpl.celery import app
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[2]
KNOWN_QUEUES = set(settings.CELERY_QUEUE_NAMES)


def _project_tasks() -> set[str]:
    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith(("celery.", "tests."))}


@pytest.mark.django_db
def test_every_registered_task_is_routed_to_a_known_queue() -> None:
    tasks = _project_tasks()
    assert len(tasks) >= 20  # the registry was really walked
    unrouted = sorted(tasks - set(settings.CELERY_TASK_ROUTES))
    assert not unrouted, f"add these tasks to a queue in CELERY_TASK_ROUTES (bnpl/settings/base.py): {unrouted}"
    for name in tasks:
        queue = app.amqp.router.route({}, name)["queue"].name
        assert queue in KNOWN_QUEUES, (name, queue)
    assert set(settings.CELERY_TASK_ROUTES) <= tasks, "a route names a task that no longer exists"


def test_a_worker_without_queues_named_consumes_every_queue() -> None:
    """The demo's worker (scripts/serve_demo.sh), the load test's (loadtest/run.py) and the tests'
    (tests/conftest.py celery_worker) name no queue: they consume the declared ones, all of them."""
    assert set(app.amqp.queues) == KNOWN_QUEUES
    entrypoint = (ROOT / "scripts" / "entrypoint.sh").read_text()
    assert f"CELERY_QUEUES:-{','.join(settings.CELERY_QUEUE_NAMES)}" in entrypoint  # the image's default: all


def test_urgent_work_is_apart_from_batches() -> None:
    routes = {name: route["queue"] for name, route in settings.CELERY_TASK_ROUTES.items()}
    assert routes["merchants.tasks.webhook_deliveries_send"] == "urgent"
    assert routes["bnpl.notifications.tasks.notifications_send_for_events"] == "urgent"
    assert routes["bnpl.collections.tasks.collections_run"] == "collections"
    assert routes["bnpl.lake.tasks.lake_export_events"] == "lake"
    assert routes["merchants.tasks.settlements_run"] == "settlements"
    assert settings.CELERY_TASK_DEFAULT_QUEUE in KNOWN_QUEUES


# --- Real processes on Redis -------------------------------------------------------------------


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs a Redis broker (CELERY_BROKER_URL), as .ci/run sets")
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for queue in KNOWN_QUEUES:
        client.delete(queue)
    yield client
    for queue in KNOWN_QUEUES:
        client.delete(queue)


def _worker(*arguments: str, pool: str = "solo", environment: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.processes.slow_tasks",
            "worker",
            f"--pool={pool}",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
            f"--hostname=processes-{uuid.uuid4().hex[:8]}@%h",
            *arguments,
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test", **(environment or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def test_a_task_lands_on_its_queue_and_only_that_queues_worker_runs_it(broker: redis.Redis, tmp_path: Path) -> None:
    from bnpl.collections.tasks import collections_sweep

    collections_sweep.delay()  # routed, not told its queue
    assert broker.llen("collections") == 1
    assert sum(broker.llen(queue) for queue in KNOWN_QUEUES - {"collections"}) == 0
    broker.delete("collections")

    from tests.processes.slow_tasks import slow_marker

    # A worker of the batch queues never takes urgent work; the urgent queue's worker does.
    batch = _worker("-Q", "collections,lake,settlements,default")
    try:
        slow_marker.apply_async(args=(str(tmp_path), "urgent", 0), queue="urgent")
        time.sleep(3)
        assert not (tmp_path / "urgent.done").exists()
        assert broker.llen("urgent") == 1
    finally:
        batch.terminate()
        batch.wait(timeout=30)
    urgent = _worker("-Q", "urgent")
    try:
        assert wait_until(lambda: (tmp_path / "urgent.done").exists(), timeout=30.0), (
            "the urgent queue's worker never ran it"
        )
    finally:
        urgent.terminate()
        urgent.wait(timeout=30)


def test_sigterm_lets_the_task_in_flight_finish_and_loses_nothing(broker: redis.Redis, tmp_path: Path) -> None:
    from tests.processes.slow_tasks import slow_marker

    worker = _worker("-Q", "urgent", "--concurrency=1", pool="prefork")  # the image's pool
    try:
        slow_marker.apply_async(args=(str(tmp_path), "first", 4), queue="urgent")
        assert wait_until(lambda: (tmp_path / "first.started").exists(), timeout=30.0), (
            "the worker never started the task"
        )
        slow_marker.apply_async(args=(str(tmp_path), "second", 0), queue="urgent")  # waiting behind it
        worker.send_signal(signal.SIGTERM)  # warm shutdown
        assert worker.wait(timeout=30) == 0
    finally:
        _stop(worker)
    assert (tmp_path / "first.done").exists(), "the task in flight was cut short"
    assert not (tmp_path / "second.started").exists()
    assert broker.llen("urgent") == 1, "the waiting task was lost, not left for the next worker"
    successor = _worker("-Q", "urgent")
    try:
        assert wait_until(lambda: (tmp_path / "second.done").exists(), timeout=30.0), (
            "the next worker never ran the waiting task"
        )
    finally:
        successor.terminate()
        successor.wait(timeout=30)


def _beat(schedule_dir: Path, lock_timeout: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "bnpl", "beat", "-S", "redbeat.RedBeatScheduler", "--loglevel=INFO"],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "bnpl.settings.test",
            "CELERY_REDBEAT_REDIS_URL": settings.CELERY_BROKER_URL,
            "CELERY_REDBEAT_LOCK_TIMEOUT": str(lock_timeout),
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


# Above beat's loop interval (CELERY_BEAT_MAX_LOOP_INTERVAL, 10 s), as production's 60 s is: the
# lock is renewed once a loop.
LOCK_TIMEOUT = 12


@pytest.mark.slow
def test_a_second_beat_waits_for_the_first_ones_lock(broker: redis.Redis, tmp_path: Path) -> None:
    lock = settings.CELERY_REDBEAT_LOCK_KEY
    broker.delete(lock)
    first = _beat(tmp_path, lock_timeout=LOCK_TIMEOUT)
    second = None
    try:
        assert wait_until(lambda: broker.exists(lock) == 1, timeout=30.0), "the first beat never took the lock"
        holder = broker.get(lock)
        schedule = f"{settings.CELERY_REDBEAT_KEY_PREFIX}:schedule"  # as redbeat names it
        assert wait_until(lambda: broker.zcard(schedule) >= len(settings.CELERY_BEAT_SCHEDULE), timeout=30.0), (
            "no schedule in Redis"
        )
        second = _beat(tmp_path, lock_timeout=LOCK_TIMEOUT)
        time.sleep(LOCK_TIMEOUT + 3)  # longer than the lock's timeout: the first renews it at every tick
        assert second.poll() is None  # waiting, not sending
        assert broker.get(lock) == holder, "the lock changed hands while its beat was alive"
        first.kill()  # gone without releasing it: the lock expires, the second takes over
        assert wait_until(lambda: broker.get(lock) not in (None, holder), timeout=45), "the second beat never took over"
    finally:
        _stop(first)
        if second is not None:
            _stop(second)
        for key in broker.scan_iter(f"{settings.CELERY_REDBEAT_KEY_PREFIX}*"):
            broker.delete(key)


@pytest.mark.django_db
def test_a_worker_keeps_its_database_connection_between_tasks_and_replaces_a_dropped_one(
    broker: redis.Redis, tmp_path: Path
) -> None:
    """Celery's Django fixup alone would open a new PostgreSQL connection for every task; with
    CELERY_DB_REUSE_MAX and bnpl.core.connections a task keeps the worker's connection as a request
    keeps a web process's, and a connection the server dropped between tasks is replaced, not failed on."""
    from django.db import connection

    from tests.processes.slow_tasks import backend_pid

    database = connection.settings_dict
    queue = f"connections-{uuid.uuid4().hex[:8]}"
    worker = _worker(
        "-Q",
        queue,
        environment={
            "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        },
    )

    destination = app.amqp.queues.new_missing(queue)  # not added to this process's queues (tests/celery_workers.py)

    def run(name: str) -> int:
        backend_pid.apply_async(args=(str(tmp_path), name), queue=destination)
        answer = tmp_path / f"{name}.pid"
        assert wait_until(answer.exists, timeout=60.0), f"task {name} never finished"
        return int(answer.read_text())

    try:
        pids = [run(name) for name in ("first", "second", "third")]
        assert len(set(pids)) == 1, f"a new connection per task: backends {pids}"
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pids[0]])
        assert wait_until(lambda: not _backend_alive(pids[0]), timeout=10.0)
        assert run("after the drop") != pids[0]
    finally:
        _stop(worker)
        broker.delete(queue)


def _backend_alive(pid: int) -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        # The test runs inside a transaction, and PostgreSQL snapshots pg_stat_activity at its first
        # read in a transaction: without clearing it, a backend still exiting at the first look would
        # be seen alive until the transaction ends (CI's failure at 795 s).
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
        return bool(cursor.fetchone()[0])
