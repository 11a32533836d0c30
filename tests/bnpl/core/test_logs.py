"""Logs: one JSON object per line with the request id, the merchant and mode, and nothing a shopper
or a merchant would not want in a log store. A full checkout runs with every logger at DEBUG (SQL
included) and every line is scanned for the shopper's email, the card number, the one-time code
and the API key; the same run rendered without redaction shows those values were there to leak."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from celery import shared_task
from django.db import connection
from django.test import Client

from bnpl.core.logs import ContextFilter, JsonFormatter, redact
from consumers.models import SandboxMessage
from tests.bnpl.checkout.factories import IDENTITY_FORM
from tests.conftest import ApiClient, free_port, wait_for_port
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
EMAIL = "ada.lovelace@example.com"
CARD = "4242 4242 4242 4242"


class Capture(logging.Handler):
    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.addFilter(ContextFilter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[tuple[Capture, Capture]]:
    json_lines, raw_lines = Capture(JsonFormatter()), Capture(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    loggers = [root] + [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    levels = [(logger, logger.level) for logger in loggers]
    for logger in loggers:  # every logger at DEBUG ("django" is at INFO by Django's own defaults)
        logger.setLevel(logging.DEBUG)
    root.addHandler(json_lines)
    root.addHandler(raw_lines)
    connection.force_debug_cursor = True  # every SQL statement and its parameters logged at DEBUG
    try:
        yield json_lines, raw_lines
    finally:
        connection.force_debug_cursor = False
        root.removeHandler(json_lines)
        root.removeHandler(raw_lines)
        for logger, level in levels:
            logger.setLevel(level)


def _checkout(tenant: Tenant, django_capture_on_commit_callbacks) -> str:  # type: ignore[no-untyped-def]
    """API key → checkout session → shopper signs in with a one-time code → identity → confirm with a
    card → capture. Returns the one-time code."""
    api, shopper = ApiClient(tenant.test_key), Client()
    created = api.post(
        "/api/v1/checkout/sessions",
        {
            "amount": 12000,
            "currency": "USD",
            "line_items": [{"name": "Trail shoes", "quantity": 1, "unit_amount": 12000}],
            "return_url": "https://shop.example.com/thanks",
            "cancel_url": "https://shop.example.com/cart",
            "customer_email": EMAIL,
        },
    )
    assert created.status_code == 201, created.content
    path = urlsplit(created.json()["url"]).path
    shopper.get(path)
    with django_capture_on_commit_callbacks(execute=True):
        shopper.post(f"/account/sign-in?next={path}", {"identifier": EMAIL})
    found = re.search(r"code is (\d{6})", SandboxMessage.objects.filter(destination=EMAIL).latest("id").body)
    assert found
    code = found.group(1)
    assert shopper.post("/account/verify", {"code": code}).status_code == 302
    assert shopper.post(f"{path}/identity", IDENTITY_FORM).status_code == 302
    page = shopper.get(path).content.decode()
    product = re.search(r'name="product" value="(prod_\w+)"', page)
    assert product, page
    confirmed = shopper.post(
        f"{path}/confirm",
        {"product": product.group(1), "card_number": CARD, "exp_month": "12", "exp_year": "2035", "cvc": "123"},
    )
    assert confirmed.status_code == 302 and confirmed["Location"].endswith("/approved"), confirmed
    approval = shopper.get(confirmed["Location"]).content.decode()
    target = re.search(r'id="continue" href="([^"]+)"', approval)
    assert target
    order_id = parse_qs(urlsplit(target.group(1).replace("&amp;", "&")).query)["order"][0]
    assert api.post(f"/api/v1/orders/{order_id}/captures", {"amount": 12000}).status_code == 201
    return code


def test_a_full_checkout_logs_json_lines_without_personal_data_or_secrets(
    tenant: Tenant, captured: tuple[Capture, Capture], django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    json_lines, raw_lines = captured
    code = _checkout(tenant, django_capture_on_commit_callbacks)

    secrets = {
        "email": EMAIL,
        "card": CARD.replace(" ", ""),
        "card spaced": CARD,
        "code": code,
        "API key": tenant.test_key,
    }
    raw = "\n".join(raw_lines.lines)
    # Without the redaction the run would leak: the scan below can fail.
    assert [name for name, secret in secrets.items() if secret in raw], "nothing to find: the capture is broken"
    assert len(json_lines.lines) > 50
    records = [json.loads(line) for line in json_lines.lines]  # each line one JSON object
    leaks = [(name, line) for line in json_lines.lines for name, secret in secrets.items() if secret in line]
    assert leaks == []
    assert not re.search(r"sk_(test|live)_[A-Za-z0-9]{8}", "\n".join(json_lines.lines))
    requests = [record for record in records if record["request_id"] != "-"]
    assert requests and all(re.fullmatch(r"req_[0-9a-f]{32}", record["request_id"]) for record in requests)
    api_lines = [record for record in records if record["merchant_id"] == tenant.merchant.public_id]
    assert api_lines and {record["mode"] for record in api_lines} == {"test"}


def test_a_well_formed_incoming_request_id_is_kept_and_returned(
    tenant: Tenant, captured: tuple[Capture, Capture]
) -> None:
    json_lines, _ = captured
    response = ApiClient(tenant.test_key).get("/api/v1/orders", headers={"X-Request-Id": "lb-trace-0123456789"})
    assert response["X-Request-Id"] == "lb-trace-0123456789"
    assert any(json.loads(line)["request_id"] == "lb-trace-0123456789" for line in json_lines.lines)
    bad = Client().get("/healthz", headers={"X-Request-Id": "bad id\nwith newline"})
    assert re.fullmatch(r"req_[0-9a-f]{32}", bad["X-Request-Id"])


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("signed in as ada@example.com", "signed in as"),
        ("card 4242424242424242 declined", "declined"),
        ("card 4000-0000-0000-9995", "card"),
        ("key sk_live_abcDEF123456 used", "used"),
        ("Authorization: Bearer abc.def-ghi", "Authorization"),
        ("Your code is 493817.", "Your code is"),
        ("password=hunter2&next=/", "&next=/"),
        ("amount 120000 in cents, order ord_123", "amount 120000 in cents, order ord_123"),
    ],
)
def test_redaction_masks_each_known_pattern_and_keeps_the_rest(text: str, kept: str) -> None:
    masked = redact(text)
    assert kept in masked
    for secret in (
        "ada@example.com",
        "4242424242424242",
        "4000-0000-0000-9995",
        "sk_live_abc",
        "abc.def",
        "493817",
        "hunter2",
    ):
        assert secret not in masked


def test_fields_named_like_secrets_are_masked_and_tasks_are_named() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    record.password, record.email, record.amount = "p4ss", "a@b.co", 5  # type: ignore[attr-defined]
    ContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert (line["password"], line["email"], line["amount"]) == ("[redacted]", "[redacted]", 5)
    assert (line["task_id"], line["task_name"], line["merchant_id"], line["mode"]) == ("-", "-", "-", "-")
    assert line["level"] == "INFO" and line["logger"] == "x" and line["message"] == "hello"


def test_gunicorn_writes_json_access_lines_without_the_query_string(tmp_path: Path) -> None:
    """A real gunicorn with gunicorn.conf.py: its own lines and its access lines are JSON objects, the
    access line carries the request id and the path without its query (which may hold a token)."""
    port = free_port()
    output = tmp_path / "gunicorn.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "bnpl.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                "1",
            ],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(port, "gunicorn")
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/healthz?token=sk_test_secret123&email={EMAIL}",
                headers={"X-Request-Id": "access-log-0001"},
            )
            try:  # /healthz answers 503 when the settings' database is not this run's: either is fine here
                with urllib.request.urlopen(request, timeout=30) as answer:
                    status = answer.status
            except urllib.error.HTTPError as error:
                status = error.code
        finally:
            process.terminate()
            process.wait(timeout=30)
    lines = [json.loads(line) for line in output.read_text().splitlines() if line.strip()]
    [access] = [line for line in lines if line["logger"] == "gunicorn.access"]
    assert (access["method"], access["path"], access["status"]) == ("GET", "/healthz", str(status))
    assert access["request_id"] == "access-log-0001" and access["duration_ms"] > 0
    assert "sk_test_secret123" not in output.read_text() and EMAIL not in output.read_text()


@shared_task(name="tests.bnpl.core.test_logs.logging_task")
def logging_task() -> None:
    logging.getLogger("bnpl.test").warning("collecting")


def test_a_celery_task_log_line_names_the_task(captured: tuple[Capture, Capture]) -> None:
    json_lines, _ = captured
    result = logging_task.apply()
    [line] = [json.loads(line) for line in json_lines.lines if '"collecting"' in line]
    assert (line["task_id"], line["task_name"]) == (result.id, "tests.bnpl.core.test_logs.logging_task")
