"""The project's Celery app with one more task, for the warm-shutdown test: a worker started with
``-A tests.processes.slow_tasks`` runs it. It marks its start, sleeps, then marks its end."""

import time
from pathlib import Path

from bnpl.celery import app

__all__ = ["app", "slow_marker"]


@app.task(name="tests.processes.slow_marker")
def slow_marker(directory: str, name: str, seconds: float) -> None:
    Path(directory, f"{name}.started").touch()
    time.sleep(seconds)
    Path(directory, f"{name}.done").touch()
