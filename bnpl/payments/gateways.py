"""Payment gateways behind one protocol, one gateway per mode: ``get_gateway(livemode=...)`` builds
the gateway of the mode of the object being paid (``PAYMENT_GATEWAY_TEST`` / ``PAYMENT_GATEWAY_LIVE``)
with that mode's own credentials. Test mode only ever gets a gateway that moves no real money (the
sandbox, or Stripe with test keys): a test checkout cannot reach a real card or pay a real transfer.
The built-in sandbox moves no money and answers by the documented test card.

Sandbox test cards (any future expiry, any 3-digit CVC):

| number              | what happens                                                      |
|---------------------|-------------------------------------------------------------------|
| 4242 4242 4242 4242 | every charge succeeds                                             |
| 4000 0000 0000 0002 | declined: ``card_declined``                                       |
| 4000 0000 0000 9995 | declined: ``insufficient_funds``                                  |
| 4000 0025 0000 3155 | needs authentication: succeeds while the shopper is present       |
|                     | (checkout), declined ``authentication_required`` off-session      |
| 4000 0000 0000 0341 | saved fine, but every charge is declined: ``card_declined``       |

Every call carries an idempotency key derived from our own row: the same key returns the first
result and never moves money twice.

``SANDBOX_GATEWAY_LATENCY_MS`` (default 0) makes every sandbox call wait that long first, as a real
processor's network round trip would (a real sleep, outside any lock), so benchmarks and load tests
can show the network-bound case honestly.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Protocol, TypeGuard

from django.conf import settings

from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError
from bnpl.core.inserts import insert_row


@dataclass(frozen=True)
class CardDetails:
    token: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True)
class CardSetup:
    """A card being saved in the browser (Stripe: a SetupIntent confirmed by Stripe Elements)."""

    reference: str
    client_secret: str


@dataclass(frozen=True)
class GatewayResult:
    succeeded: bool
    reference: str = ""
    failure_code: str = ""
    failure_message: str = ""


class Gateway(Protocol):
    name: str
    livemode: bool  # the mode this gateway serves (and whose credentials it holds)

    def tokenize_card(self, *, number: str, exp_month: int, exp_year: int, cvc: str, holder: str) -> CardDetails:
        """Save a card for ``holder`` (our consumer's public id). Stripe: only with server-side card
        entry allowed (tests against localstripe); the hosted checkout uses Stripe Elements."""
        ...

    def verify_card(self, *, token: str) -> GatewayResult:
        """A zero-amount check that the card can be charged later (nothing due today)."""
        ...

    def charge(
        self, *, token: str, amount: int, currency: str, idempotency_key: str, off_session: bool
    ) -> GatewayResult: ...

    def refund(self, *, charge_reference: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult: ...

    def payout(self, *, destination: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
        """Send a merchant its settlement (Stripe: a transfer to the connected account)."""
        ...


class BrowserCardGateway(Gateway, Protocol):
    """A gateway whose card form runs in the shopper's browser, so card numbers never reach us."""

    publishable_key: str
    js_url: str

    def card_setup_start(self, *, holder: str, idempotency_key: str) -> CardSetup:
        """Begin saving a card for ``holder``, off-session use allowed; the browser confirms it."""
        ...

    def card_setup_finish(self, *, holder: str, reference: str) -> CardDetails:
        """The card a confirmed setup saved, checked to be ``holder``'s own."""
        ...


def takes_cards_in_browser(gateway: Gateway) -> TypeGuard[BrowserCardGateway]:
    return hasattr(gateway, "card_setup_start")


SANDBOX_CARDS = {
    "4242424242424242": "success",
    "4000000000000002": "declined",
    "4000000000009995": "insufficient_funds",
    "4000002500003155": "authentication",
    "4000000000000341": "attach_then_decline",
    "4000000000005126": "refund_fails",  # charges succeed; money sent back to it is refused (as Stripe's)
}
_REFUSES_REFUNDS = "sbx_ch_rf_"  # the reference of a charge on the refund_fails card
_FAILURES = {
    "declined": ("card_declined", "The card was declined."),
    "attach_then_decline": ("card_declined", "The card was declined."),
    "insufficient_funds": ("insufficient_funds", "The card has insufficient funds."),
    "authentication": ("authentication_required", "The bank asks the cardholder to authenticate this payment."),
}


def luhn_valid(number: str) -> bool:
    digits = [int(digit) for digit in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * digit, 10)) for digit in digits[1::2])
    return total % 10 == 0


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "card"


def validate_card(*, number: str, exp_month: int, exp_year: int, cvc: str) -> str:
    """Shape checks every gateway shares; returns the digits-only number."""
    digits = "".join(number.split())
    if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19 and luhn_valid(digits)):
        raise InvalidRequestError("That card number is not valid.", code="card_number_invalid", param="card_number")
    if not 1 <= exp_month <= 12:
        raise InvalidRequestError("The expiry month must be 1 to 12.", code="card_expiry_invalid", param="exp_month")
    today = clock.today()
    if (exp_year, exp_month) < (today.year, today.month) or exp_year > today.year + 20:
        raise InvalidRequestError("This card has expired.", code="card_expired", param="exp_year")
    if not (cvc.isascii() and cvc.isdigit() and len(cvc) in (3, 4)):
        raise InvalidRequestError("The security code is 3 or 4 digits.", code="card_cvc_invalid", param="cvc")
    return digits


