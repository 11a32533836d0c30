"""gunicorn's master loads the URLconf's views and compiles every template before it forks
(``on_starting`` in gunicorn.conf.py, bnpl.core.prefork), so no worker pays for them on its first
requests. It also imports the credit model's library, which no other process loads at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from django.template import engines
from django.template.loaders.cached import Loader as CachedLoader
from django.urls import clear_url_caches, get_resolver

ROOT = Path(__file__).resolve().parents[2]


def _cached_loader() -> CachedLoader:
    engine = engines["django"].engine  # type: ignore[attr-defined]  # DjangoTemplates' own engine
    [loader] = [loader for loader in engine.template_loaders if isinstance(loader, CachedLoader)]
    return loader


class _Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)


def test_the_master_loads_the_views_and_compiles_every_template_before_forking() -> None:
    clear_url_caches()
    loader = _cached_loader()
    loader.reset()
    assert not get_resolver()._populated  # type: ignore[attr-defined]  # Django's, unstubbed

    namespace: dict[str, Any] = {}
    source = (ROOT / "gunicorn.conf.py").read_text()  # the project's own file, as gunicorn reads it
    exec(compile(source, "gunicorn.conf.py", "exec"), namespace)
    log = _Log()
    namespace["on_starting"](SimpleNamespace(log=log))

    assert get_resolver()._populated  # type: ignore[attr-defined]
    cached = loader.get_template_cache
    for name in ("home.html", "consumers/sign_in.html", "merchants/home.html", "emails/purchase_confirmed.html"):
        assert hasattr(cached.get(name), "render"), name  # compiled, not a remembered miss
    [line] = log.lines
    assert line.startswith("loaded before forking: the credit model's library, the URLconf's views and ")
    assert int(line.split(" and ")[1].split()[0]) > 100


# Run in a new interpreter: this one imported XGBoost long ago (the decisioning tests).
_MODEL_LIBRARY_CHECK = """
import sys
import django

django.setup()
loaded = lambda: sorted(name for name in ("xgboost", "sklearn", "scipy", "pandas") if name in sys.modules)
print(loaded())
namespace = {}
exec(compile(open("gunicorn.conf.py").read(), "gunicorn.conf.py", "exec"), namespace)
namespace["on_starting"](type("Server", (), {"log": type("Log", (), {"info": lambda *args: None})()})())
print(loaded())
"""


def test_a_process_starts_without_the_model_library_and_the_web_master_imports_it_before_forking() -> None:
    """XGBoost (with scikit-learn, SciPy and pandas) was half of every process's start; a worker or
    a command that never scores no longer imports it (decisioning.registry)."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test"}
    run = subprocess.run(
        [sys.executable, "-c", _MODEL_LIBRARY_CHECK], cwd=ROOT, env=environment, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    at_start, before_forking = run.stdout.splitlines()
    assert at_start == "[]"
    assert "'xgboost'" in before_forking
