from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from tests.browser import browser  # noqa: F401  (the browser fixture, defined once for every module)
from tests.celery_workers import rabbitmq_broker, redis_broker  # noqa: F401  (the worker tests' brokers)
from tests.emptying import install as install_database_emptying
from tests.merchants.factories import Tenant, make_tenant

install_database_emptying()  # after a test that commits: tests/emptying.py


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--unwrapped-only",
        action="store_true",
        default=False,
        help="run only the tests whose work on the test database is not wrapped in one transaction "
        "(transactional_db, live servers, django_db(transaction=True)): what a transaction-mode pooler "
        "can change (make test-pooled-unwrapped; docs/scaling.md)",
    )
    parser.addoption(
        "--skip-unwrapped",
        action="store_true",
        default=False,
        help="leave out the tests --unwrapped-only runs, except those marked direct_connection (CI runs "
        "those others through PgBouncer instead: .ci/run)",
    )


def _unwrapped(item: pytest.Item) -> bool:
    """Whether ``item`` works on the test database outside one wrapping transaction. A wrapped test
    (the plain ``db`` fixture) runs in a single transaction from its first query to its rollback,
    so a pooler in transaction mode gives it one server connection throughout: through PgBouncer it
    runs exactly as it does directly. An unwrapped one commits, and each of its transactions, its
    threads' and its servers' requests may get another server connection."""
    names = set(getattr(item, "fixturenames", ()))
    if names & {"transactional_db", "live_server", "django_db_serialized_rollback"}:
        return True
    marker = item.get_closest_marker("django_db")
    return bool(marker and (marker.kwargs.get("transaction") or marker.kwargs.get("serialized_rollback")))


def _keep(config: pytest.Config, items: list[pytest.Item], wanted: Callable[[pytest.Item], bool]) -> None:
    config.hook.pytest_deselected(items=[item for item in items if not wanted(item)])
    items[:] = [item for item in items if wanted(item)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    if config.getoption("--unwrapped-only"):
        _keep(config, items, _unwrapped)
    if config.getoption("--skip-unwrapped"):
        _keep(config, items, lambda item: not _unwrapped(item) or "direct_connection" in item.keywords)
    # The slow tests first (a stable sort keeps the rest in order): pytest-xdist hands each worker a
    # run of the list and lets an idle one take half of another's remainder, so a slow test left at
    # the end would be run alone by one worker while the other waits.
    items.sort(key=lambda item: "slow" not in item.keywords)
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" in engine:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (as .ci/run does) to run it")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def error_documented(response: Any, path: str, method: str) -> Any:
    """Every error code an API endpoint answers is listed for it in the schema (under its status),
    checked on every call the tests make: an endpoint that learns a new code without its schema
    saying so fails the test that first meets it."""
    from django.urls import Resolver404, resolve

    from bnpl.api.schema import documented_codes, operation_errors

    if response.status_code < 400 or response.status_code == 405 or response.get("Content-Type") != "application/json":
        return response  # 405: a method the schema has no operation for
    code = (json.loads(response.content).get("error") or {}).get("code")
    try:
        match = resolve(path.split("?")[0])
    except Resolver404:
        return response
    view = getattr(match.func, "view_class", None)
    if code is None or view is None or not hasattr(view, "error_codes"):
        return response
    errors = operation_errors(view, method, names_an_object=bool(match.kwargs))
    listed = documented_codes(errors.get(response.status_code, ""))
    generic = code.startswith("parameter_") and "parameter_<reason>" in listed
    assert code in listed or generic, (
        f"{method} {path} answered {response.status_code} {code!r}, which its schema does not list: "
        f"add it to {view.__name__}.error_codes"
    )
    return response