class SandboxGateway:
    """Moves no money. Behaviour follows the test card; anything else is refused, so a real card
    number never gets mistaken for a test one. Fit for test mode anywhere; for live mode only in
    the demo and the tests (production refuses it: ``checks.live_parts_problems``)."""

    name = "sandbox"
    is_sandbox = True
    test_mode_safe = True  # built for test mode, it moves no real money

    def __init__(self, *, livemode: bool) -> None:
        self.livemode = livemode

    def tokenize_card(self, *, number: str, exp_month: int, exp_year: int, cvc: str, holder: str) -> CardDetails:
        _network_round_trip()
        digits = validate_card(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc)
        behaviour = SANDBOX_CARDS.get(digits)
        if behaviour is None:
            raise InvalidRequestError(
                "The sandbox takes only the documented test cards, e.g. 4242 4242 4242 4242.",
                code="card_not_test_card",
                param="card_number",
            )
        return CardDetails(
            token=f"tok_sandbox_{behaviour}_{secrets.token_hex(8)}",
            brand=card_brand(digits),
            last4=digits[-4:],
            exp_month=exp_month,
            exp_year=exp_year,
        )

    def verify_card(self, *, token: str) -> GatewayResult:
        _network_round_trip()
        if _behaviour(token) == "declined":
            code, message = _FAILURES["declined"]
            return GatewayResult(succeeded=False, failure_code=code, failure_message=message)
        return GatewayResult(succeeded=True)

    def charge(
        self, *, token: str, amount: int, currency: str, idempotency_key: str, off_session: bool
    ) -> GatewayResult:
        _network_round_trip()
        behaviour = _behaviour(token)
        reference = "sbx_ch_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        if behaviour == "refund_fails":  # the processor knows which card a charge was on
            reference = _REFUSES_REFUNDS + reference.removeprefix("sbx_ch_")
        if behaviour in ("success", "refund_fails") or (behaviour == "authentication" and not off_session):
            result = GatewayResult(succeeded=True, reference=reference)
        else:
            code, message = _FAILURES.get(behaviour, ("card_declined", "The card was declined."))
            result = GatewayResult(succeeded=False, reference=reference, failure_code=code, failure_message=message)
        return _processed("charge", idempotency_key, amount, currency, result)

    def refund(self, *, charge_reference: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
        _network_round_trip()
        reference = "sbx_re_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        result = GatewayResult(succeeded=True, reference=reference)
        if charge_reference.startswith(_REFUSES_REFUNDS):
            result = GatewayResult(
                succeeded=False,
                reference=reference,
                failure_code="refund_failed",
                failure_message="The card's bank refused the refund (the account may be closed).",
            )
        return _processed("refund", idempotency_key, amount, currency, result)

    def payout(self, *, destination: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
        _network_round_trip()
        return _sandbox_payout(destination, amount, currency, idempotency_key)


def _network_round_trip() -> None:
    """Wait as long as a real processor's answer takes (``SANDBOX_GATEWAY_LATENCY_MS``; none by default)."""
    latency_ms = settings.SANDBOX_GATEWAY_LATENCY_MS
    if latency_ms > 0:
        time.sleep(latency_ms / 1000)


def _sandbox_payout(destination: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
    reference = "sbx_po_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
    return _processed("payout", idempotency_key, amount, currency, GatewayResult(succeeded=True, reference=reference))


def _processed(kind: str, key: str, amount: int, currency: str, result: GatewayResult) -> GatewayResult:
    """The gateway's own record: the first result for a key is the answer forever after (a retry
    with the same key, even racing, moves money once). Committed at once, as an outside system's
    record would be (callers reach the gateway outside any transaction).

    A new key costs one statement (``INSERT … ON CONFLICT DO NOTHING``: a racing insert of the same
    key waits for the other, then skips), a known key one more (the first result, read back). On
    PostgreSQL that statement commits without waiting for the disk (``insert_rows``'s
    ``durable=False``): a database crash in the next moment may lose this record, but then also
    every later commit -- the caller's record of the answer among them, since the log is flushed
    in order --, so the caller sends the same key again and the sandbox moves money once."""
    from bnpl.payments.models import SandboxGatewayCharge

    row = SandboxGatewayCharge(
        idempotency_key=key,
        kind=kind,
        amount=amount,
        currency=currency,
        succeeded=result.succeeded,
        reference=result.reference,
        failure_code=result.failure_code,
        failure_message=result.failure_message,
        created_at=clock.now(),
    )
    if insert_row(row, ignore_conflicts=True, durable=False):
        return result
    first = SandboxGatewayCharge.objects.get(idempotency_key=key)
    return GatewayResult(
        succeeded=first.succeeded,
        reference=first.reference,
        failure_code=first.failure_code,
        failure_message=first.failure_message,
    )


def _behaviour(token: str) -> str:
    return token.removeprefix("tok_sandbox_").rsplit("_", 1)[0]


def get_gateway(*, livemode: bool) -> Gateway:
    """The gateway of one mode, with that mode's credentials: pass the mode of the object worked on
    (the session, order, plan, charge or settlement), never a default. Refuses (ImproperlyConfigured)
    a mode with no gateway named, and a test-mode gateway that could move real money."""
    from bnpl.payments.checks import gateway_class

    gateway: Gateway = gateway_class(livemode=livemode)(livemode=livemode)
    return gateway
