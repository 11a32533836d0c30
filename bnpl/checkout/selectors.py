"""Reads of checkout sessions shared by the hosted checkout and the partner API."""

from __future__ import annotations

from bnpl.checkout.models import CheckoutSession
from bnpl.core import clock
from bnpl.plans import services as plan_services


def checkout_session_offers(session: CheckoutSession) -> list[plan_services.Offer]:
    """What the hosted checkout offers on ``session`` today: every enabled product of the session's
    kinds that takes its amount, each with its exact schedule and Truth in Lending box from today.
    The page lists exactly these, and the API's ``offers`` shows them, so both say the same APR."""
    return plan_services.offers_for(
        merchant=session.merchant,
        livemode=session.livemode,
        currency=session.currency,
        amount=session.amount,
        kinds=session.product_kinds,
    )


def checkout_session_is_open(session: CheckoutSession) -> bool:
    """The shopper can still act on it: open and not past its expiry (whether or not the expiry
    sweep has run yet)."""
    return session.status == CheckoutSession.Status.OPEN and clock.now() < session.expires_at
