"""A web process on a database of its own, for the fault tests: ``python -m tests.bnpl.ops.web_process``
with DATABASE_URL pointing at the test's private PostgreSQL cluster (tests/bnpl/ops/instances.py).

It migrates that database, makes a merchant with a test key, then reads one JSON command per line
on stdin and answers each with one JSON line on stdout, as production's handlers answer (nothing
re-raised into the test):

* ``{"get": "/api/v1/account"}`` -> ``{"status": 200, "retry_after": null, "body": "..."}``
* ``{"post": "/api/v1/checkout/sessions", "data": {...}, "key": "idem-1"}`` -> the same shape
* ``{"page": "/"}`` -> the same shape for a page for people (no API key); with ``"form": {...}``
  the form is posted to it
* ``{"count": "checkout_sessions"}`` -> ``{"count": n}``: rows for the merchant, read directly
* ``{"shopper": true}`` -> ``{"session": "cs_...", "product": "prod_..."}``: a new checkout session and
  a verified shopper signed in to a browser of their own, and the pay-in-4 offer's id
* ``{"confirm": "cs_...", "form": {...}}`` -> the shopper's browser posts the hosted confirm
* ``{"sweep": true}`` -> what beat runs for payments left in flight: pending charges settled, orphaned
  first payments given back (``{"given_back": n}``)
* ``{"money": "cs_..."}`` -> the session's orders and payments as the test checks them (below)

``WebProcess`` is the test's side: it starts this module and speaks the protocol (``LineProcess``,
which the replica test's process shares).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]


# What the fault tests send: a checkout session for the partner API, and the test card typed on the
# hosted confirm.
SESSION = {
    "amount": 12000,
    "currency": "USD",
    "line_items": [{"name": "Trail shoes", "quantity": 1, "unit_amount": 12000}],
    "return_url": "https://shop.example.com/thanks",
    "cancel_url": "https://shop.example.com/cart",
    "merchant_reference": "fault-1",
}
CARD = {"card_number": "4242 4242 4242 4242", "exp_month": "12", "exp_year": "2035", "cvc": "123"}


class LineProcess:
    """A test module run as a process of its own (``python -m module``, test settings plus
    ``environment``), spoken to with one JSON line per command and per answer. Its first line
    says it is ready; ``ready`` holds it."""

    def __init__(self, module: str, environment: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test", **environment},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.ready = self.read()
        assert self.ready.get("ready") is True, self.ready

    def read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the process died"
        return json.loads(line)

    def send(self, **command: Any) -> None:
        """Send a command without waiting for its answer (``read`` it later)."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()

    def ask(self, **command: Any) -> Any:
        self.send(**command)
        return self.read()

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


class WebProcess(LineProcess):
    """This module as a process of its own on ``database_url`` (``environment``: more variables)."""

    def __init__(self, database_url: str, **environment: str) -> None:
        super().__init__("tests.bnpl.ops.web_process", {"DATABASE_URL": database_url, **environment})


def _answer(answer: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bnpl.settings.test")
    import django

    django.setup()

    from django.core.management import call_command
    from django.db import close_old_connections
    from django.test import Client
    from django.test.utils import setup_test_environment

    call_command("migrate", verbosity=0, interactive=False)
    setup_test_environment()

    from bnpl.checkout.models import CheckoutSession
    from tests.merchants.factories import make_tenant

    tenant = make_tenant(name="Fault merchant")
    client = Client(raise_request_exception=False)
    shopper = Client(raise_request_exception=False)
    auth = {"Authorization": f"Bearer {tenant.test_key}"}
    _answer({"ready": True})
    for line in sys.stdin:
        command = json.loads(line)
        # What WSGI's request_started signal does before each request in production (the test
        # client disconnects it): drop a connection that errored and no longer answers.
        close_old_connections()
        if "count" in command:
            _answer({"count": CheckoutSession.objects.filter(merchant=tenant.merchant).count()})
            continue
        if "shopper" in command:
            _answer(_shopper(tenant, shopper))
            continue
        if "sweep" in command:
            _answer(_sweep())
            continue
        if "money" in command:
            _answer(_money(command["money"]))
            continue
        if "confirm" in command:
            response = shopper.post(f"/checkout/{command['confirm']}/confirm", command["form"])
        elif "get" in command:
            response = client.get(command["get"], headers=auth)
        elif "post" in command:
            response = client.post(
                command["post"],
                json.dumps(command["data"]),
                content_type="application/json",
                headers={**auth, "Idempotency-Key": command["key"]},
            )
        elif "form" in command:
            response = client.post(command["page"], command["form"])
        else:
            response = client.get(command["page"])
        _answer(
            {
                "status": response.status_code,
                "retry_after": response.get("Retry-After"),
                "content_type": response.get("Content-Type"),
                "location": response.get("Location"),
                "body": response.content.decode(errors="replace")[:4000],
            }
        )


def _shopper(tenant: Any, browser: Any) -> dict[str, Any]:
    from consumers.selectors import SESSION_KEY
    from tests.bnpl.checkout.factories import make_checkout_session, product_for
    from tests.consumers.factories import make_verified_consumer

    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    consumer = make_verified_consumer()
    signed_in = browser.session
    signed_in[SESSION_KEY] = consumer.public_id
    signed_in.save()
    return {"session": session.public_id, "product": product_for(tenant.merchant, False).public_id}


def _sweep() -> dict[str, Any]:
    from bnpl.checkout.confirmation import first_payments_orphaned_give_back
    from bnpl.payments.services import charges_settle_pending

    charges_settle_pending(older_than_seconds=0)
    return {"given_back": first_payments_orphaned_give_back()}


def _money(session_id: str) -> dict[str, Any]:
    """The session's orders; its shopper's payments (succeeded and applied, succeeded and given back,
    pending) and refunds; what the card was charged net at the gateway; and ``ledger_verify``."""
    from io import StringIO

    from django.core.management import call_command
    from django.db.models import Sum

    from bnpl.checkout.models import CheckoutSession, Order
    from bnpl.payments.models import Charge, SandboxGatewayCharge

    session = CheckoutSession.objects.get(public_id=session_id)
    charges = Charge.objects.filter(idempotency_key__startswith=f"{session_id}:")
    payments = charges.filter(kind=Charge.Kind.PAYMENT)
    gateway = SandboxGatewayCharge.objects.filter(idempotency_key__startswith=f"{session_id}:", succeeded=True)
    charged = gateway.filter(kind="charge").aggregate(total=Sum("amount"))["total"] or 0
    refunded = gateway.filter(kind="refund").aggregate(total=Sum("amount"))["total"] or 0
    out = StringIO()
    call_command("ledger_verify", stdout=out)
    return {
        "session": session.status,
        "orders": Order.objects.filter(checkout_session=session).count(),
        "applied": payments.filter(status="succeeded", applied_at__isnull=False).count(),
        "given_back": payments.filter(status="succeeded", refund_charges__status="succeeded").count(),
        "pending": charges.filter(status="pending").count(),
        "card_net": charged - refunded,
        "ledger": out.getvalue().strip().splitlines()[-1],
    }


if __name__ == "__main__":
    main()
