"""What every page of a hosted checkout shows around its own content: the merchant (its branding
first, the platform's name second), the order summary, and the steps (Sign in -> Identity -> Plan
-> Pay). Shared by the checkout's pages and the sign-in pages a checkout sends the shopper through."""

from __future__ import annotations

from typing import Any

from bnpl.checkout.models import CheckoutSession
from bnpl.core.money import format_amount
from merchants import selectors as merchant_selectors

STEPS = ("Sign in", "Identity", "Plan", "Pay")
SIGN_IN, IDENTITY, PLAN = 0, 1, 2


def steps(current: int) -> list[dict[str, Any]]:
    """The step indicator, ``current`` counted from 0 (the plan and the card share one page)."""
    return [
        {"number": index + 1, "name": name, "done": index < current, "current": index == current}
        for index, name in enumerate(STEPS)
    ]


def _branding(session: CheckoutSession) -> Any:
    """The merchant's branding: read with the session when it was (``select_related``), else asked for."""
    merchant = session.merchant
    if type(merchant).branding.is_cached(merchant):
        return getattr(merchant, "branding", None)  # None cached: the merchant set no branding
    return merchant_selectors.branding_get(merchant=merchant)


def order_summary(session: CheckoutSession) -> dict[str, Any]:
    """The merchant, its branding (logo and colours, if set) and the order, for the page's context."""
    return {
        "merchant": session.merchant,
        "branding": _branding(session),
        "amount": format_amount(session.amount, session.currency),
        "items": [
            {**item, "total": format_amount(item["total_amount"], session.currency)} for item in session.line_items
        ],
    }
