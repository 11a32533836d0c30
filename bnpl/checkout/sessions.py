"""Checkout sessions: created by the merchant's server, used by the shopper in the hosted pages,
closed by confirmation, cancellation or expiry. Each change is audited and evented."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction

from bnpl.checkout.models import CheckoutSession
from bnpl.checkout.representations import NEW_SESSION_RELATED, SESSION_RELATED_FIELDS, checkout_session_data
from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.ids import generate_public_id
from bnpl.core.money import MAX_AMOUNT, normalize_currency
from bnpl.core.services import change_record
from bnpl.core.transactions import service_atomic
from bnpl.plans import services as plan_services
from merchants.models import Merchant


def _validate_line_items(line_items: Sequence[dict[str, Any]], amount: int) -> list[dict[str, Any]]:
    if not line_items:
        raise InvalidRequestError("Add at least one line item.", code="line_items_missing", param="line_items")
    normalized = []
    for index, item in enumerate(line_items):
        total = item["quantity"] * item["unit_amount"]
        if total > MAX_AMOUNT:
            raise InvalidRequestError("This line item's total is too large.", param=f"line_items[{index}].unit_amount")
        normalized.append({**item, "total_amount": total})
    items_total = sum(item["total_amount"] for item in normalized)
    if items_total != amount:
        raise InvalidRequestError(
            f"The line items add up to {items_total}, not the amount {amount}.", code="amount_mismatch", param="amount"
        )
    return normalized


def checkout_session_create(
    *,
    merchant: Merchant,
    livemode: bool,
    amount: int,
    currency: str,
    line_items: Sequence[dict[str, Any]],
    return_url: str,
    cancel_url: str,
    merchant_reference: str = "",
    customer_email: str = "",
    customer_phone: str = "",
    product_kinds: Sequence[str] = (),
) -> CheckoutSession:
    currency = normalize_currency(currency)
    if currency not in merchant.currencies:
        raise InvalidRequestError(
            f"{currency} is not one of this merchant's currencies ({', '.join(merchant.currencies)}).",
            code="currency_not_enabled",
            param="currency",
        )
    items = _validate_line_items(line_items, amount)
    if not plan_services.eligible_product_list(
        merchant=merchant, livemode=livemode, currency=currency, amount=amount, kinds=product_kinds
    ):
        raise InvalidRequestError(
            "No enabled payment product takes this amount in this currency.", code="no_eligible_product", param="amount"
        )
    with service_atomic():
        session = CheckoutSession(
            public_id=generate_public_id(CheckoutSession.PUBLIC_ID_PREFIX),  # its audit row and event show it
            merchant=merchant,
            livemode=livemode,
            amount=amount,
            currency=currency,
            line_items=items,
            merchant_reference=merchant_reference,
            customer_email=customer_email.lower(),
            customer_phone=customer_phone,
            return_url=return_url,
            cancel_url=cancel_url,
            product_kinds=sorted(set(product_kinds)),
            expires_at=clock.now() + settings.CHECKOUT_SESSION_TTL,
        )
        change_record(
            action="checkout_session.created",
            instance=session,
            merchant=merchant,
            livemode=livemode,
            data=checkout_session_data(session, reused=NEW_SESSION_RELATED),
            new_rows=[session],  # in the audit row's and event's statement: nothing reads it first
        )
    return session


def checkout_session_transition(
    session: CheckoutSession,
    status: str,
    action: str,
    *,
    merchant_consumer_id: str | None = None,
    **fields: Any,
) -> CheckoutSession:
    """Move a locked session to ``status``, audited and evented as ``action``. The record after
    reads again only what the change can move: the session's own fields (its decision and its order
    are other rows, read once for both), and the merchant's id for its consumer unless the caller
    that names the consumer knows it (``merchant_consumer_id``)."""
    before = checkout_session_data(session)
    session.status = status
    for name, value in fields.items():
        setattr(session, name, value)
    session.updated_at = clock.now()
    reused = {name: before[name] for name in SESSION_RELATED_FIELDS}
    if merchant_consumer_id is not None:
        reused["consumer"] = merchant_consumer_id
    # The session's new fields go in with the audit row and event, in their statement (nothing in
    # between reads the session from the database; its record after is made from the row in hand).
    change_record(
        action=action,
        instance=session,
        before=before,
        data=checkout_session_data(session, reused=reused),
        updated=[(session, ["status", *fields, "updated_at"])],
    )
    return session


CLOSED_SESSION_MESSAGES = {
    CheckoutSession.Status.EXPIRED: "This checkout has expired. Return to the shop to start again.",
    CheckoutSession.Status.COMPLETE: "This checkout is complete: your order is placed.",
    CheckoutSession.Status.DECLINED: "This checkout was declined. Return to the shop to pay another way.",
    CheckoutSession.Status.CANCELED: "This checkout was canceled. Return to the shop to start again.",
    CheckoutSession.Status.IN_REVIEW: "We are reviewing your application and will email you when we have decided.",
}


def checkout_session_usable(session: CheckoutSession) -> None:
    """Refuse a session the shopper can no longer act on, saying why (the same words whether or
    not the expiry sweep has run yet)."""
    if session.merchant.status == Merchant.Status.SUSPENDED:
        raise StateError("This shop cannot take pay-later payments right now.", code="session_unavailable")
    status = session.status
    if status == CheckoutSession.Status.OPEN and clock.now() >= session.expires_at:
        status = CheckoutSession.Status.EXPIRED
    if status != CheckoutSession.Status.OPEN:
        raise StateError(CLOSED_SESSION_MESSAGES[CheckoutSession.Status(status)], code=f"session_{status}")


def checkout_session_cancel(*, session: CheckoutSession) -> CheckoutSession:
    with transaction.atomic():
        session = CheckoutSession.objects.select_for_update().get(pk=session.pk)
        checkout_session_usable(session)
        return checkout_session_transition(session, CheckoutSession.Status.CANCELED, "checkout_session.canceled")


def checkout_sessions_expire() -> int:
    """Mark open sessions past their expiry as expired (a periodic task)."""
    count = 0
    waiting = (CheckoutSession.Status.OPEN, CheckoutSession.Status.IN_REVIEW)
    for session_id in CheckoutSession.objects.filter(status__in=waiting, expires_at__lte=clock.now()).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            session = CheckoutSession.objects.select_for_update().get(pk=session_id)
            if session.status in waiting:
                checkout_session_transition(session, CheckoutSession.Status.EXPIRED, "checkout_session.expired")
                count += 1
    return count