class ApiClient:
    """The partner API as a merchant's server calls it: JSON, a bearer key, an idempotency key."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.client = Client()

    def _headers(self, idempotency_key: str | None, extra: dict[str, str] | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.token}"}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return {**headers, **(extra or {})}

    def get(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        response = self.client.get(path, params or {}, headers=self._headers(None, kwargs.pop("headers", None)))
        return error_documented(response, path, "GET")

    def post(
        self,
        path: str,
        data: Any = None,
        *,
        idempotency_key: str | None = "auto",
        headers: dict[str, str] | None = None,
    ) -> Any:
        key = str(uuid.uuid4()) if idempotency_key == "auto" else idempotency_key
        body = data if isinstance(data, (str, bytes)) else json.dumps(data if data is not None else {})
        response = self.client.post(path, body, content_type="application/json", headers=self._headers(key, headers))
        return error_documented(response, path, "POST")

    def delete(self, path: str) -> Any:
        return error_documented(self.client.delete(path, headers=self._headers(None, None)), path, "DELETE")

    def request(self, method: str, path: str, data: Any = None) -> Any:
        if method == "get":
            return self.get(path)
        if method == "post":
            return self.post(path, data)
        if method == "delete":
            return self.delete(path)
        raise ValueError(method)


@pytest.fixture
def tenant(db: None) -> Tenant:
    return make_tenant(name="Merchant A")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return make_tenant(name="Merchant B")


@pytest.fixture
def api(tenant: Tenant) -> ApiClient:
    return ApiClient(tenant.test_key)


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def prepares(is_postgres: bool) -> bool:
    """Whether hot paths run prepared statements here (bnpl.core.prepared): on PostgreSQL, not
    behind a transaction pooler."""
    from django.conf import settings

    return is_postgres and not settings.DATABASE_TRANSACTION_POOLING


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Each test starts with no clock offset, no loaded credit model and no merchant's webhook
    endpoints in memory (drop the per-process copies) and an empty cache (throttle counters,
    failed-authentication counters)."""
    from django.core.cache import cache

    from bnpl.core import clock
    from decisioning import scoring
    from merchants import webhooks

    clock.forget_cached_offset()
    scoring.forget_loaded()
    webhooks.endpoints_memo_clear()
    cache.clear()


@pytest.fixture
def celery_worker() -> Iterator[None]:
    """A real Celery worker (in a thread) on the configured broker: Redis in CI; with the embedded
    filesystem broker, a folder of this test process's own (see bnpl.settings.test)."""
    from celery.contrib.testing.worker import start_worker

    from bnpl.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING"):
        yield


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    pytest.fail(f"{what} did not start on port {port}")


@pytest.fixture(scope="session")
def localstripe() -> Iterator[str]:
    """localstripe, a local Stripe-compatible server (with Connect transfers: tests/stripe_server.py),
    started for the session on a free port; the address the Stripe SDK talks to."""
    port = free_port()
    script = Path(__file__).with_name("stripe_server.py")
    process = subprocess.Popen(
        [sys.executable, str(script), "--port", str(port), "--from-scratch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, "localstripe")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def stripe_gateway(settings: Any, localstripe: str) -> None:
    """The Stripe adapter serving test mode (test keys) against localstripe, card numbers allowed
    server-side (tests only)."""
    settings.PAYMENT_GATEWAY_TEST = "bnpl.payments.stripe_gateway.StripeGateway"
    settings.STRIPE_TEST_SECRET_KEY = "sk_test_localstripe"
    settings.STRIPE_TEST_PUBLISHABLE_KEY = "pk_test_localstripe"
    settings.STRIPE_API_BASE = localstripe
    settings.STRIPE_SERVER_SIDE_CARDS = True


@pytest.fixture
def stripe_live_gateway(settings: Any, localstripe: str) -> None:
    """The Stripe adapter serving live mode (live-shaped keys) against localstripe."""
    settings.PAYMENT_GATEWAY_LIVE = "bnpl.payments.stripe_gateway.StripeGateway"
    settings.STRIPE_LIVE_SECRET_KEY = "sk_live_localstripe"
    settings.STRIPE_LIVE_PUBLISHABLE_KEY = "pk_live_localstripe"
    settings.STRIPE_API_BASE = localstripe
    settings.STRIPE_SERVER_SIDE_CARDS = True


@pytest.fixture
def outbox_heard() -> Iterator[list[list[int]]]:
    """The event ids the outbox hands its listeners, one list per call, while the test runs."""
    from bnpl.core import outbox

    calls: list[list[int]] = []

    def listener(event_ids: list[int]) -> None:
        calls.append(event_ids)

    outbox.register_listener(listener)
    try:
        yield calls
    finally:
        outbox._listeners.remove(listener)
