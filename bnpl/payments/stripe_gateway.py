"""The Stripe adapter, through the official SDK. A Customer per consumer; cards saved as
PaymentMethods attached to it (the hosted checkout saves them with Stripe Elements, so card numbers
never touch our server; server-side entry is for tests against localstripe only); installments
charged as off-session PaymentIntents confirmed at once; refunds against the PaymentIntent. Every
call carries our own deterministic idempotency key, and each PaymentIntent names our charge in its
metadata, so a webhook can settle a charge whose worker died before recording the answer.

One instance per mode, with that mode's keys only: ``STRIPE_TEST_SECRET_KEY`` /
``STRIPE_LIVE_SECRET_KEY`` and ``STRIPE_TEST_PUBLISHABLE_KEY`` / ``STRIPE_LIVE_PUBLISHABLE_KEY``
(Elements on the hosted checkout); a key of the other mode is refused when the gateway is built
(``checks.stripe_key_problems``). Customers are kept per mode (a test Customer is not a live one).
Shared: ``STRIPE_API_BASE`` (a local Stripe-compatible server in tests), ``STRIPE_SERVER_SIDE_CARDS``
(tests only) and ``STRIPE_JS_URL``. Webhooks: ``bnpl.payments.stripe_webhooks``.
"""

from __future__ import annotations

from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from bnpl.core.errors import GatewayUnavailableError, InvalidRequestError
from bnpl.payments.checks import stripe_key_problems, stripe_setting
from bnpl.payments.gateways import CardDetails, CardSetup, GatewayResult, validate_card
from bnpl.payments.models import GatewayCustomer

STRIPE_JS = "https://js.stripe.com/v3/"
# Off-session, a bank asking for the cardholder is a failure the consumer must fix.
REQUIRES_CARDHOLDER = ("requires_action", "requires_payment_method", "requires_confirmation")


