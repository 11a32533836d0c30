"""A new gunicorn worker loads the credit model before its first request (gunicorn.conf.py's
``post_worker_init``), and a failure to load it stops nothing: the first decision meets it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import connection

from decisioning import scoring
from decisioning.models import ModelVersion

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)  # the hook closes its thread's connection


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(("info", message % args))

    def warning(self, message: str, *args: Any) -> None:
        self.lines.append(("warning", message % args))


def _post_worker_init() -> list[tuple[str, str]]:
    namespace: dict[str, Any] = {}
    source = (ROOT / "gunicorn.conf.py").read_text()  # the project's own file, as gunicorn reads it
    exec(compile(source, "gunicorn.conf.py", "exec"), namespace)
    log = _Log()
    namespace["post_worker_init"](SimpleNamespace(log=log))
    return log.lines


def test_a_new_worker_loads_the_champion_before_its_first_request(champion: ModelVersion) -> None:
    assert scoring._loaded == {}

    lines = _post_worker_init()

    assert lines == [("info", "credit model loaded: champion")]
    assert connection.connection is None  # requests run on other threads: no idle connection kept
    assert scoring._loaded[ModelVersion.Status.CHAMPION][0] == champion.pk
    assert scoring.champion() is scoring._loaded[ModelVersion.Status.CHAMPION][1]  # the one decisions use


def test_with_no_model_in_service_the_worker_starts_and_says_so(db: None) -> None:
    assert _post_worker_init() == [("info", "credit model loaded: none in service")]
    assert scoring._loaded == {}


def test_an_artifact_that_cannot_be_read_is_logged_and_left_to_the_first_decision(champion: ModelVersion) -> None:
    default_storage.delete(champion.artifact_path)

    lines = _post_worker_init()

    assert [level for level, _ in lines] == ["warning"]
    assert "credit model not loaded before the first request" in lines[0][1]
    assert "cannot be read" in lines[0][1]
    assert scoring._loaded == {}
    with pytest.raises(scoring.ModelUnavailableError):
        scoring.champion()  # the decision still fails closed
