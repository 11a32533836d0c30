"""gunicorn.conf.py's process settings, read by a real gunicorn: a request in flight when the master
receives SIGTERM (a deploy, a scale-in) completes before the process exits."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_configuration_reads_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("GUNICORN_THREADS", "2")
    namespace: dict[str, Any] = {}
    exec(
        compile((ROOT / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace
    )  # the project's own file
    assert namespace["workers"] == 3
    assert namespace["threads"] == 2
    assert namespace["preload_app"] is True
    assert namespace["accesslog"] == "-"
    assert namespace["graceful_timeout"] < 30  # under ECS's default stop timeout
    assert namespace["max_requests"] > 0 and namespace["max_requests_jitter"] > 0
    assert namespace["control_socket_disable"] is True
    assert namespace["limit_request_line"] == 4094  # the request limits stay (tests/security/test_oversized_bodies.py)


def test_a_request_in_flight_completes_after_sigterm() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "tests.processes.slow_wsgi:app",
        ],
        cwd=ROOT,
        env={**os.environ, "WEB_CONCURRENCY": "1", "GUNICORN_GRACEFUL_TIMEOUT": "20"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    answers: list[tuple[int, bytes]] = []

    def slow_request() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/slow?seconds=3")
        response = connection.getresponse()
        answers.append((response.status, response.read()))

    try:
        wait_for_port(port, "gunicorn")
        client = threading.Thread(target=slow_request)
        client.start()
        time.sleep(1)  # the request is in the worker, sleeping
        process.send_signal(signal.SIGTERM)
        client.join(timeout=30)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert answers == [(200, b"slept 3.0")], process.stderr.read().decode()[-2000:] if process.stderr else ""


def test_the_images_health_check_passes_on_production_settings_with_every_dependency_down() -> None:
    """scripts/healthcheck.py (the image's HEALTHCHECK) against gunicorn on the production settings,
    whose database, cache and broker are names nothing answers: alive all the same (/healthz touches
    none of them), while /readyz says the process is not ready for traffic."""
    from tests.security.production_env import PROJECT_VARIABLES, complete_production_env

    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key not in PROJECT_VARIABLES}
    environment.update(complete_production_env())
    environment.update(
        {
            "DJANGO_SETTINGS_MODULE": "bnpl.settings.production",
            "DATABASE_URL": "postgres://bnpl:x@127.0.0.1:1/bnpl",
            "CACHE_URL": "redis://127.0.0.1:1/1",
            "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
            "ALLOWED_HOSTS": "pay.example.com",
            "WEB_CONCURRENCY": "1",
            "HEALTHCHECK_PORT": str(port),
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "bnpl.wsgi"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, "gunicorn")
        check = subprocess.run(
            [sys.executable, "scripts/healthcheck.py"], cwd=ROOT, env=environment, capture_output=True, timeout=30
        )
        assert check.returncode == 0, check.stderr
        # As an ALB health check asks: the target's own address as Host, plain HTTP, no forwarding.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/healthz", headers={"Host": f"10.0.1.23:{port}"})
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())["status"]) == (200, "ok")
        # Nothing else skips the host check and the HTTPS redirect that way.
        connection.request("GET", "/readyz", headers={"Host": f"10.0.1.23:{port}"})
        response = connection.getresponse()
        response.read()
        assert response.status in (301, 400)
        connection.close()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/readyz", headers={"Host": "pay.example.com", "X-Forwarded-Proto": "https"})
        response = connection.getresponse()
        assert response.status == 503
        body = json.loads(response.read())
        assert {name for name, part in body["checks"].items() if not part["ok"]} == {
            "database",
            "cache",
            "broker",
            "model",
        }
    finally:
        process.terminate()
        process.wait(timeout=30)
