"""Real Celery workers for the tests that need them: separate processes on the test's database and
a broker the test names (the configured Redis, or the machine's RabbitMQ), each consuming only a
queue of the test's own and logging to a file, so that a failed wait can say what the processes saw.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from celery import Task
from django.conf import settings
from django.db import connection
from kombu import Connection, Queue

from bnpl.celery import app

ROOT = Path(__file__).resolve().parents[1]
WORKER = [sys.executable, "-m", "celery", "-A", "bnpl", "worker", "--pool=solo", "--without-gossip", "--without-mingle"]

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture
def redis_broker() -> str:
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs a Redis broker (CELERY_BROKER_URL), as .ci/run sets")
    return str(settings.CELERY_BROKER_URL)


@pytest.fixture
def rabbitmq_broker() -> Iterator[str]:
    """The machine's RabbitMQ (``RABBITMQ_URL``), as another broker the workers can share; each test
    consumes a queue of its own, deleted at the end."""
    try:
        with Connection(RABBITMQ_URL, connect_timeout=3) as probe:
            probe.ensure_connection(max_retries=1)
    except OSError as error:
        if os.environ.get("BROWSER_TESTS_REQUIRED"):  # CI: .ci/run starts RabbitMQ; it must be there
            pytest.fail(f"RabbitMQ at {RABBITMQ_URL} is not reachable: {error}")
        pytest.skip(f"RabbitMQ at {RABBITMQ_URL} is not reachable")
    yield RABBITMQ_URL


class Workers(list[subprocess.Popen[bytes]]):
    """The worker processes of one trial, with their logs (one file each, read when a wait fails)."""

    def __init__(self, logs: list[Path], broker: str, state: Callable[[], str]) -> None:
        super().__init__()
        self.logs = logs
        self.broker = broker
        self.state = state

    def send(self, task: Task, queue: str, *, times: int = 1, **kwargs: Any) -> None:  # type: ignore[type-arg]
        """``task`` queued ``times`` on ``queue`` of the workers' broker (as beat sends it)."""
        # The queue as an object, as a worker given ``-Q`` declares it: named by a string, Celery would
        # add it to this process's own queues for good, and this process's in-thread workers
        # (tests/conftest.py celery_worker) and checks of the declared queues would see it.
        destination = app.amqp.queues.new_missing(queue)
        with app.connection_for_write(self.broker) as broker, app.amqp.Producer(broker) as producer:
            for _ in range(times):
                task.apply_async(kwargs=kwargs, queue=destination, producer=producer)

    def ready(self) -> bool:
        return all(log.exists() and " ready." in log.read_text(errors="replace") for log in self.logs)

    def diagnosis(self, queue: str) -> str:
        """What a failed wait needs to be understood from CI's output alone: the test's own state
        (``state``), the queue, the processes, the database's connections and the end of each
        worker's log."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity")
            (connections,) = cursor.fetchone()
        with Connection(self.broker) as broker:
            declared: Any = Queue(queue).bind(broker.default_channel).queue_declare(passive=True)
            _, queued, consumers = declared  # (name, messages waiting, consumers)
        lines = [
            self.state(),
            f"queued={queued} consumers={consumers} pg_connections={connections} broker={self.broker.split(':')[0]}",
            f"exit codes={[process.poll() for process in self]}",
        ]
        for log in self.logs:
            text = log.read_text(errors="replace").splitlines() if log.exists() else []
            lines += [f"--- {log.name} (last 25 of {len(text)} lines)", *text[-25:]]
        return "\n".join(lines)


@contextmanager
def workers(
    queue: str,
    logs: Path,
    broker: str,
    *,
    count: int = 2,
    state: Callable[[], str] = lambda: "",
    environment: dict[str, str] | None = None,
) -> Iterator[Workers]:
    """``count`` worker processes on this test's database and ``broker``, consuming only ``queue``,
    each logging to a file of its own in ``logs`` (``ready()`` reads them; the diagnosis quotes them
    after ``state()``, the test's own account of where it stands). ``environment``: more variables."""
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bnpl.settings.test",
        "CELERY_BROKER_URL": broker,
        "BNPL_TEST_BROKER": broker,  # as it is: the test settings shift only a Redis broker per xdist worker
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        **(environment or {}),
    }
    logs.mkdir(parents=True, exist_ok=True)
    trial = uuid.uuid4().hex[:6]
    processes = Workers([logs / f"{trial}-worker{index}.log" for index in range(count)], broker, state)
    for index, log in enumerate(processes.logs):
        with log.open("wb") as output:
            processes.append(
                subprocess.Popen(
                    [*WORKER, "-Q", queue, "--loglevel=INFO", f"--hostname=worker{index}-{queue}@%h"],
                    cwd=ROOT,
                    env=environment,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def queue_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def queue_delete(broker: str, queue: str) -> None:
    """Drop a test's queue from a broker that keeps queues (RabbitMQ) once the test is done."""
    with Connection(broker) as connection:
        Queue(queue).bind(connection.default_channel).delete()
