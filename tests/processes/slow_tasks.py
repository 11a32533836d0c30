"""The project's Celery app with two more tasks, run by a worker started with
``-A tests.processes.slow_tasks``: ``slow_marker`` for the warm-shutdown test (it marks its start,
sleeps, then marks its end) and ``backend_pid`` for the connection-reuse test (it writes the process
id of the PostgreSQL backend that answered it)."""

import time
from pathlib import Path

from django.db import connection

from bnpl.celery import app

__all__ = ["app", "backend_pid", "slow_marker"]


@app.task(name="tests.processes.slow_marker")
def slow_marker(directory: str, name: str, seconds: float) -> None:
    Path(directory, f"{name}.started").touch()
    time.sleep(seconds)
    Path(directory, f"{name}.done").touch()


@app.task(name="tests.processes.backend_pid")
def backend_pid(directory: str, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    Path(directory, f"{name}.pid").write_text(str(pid))
