"""A WSGI application for the graceful-shutdown test: ``/slow?seconds=N`` answers after N seconds.
Served by gunicorn with the project's gunicorn.conf.py (the settings under test are gunicorn's)."""

import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    seconds = float(parse_qs(environ.get("QUERY_STRING", "")).get("seconds", ["0"])[0])
    time.sleep(seconds)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"slept {seconds}".encode()]
