"""Optional error reporting (Sentry) and tracing (OpenTelemetry, OTLP), each off until its setting is
given: ``SENTRY_DSN``; ``OTEL_EXPORTER_OTLP_ENDPOINT``. Started once per process by the core app.

Nothing personal leaves: Sentry is told not to collect personal data (``data_collection``) and
every event passes ``scrub`` first (cookies, headers that authenticate, request bodies and query
strings dropped; every string redacted as the logs are; fields named like secrets masked).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from bnpl.core.logs import redact, scrubbed

_started: set[str] = set()
DROPPED_REQUEST_PARTS = ("cookies", "data", "query_string", "env")
KEPT_HEADERS = {"content-type", "user-agent", "x-request-id", "content-length", "accept"}


def scrub(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's ``before_send`` (and ``before_send_transaction``): the event without personal data."""
    request = event.get("request")
    if isinstance(request, dict):
        for part in DROPPED_REQUEST_PARTS:
            request.pop(part, None)
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {name: value for name, value in headers.items() if name.lower() in KEPT_HEADERS}
        if isinstance(request.get("url"), str):
            request["url"] = request["url"].split("?", 1)[0]
    event.pop("user", None)
    return dict(scrubbed(event))


def sentry_start() -> bool:
    dsn = str(getattr(settings, "SENTRY_DSN", "") or "")
    if not dsn or "sentry" in _started:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=str(getattr(settings, "SENTRY_ENVIRONMENT", "production")),
        integrations=[DjangoIntegration(), CeleryIntegration()],
        data_collection={"user_info": False, "http_bodies": []},
        include_local_variables=False,  # a frame's locals may hold a card number or a code
        max_request_body_size="never",
        before_send=scrub,  # type: ignore[arg-type]
        before_send_transaction=scrub,  # type: ignore[arg-type]
        traces_sample_rate=float(getattr(settings, "SENTRY_TRACES_SAMPLE_RATE", 0.0)),
        transport=getattr(settings, "SENTRY_TRANSPORT", None),
    )
    _started.add("sentry")
    return True


def otel_start() -> bool:
    endpoint = str(getattr(settings, "OTEL_EXPORTER_OTLP_ENDPOINT", "") or "")
    if not endpoint or "otel" in _started:
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": str(settings.OTEL_SERVICE_NAME)}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    trace.set_tracer_provider(provider)
    DjangoInstrumentor().instrument(
        is_sql_commentor_enabled=False, request_hook=_span_scrub, response_hook=lambda span, _, __: _span_scrub(span, _)
    )
    _started.add("otel")
    return True


QUERY_ATTRIBUTES = ("http.url", "http.target", "url.full", "url.query")


def _span_scrub(span: Any, _request: Any) -> None:
    """A request's span without its query string (a one-time link's token, a search by email), and
    every other string attribute redacted as the logs are."""
    if not span.is_recording():
        return
    for name, value in dict(getattr(span, "attributes", None) or {}).items():
        if not isinstance(value, str):
            continue
        if name in QUERY_ATTRIBUTES:
            value = "" if name == "url.query" else value.split("?", 1)[0]
        span.set_attribute(name, redact(value))


def start() -> None:
    sentry_start()
    otel_start()