class StripeGateway:
    name = "stripe"
    is_sandbox = False
    test_mode_safe = True  # built for test mode, it holds test keys only (checked below)

    def __init__(self, *, livemode: bool) -> None:
        problems = stripe_key_problems(livemode=livemode)
        if problems:
            raise ImproperlyConfigured(" ".join(problems))
        self.livemode = livemode
        self.client = stripe.StripeClient(
            api_key=stripe_setting("SECRET_KEY", livemode=livemode),
            base_addresses={"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else {},
            max_network_retries=2,
            http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
        )
        self.publishable_key: str = stripe_setting("PUBLISHABLE_KEY", livemode=livemode)
        base = settings.STRIPE_API_BASE.rstrip("/")
        self.js_url: str = settings.STRIPE_JS_URL or (f"{base}/js.stripe.com/v3/" if base else STRIPE_JS)

    # --- Cards through Stripe Elements (the hosted checkout) -------------------------------------

    def card_setup_start(self, *, holder: str, idempotency_key: str) -> CardSetup:
        params: Any = {
            "customer": self._customer(holder),
            "usage": "off_session",
            "payment_method_types": ["card"],
            "metadata": {"consumer": holder},
        }
        try:
            intent = self.client.v1.setup_intents.create(params=params, options={"idempotency_key": idempotency_key})
        except (stripe.APIConnectionError, stripe.APIError, stripe.AuthenticationError) as error:
            raise GatewayUnavailableError("Card entry is unavailable right now: try again in a minute.") from error
        return CardSetup(reference=intent.id, client_secret=str(intent.client_secret))

    def card_setup_finish(self, *, holder: str, reference: str) -> CardDetails:
        customer = self._customer(holder)
        try:
            intent = self.client.v1.setup_intents.retrieve(reference)
        except stripe.InvalidRequestError as error:
            raise InvalidRequestError("That card was not saved: enter it again.", param="setup_intent") from error
        metadata = intent.metadata.to_dict() if intent.metadata else {}
        if intent.customer != customer or metadata.get("consumer") != holder:
            raise InvalidRequestError("That card was not saved: enter it again.", param="setup_intent")
        if intent.status != "succeeded" or not intent.payment_method:
            raise InvalidRequestError(
                "The card was not confirmed with your bank: enter it again.",
                code="card_setup_incomplete",
                param="setup_intent",
            )
        method_id = intent.payment_method if isinstance(intent.payment_method, str) else intent.payment_method.id
        method = self.client.v1.payment_methods.retrieve(method_id)
        if not method.customer:  # Stripe attaches it on success; a compatible server may not
            method = self.client.v1.payment_methods.attach(method_id, params={"customer": customer})
        card = method.card
        assert card is not None
        return CardDetails(
            token=f"{customer}|{method_id}",
            brand=str(getattr(card, "brand", None) or "card"),
            last4=str(card.last4),
            exp_month=int(card.exp_month),
            exp_year=int(card.exp_year),
        )

    # --- Cards ------------------------------------------------------------------------------------

    def tokenize_card(self, *, number: str, exp_month: int, exp_year: int, cvc: str, holder: str) -> CardDetails:
        if not settings.STRIPE_SERVER_SIDE_CARDS:
            raise InvalidRequestError(
                "Enter the card in the secure card form (Stripe Elements).", code="card_entry_not_allowed"
            )
        digits = validate_card(number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc)
        customer = self._customer(holder)
        try:
            method = self.client.v1.payment_methods.create(
                params={
                    "type": "card",
                    "card": {"number": digits, "exp_month": exp_month, "exp_year": exp_year, "cvc": cvc},
                }
            )
            self.client.v1.payment_methods.attach(method.id, params={"customer": customer})
        except stripe.CardError as error:
            raise InvalidRequestError(
                error.user_message or "The card was declined.", code=error.code or "card_declined", param="card_number"
            ) from error
        card = method.card
        return CardDetails(
            token=f"{customer}|{method.id}",
            brand=str(getattr(card, "brand", "card")),
            last4=str(getattr(card, "last4", digits[-4:])),
            exp_month=exp_month,
            exp_year=exp_year,
        )

    def _customer(self, holder: str) -> str:
        """The consumer's Customer in this gateway's mode (made once)."""
        mine = GatewayCustomer.objects.filter(gateway=self.name, livemode=self.livemode, holder=holder)
        existing = mine.first()
        if existing is not None:
            return existing.reference
        mode = "live" if self.livemode else "test"
        customer = self.client.v1.customers.create(
            params={"metadata": {"consumer": holder}}, options={"idempotency_key": f"customer:{mode}:{holder}"}
        )
        try:
            with transaction.atomic():
                GatewayCustomer.objects.create(
                    gateway=self.name, livemode=self.livemode, holder=holder, reference=customer.id
                )
        except IntegrityError:
            return mine.get().reference
        return customer.id

    def verify_card(self, *, token: str) -> GatewayResult:
        """Attaching the card to the Customer already checked it with the bank."""
        return GatewayResult(succeeded=True)

    # --- Money ------------------------------------------------------------------------------------

    def charge(
        self, *, token: str, amount: int, currency: str, idempotency_key: str, off_session: bool
    ) -> GatewayResult:
        customer, method = token.split("|", 1)
        params: Any = {
            "amount": amount,
            "currency": currency.lower(),
            "customer": customer,
            "payment_method": method,
            "confirm": True,
            "off_session": off_session,
            "metadata": {"idempotency_key": idempotency_key},
        }
        try:
            intent = self.client.v1.payment_intents.create(params=params, options={"idempotency_key": idempotency_key})
        except stripe.CardError as error:
            decline = getattr(error.error, "decline_code", None) if error.error else None
            return GatewayResult(
                succeeded=False,
                reference=str(getattr(getattr(error.error, "payment_intent", None), "id", "") or ""),
                failure_code=decline or error.code or "card_declined",
                failure_message=error.user_message or "The card was declined.",
            )
        if intent.status == "succeeded":
            return GatewayResult(succeeded=True, reference=intent.id)
        if intent.status in REQUIRES_CARDHOLDER:
            return GatewayResult(
                succeeded=False,
                reference=intent.id,
                failure_code="authentication_required",
                failure_message="The bank asks the cardholder to authenticate this payment.",
            )
        return GatewayResult(  # processing: the webhook settles it
            succeeded=False, reference=intent.id, failure_code="processing", failure_message="Still processing."
        )

    def refund(self, *, charge_reference: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
        try:
            refund = self.client.v1.refunds.create(
                params={
                    "payment_intent": charge_reference,
                    "amount": amount,
                    "metadata": {"idempotency_key": idempotency_key},  # so a webhook finds our refund row
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.InvalidRequestError as error:  # e.g. charge_disputed: Stripe will not refund it, ever
            return GatewayResult(
                succeeded=False, failure_code=str(error.code or "refund_refused")[:50], failure_message=str(error)[:300]
            )
        if refund.status in ("succeeded", "pending"):  # a later failure arrives as charge.refund.updated
            return GatewayResult(succeeded=True, reference=refund.id)
        return GatewayResult(
            succeeded=False,
            reference=refund.id,
            failure_code=str(getattr(refund, "failure_reason", None) or "refund_failed")[:50],
            failure_message="The card's bank refused the refund.",
        )

    def payout(self, *, destination: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
        """A transfer to the merchant's connected account (Stripe Connect)."""
        if not destination.startswith("acct_"):
            return GatewayResult(
                succeeded=False,
                failure_code="no_payout_account",
                failure_message="The merchant has no Stripe connected account to pay out to.",
            )
        try:
            transfer = self.client.v1.transfers.create(
                params={"amount": amount, "currency": currency.lower(), "destination": destination},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            return GatewayResult(succeeded=False, failure_code="payout_failed", failure_message=str(error)[:300])
        return GatewayResult(succeeded=True, reference=transfer.id)
