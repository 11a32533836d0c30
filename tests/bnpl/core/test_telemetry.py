"""Sentry and OpenTelemetry: off by default; on with their settings, they start, and what they send
carries no personal data (Sentry through the library's own transport hook, capturing in-process;
OpenTelemetry to a local OTLP/HTTP receiver)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sentry_sdk
from django.test import Client
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from bnpl.core import telemetry

EMAIL, CARD, CODE, ADDRESS = "ada@example.com", "4242424242424242", "493817", "203.0.113.9"


class Captured(Transport):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[dict[str, Any]] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        for item in envelope.items:
            if item.type in ("event", "transaction") and item.payload.json is not None:
                self.events.append(item.payload.json)


@pytest.fixture
def fresh() -> Iterator[None]:
    telemetry._started.clear()
    yield
    telemetry._started.clear()


def test_off_by_default(settings, fresh: None) -> None:  # type: ignore[no-untyped-def]
    assert (settings.SENTRY_DSN, settings.OTEL_EXPORTER_OTLP_ENDPOINT) == ("", "")
    assert telemetry.sentry_start() is False and telemetry.otel_start() is False


def test_sentry_starts_with_a_dsn_and_sends_nothing_personal(settings, fresh: None) -> None:  # type: ignore[no-untyped-def]
    transport = Captured()
    settings.SENTRY_DSN = "https://public@o0.ingest.sentry.io/1"
    settings.SENTRY_TRANSPORT = transport
    try:
        assert telemetry.sentry_start() is True
        with sentry_sdk.new_scope() as scope:
            scope.set_extra("customer_email", EMAIL)
            scope.set_user({"email": EMAIL, "ip_address": ADDRESS})
            try:
                raise ValueError(f"card {CARD} of {EMAIL} declined, code is {CODE}")
            except ValueError as error:
                sentry_sdk.capture_exception(error)
        sentry_sdk.flush()
    finally:
        sentry_sdk.init(dsn=None)  # the library off again for the rest of the run
    [event] = transport.events
    text = str(event)
    assert "declined" in text  # the report is there...
    assert [secret for secret in (EMAIL, CARD, CODE, ADDRESS) if secret in text] == []  # ...scrubbed


def test_scrub_drops_what_identifies_a_person_from_a_request() -> None:
    event = {
        "request": {
            "url": "https://pay.example.com/account/verify?code=493817",
            "query_string": "code=493817",
            "cookies": {"sessionid": "s3cr3t"},
            "data": {"code": "493817", "card_number": CARD},
            "headers": {
                "Authorization": "Bearer sk_live_abcdef123456",
                "User-Agent": "UA",
                "Cookie": "sessionid=s3cr3t",
            },
        },
        "user": {"email": EMAIL},
        "extra": {"note": f"mail {EMAIL}", "amount": 1200},
    }
    scrubbed = telemetry.scrub(event)
    assert scrubbed["request"] == {"url": "https://pay.example.com/account/verify", "headers": {"User-Agent": "UA"}}
    assert "user" not in scrubbed and scrubbed["extra"] == {"note": "mail [redacted]", "amount": 1200}


class _Collector:
    def __init__(self) -> None:
        self.paths: list[str] = []
        self.bodies: list[bytes] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                collector.paths.append(self.path)
                collector.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.mark.django_db
def test_opentelemetry_starts_with_an_endpoint_and_exports_a_request_span(settings, fresh: None) -> None:  # type: ignore[no-untyped-def]
    from opentelemetry import trace
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    collector = _Collector()
    thread = threading.Thread(target=collector.server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    settings.OTEL_EXPORTER_OTLP_ENDPOINT = collector.url
    try:
        assert telemetry.otel_start() is True
        assert Client().get("/healthz?email=ada@example.com").status_code == 200
        provider = trace.get_tracer_provider()
        provider.force_flush()  # type: ignore[attr-defined]
    finally:
        DjangoInstrumentor().uninstrument()
        trace.get_tracer_provider().shutdown()  # type: ignore[attr-defined]
        collector.server.shutdown()
        collector.server.server_close()
    assert collector.paths and set(collector.paths) == {"/v1/traces"}
    body = b"".join(collector.bodies)
    assert b"healthz" in body
    assert EMAIL.encode() not in body and b"email=" not in body  # the query string stays home
