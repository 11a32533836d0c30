"""A card gateway that does not answer, or answers 500, fails the request with a clear 503 and
Retry-After (the API's JSON, the branded page for people), never a 500 page: the errors are the
Stripe client's own, raised by real HTTP calls to a gateway address that refuses connections and
to a local server that answers 500. Collections through such a gateway charge nothing and lose
nothing: the sweep finishes the work once the gateway is back."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe
from django.test import RequestFactory

from bnpl.collections import services as collections
from bnpl.collections.models import CollectionAttempt
from bnpl.core.services import clock_advance
from bnpl.core.views import handler500
from bnpl.payments.models import Charge
from bnpl.plans.models import Installment
from tests.bnpl.checkout.factories import make_authorized_order
from tests.bnpl.ops.instances import reserved_port
from tests.helpers import ledger_ok
from tests.merchants.factories import Tenant


class _Answers500(BaseHTTPRequestHandler):
    def _fail(self) -> None:
        body = json.dumps({"error": {"type": "api_error", "message": "An unknown error occurred"}}).encode()
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _fail

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def failing_gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers500)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _answer_when_the_gateway_fails(base: str, path: str):  # type: ignore[no-untyped-def]
    client = stripe.StripeClient("sk_test_fault", base_addresses={"api": base}, max_network_retries=0)
    request = RequestFactory().post(path)
    try:
        client.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})
    except stripe.StripeError:
        return handler500(request)  # as Django calls it: inside the except block of the failed request
    raise AssertionError("the gateway call did not fail")


@pytest.mark.parametrize("path", ["/api/v1/checkout/sessions", "/checkout/cs_123/confirm"])
def test_a_gateway_that_answers_500_gets_a_503_with_retry_after(failing_gateway: str, path: str) -> None:
    response = _answer_when_the_gateway_fails(failing_gateway, path)
    assert response.status_code == 503
    assert response["Retry-After"].isdigit()


def test_a_gateway_that_does_not_answer_gets_a_503_in_the_apis_shape() -> None:
    with reserved_port(6391, 6399) as port:  # nothing listens there
        response = _answer_when_the_gateway_fails(f"http://127.0.0.1:{port}", "/api/v1/orders/or_1/captures")
    assert response.status_code == 503
    assert json.loads(response.content)["error"]["code"] == "service_unavailable"


class _NeverAnswers(BaseHTTPRequestHandler):
    """Reads the request and says nothing until the client gives up (a gateway that hangs)."""

    def _hang(self) -> None:
        self.server.hung.wait(timeout=30)  # type: ignore[attr-defined]

    do_GET = do_POST = _hang

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hanging_gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NeverAnswers)
    server.hung = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.hung.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["answers 500", "never answers"])
def test_collections_through_a_failing_gateway_charge_nothing_and_the_sweep_finishes_once_it_is_back(
    tenant: Tenant,
    stripe_gateway: None,
    settings: Any,
    failing_gateway: str,
    hanging_gateway: str,
    fault: str,
) -> None:
    """Through the Stripe SDK, end to end: the first payments go through localstripe; then the
    gateway answers 500 (or nothing, past STRIPE_TIMEOUT_SECONDS) for the next collections run:
    nothing is paid, nothing is marked failed against the shopper, the attempts wait in flight.
    When the gateway is back, the sweep (beat, after COLLECTION_STUCK_AFTER) sends the same charges
    with the same keys: each installment paid once, one PaymentIntent each, the ledger balanced."""
    plans = [make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000).plan for _ in range(3)]
    clock_advance(by=dt.timedelta(days=14))
    assert collections.due_installments().count() == 3
    localstripe = settings.STRIPE_API_BASE

    settings.STRIPE_API_BASE = failing_gateway if fault == "answers 500" else hanging_gateway
    settings.STRIPE_TIMEOUT_SECONDS = 1
    run = collections.collections_run()
    assert (run.succeeded, run.failed, run.pending) == (0, 0, 3), run
    assert CollectionAttempt.objects.filter(status="processing").count() == 3
    assert not Installment.objects.filter(plan__in=plans, sequence=2, status="paid").exists()

    settings.STRIPE_API_BASE = localstripe
    swept = collections.collections_sweep(stuck_after=dt.timedelta(0))
    assert swept.succeeded == 3, swept
    assert Installment.objects.filter(plan__in=plans, sequence=2, status="paid").count() == 3
    assert not CollectionAttempt.objects.filter(status="processing").exists()
    keys = list(Charge.objects.filter(idempotency_key__startswith="collect:").values_list("idempotency_key", flat=True))
    stripe_client = stripe.StripeClient("sk_test_localstripe", base_addresses={"api": localstripe})
    intents = stripe_client.v1.payment_intents.list(params={"limit": 100}).auto_paging_iter()
    collected = [intent.metadata.to_dict().get("idempotency_key") for intent in intents]
    assert sorted(key for key in collected if key in keys) == sorted(keys)  # each charge reached Stripe once
    assert ledger_ok()
