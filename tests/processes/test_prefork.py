"""gunicorn's master loads the URLconf's views and compiles every template before it forks
(``when_ready`` in gunicorn.conf.py, bnpl.core.prefork), so no worker pays for them on its first
requests."""

from __future__ import annotations

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
    namespace["when_ready"](SimpleNamespace(log=log))

    assert get_resolver()._populated  # type: ignore[attr-defined]
    cached = loader.get_template_cache
    for name in ("home.html", "consumers/sign_in.html", "merchants/home.html", "emails/purchase_confirmed.html"):
        assert hasattr(cached.get(name), "render"), name  # compiled, not a remembered miss
    [line] = log.lines
    assert line.startswith("loaded before forking: the URLconf's views and ")
    assert int(line.split(" and ")[1].split()[0]) > 100
