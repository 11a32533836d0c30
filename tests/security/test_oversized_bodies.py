"""Finding: a body over the limit got Django's HTML "Bad Request (400)" page from the JSON API.

The API answers 413 ``body_too_large`` in its JSON error shape, with the limit in the message, writes
nothing and leaves the Idempotency-Key free; JSON-lines streams have their own, larger limit and the
same answer. The pages keep an HTML error. The web server's own limits (request line, header count and
size) are gunicorn's, set in gunicorn.conf.py and documented in docs/api.md: checked here against a real
gunicorn.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from bnpl.api.parsers import JSONLinesParser
from tests.conftest import ApiClient, free_port, wait_for_port
from tests.consumers.factories import make_merchant_consumer
from tests.helpers import row_counts
from tests.merchants.factories import Tenant

BASE_DIR = Path(__file__).resolve().parents[2]
ENDPOINT = {"url": "https://hooks.example.com/bnpl", "enabled_events": ["*"]}


def _oversized_json() -> str:
    body = json.dumps({**ENDPOINT, "description": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return body


def test_an_oversized_json_body_is_a_json_413_that_writes_nothing(api: ApiClient) -> None:
    before = row_counts()

    response = api.post("/api/v1/webhook_endpoints", _oversized_json(), idempotency_key="retry-me")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert (error["type"], error["code"], error["param"]) == ("invalid_request_error", "body_too_large", None)
    assert f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes" in error["message"]
    assert row_counts() == before
    retry = api.post("/api/v1/webhook_endpoints", ENDPOINT, idempotency_key="retry-me")
    assert retry.status_code == 201, retry.content


def test_a_body_just_under_the_limit_is_read(api: ApiClient) -> None:
    padding = settings.DATA_UPLOAD_MAX_MEMORY_SIZE - len(json.dumps({**ENDPOINT, "description": ""})) - 10
    response = api.post("/api/v1/webhook_endpoints", json.dumps({**ENDPOINT, "description": "x" * padding}))
    assert response.status_code == 400  # read and parsed: the description is too long, by name
    assert response.json()["error"]["param"] == "description"


def test_an_oversized_json_lines_stream_is_a_json_413(tenant: Tenant, api: ApiClient) -> None:
    link = make_merchant_consumer(merchant=tenant.merchant, livemode=False)
    line = json.dumps({"id": "t", "account_id": "a", "booked_on": "2025-01-01", "amount": 1, "currency": "USD"})
    body = "\n".join([line] * (JSONLinesParser.max_bytes // len(line) + 2))
    before = row_counts()

    response = api.client.post(
        f"/api/v1/consumers/{link.public_id}/bank-transactions",
        body,
        content_type="application/x-ndjson",
        headers={"Authorization": f"Bearer {tenant.test_key}", "Idempotency-Key": "big-stream"},
    )

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "body_too_large"
    assert f"{JSONLinesParser.max_bytes:,} bytes" in error["message"]
    assert row_counts() == before


def test_pages_keep_an_html_error() -> None:
    response = Client().post(
        "/merchant/login", {"username": "someone@example.com", "password": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE}
    )
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


@pytest.fixture(scope="module")
def gunicorn() -> Iterator[int]:
    """A real gunicorn serving the project with gunicorn.conf.py, as production does."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "bnpl.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, "gunicorn")
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


def _raw(port: int, head: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head.encode("latin-1"))
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    return received.decode("latin-1")


def test_gunicorn_refuses_long_request_lines_and_large_headers(gunicorn: int) -> None:
    path_at_limit = "/api/v1/nowhere?q=" + "a" * (4094 - len("GET /api/v1/nowhere?q= HTTP/1.1"))
    within = _raw(gunicorn, f"GET {path_at_limit} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert within.startswith("HTTP/1.1 404"), within[:200]  # reached Django: the API's JSON 404
    assert '"resource_missing"' in within

    too_long = _raw(gunicorn, f"GET {path_at_limit}a HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert too_long.startswith("HTTP/1.1 414"), too_long[:200]

    many = "".join(f"X-Filler-{number}: 1\r\n" for number in range(100))
    too_many = _raw(gunicorn, f"GET /api/v1/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n{many}Connection: close\r\n\r\n")
    assert too_many.startswith("HTTP/1.1 431"), too_many[:200]

    too_large = _raw(
        gunicorn, f"GET /api/v1/nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'b' * 8190}\r\nConnection: close\r\n\r\n"
    )
    assert too_large.startswith("HTTP/1.1 431"), too_large[:200]
