"""What a web process loads lazily on its first requests, loaded once in gunicorn's master before
it listens and forks its workers (``on_starting`` in gunicorn.conf.py), so that every worker, and
every worker that replaces one recycled by ``max_requests``, starts with it in memory it shares
with the master.

Measured on a new process (docs/performance.md): the first request resolving a URL imported every
view module through the URLconf (~460 ms of CPU), the first render of each template compiled it
(~150 ms for an error page), and the first decision imported XGBoost with the libraries it loads
(~1.2 s; ``decisioning.registry.model_library_import``, which gunicorn.conf.py calls beside
``warm``). Under load a recycled
worker's first requests took 300 to 1,800 ms while the others answered in tens.

Only what needs no connection, no thread and no file handle kept open may be done here: the
workers inherit the master's memory, and anything of that kind would be shared by all of them."""

from __future__ import annotations

from pathlib import Path

from django.template import TemplateDoesNotExist, TemplateSyntaxError, engines
from django.urls import get_resolver

TEMPLATE_SUFFIXES = (".html", ".txt")


def warm() -> int:
    """Import every view through the URLconf and compile every template of every engine's
    directories into its cached loader. Returns how many templates it compiled."""
    get_resolver().reverse_dict  # noqa: B018 - reading it populates the resolver: imports the URLconf's views
    compiled = 0
    for backend in engines.all():
        engine = getattr(backend, "engine", None)
        if engine is None:
            continue
        for loader in engine.template_loaders:
            for directory in loader.get_dirs() if hasattr(loader, "get_dirs") else _inner_dirs(loader):
                root = Path(directory)
                for path in sorted(root.rglob("*")):
                    if path.suffix not in TEMPLATE_SUFFIXES or not path.is_file():
                        continue
                    try:
                        engine.get_template(path.relative_to(root).as_posix())
                    except (TemplateDoesNotExist, TemplateSyntaxError, UnicodeDecodeError):
                        continue  # not a template of this engine's, or one only its own caller can load
                    compiled += 1
    return compiled


def _inner_dirs(loader: object) -> list[str]:
    """The directories of a cached loader's own loaders."""
    return [str(d) for inner in getattr(loader, "loaders", []) for d in inner.get_dirs()]
