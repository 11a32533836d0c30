"""The saved-card step-up (issue 13, finding 5).

A card saved on the consumer's account pays at a merchant where they have never confirmed a
purchase (in that mode) only after they show, at this checkout, that it is them: a fresh one-time
code sent to their own verified address, which also names the shop and the card. Whoever holds a
signed-in browser (a stolen session, a shared device) cannot then spend the consumer's saved cards
at a shop of their choosing.

Why a code and not the card's security code: the sandbox gateway keeps no security code with a
saved card's token, and Stripe takes one for a saved card only through its own browser fields; a
code works the same with every gateway, through the code service and sender sign-in already uses.

Needs no step-up: a card typed in at this very checkout (typing the number and security code proves
the card; ``checkout_card_add`` and ``checkout_card_from_setup`` record it), and any card at a
merchant the consumer bought from before. Enforced by ``checkout_confirm`` (``step_up_check``), not
only by the page.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction

from bnpl.checkout.models import CheckoutCardClearance, CheckoutSession, Order
from bnpl.core import clock
from bnpl.core.compiled import CompiledSelect, per_mode
from bnpl.core.context import consumer_actor
from bnpl.core.errors import PermissionDeniedError
from bnpl.core.services import change_record
from bnpl.payments.models import PaymentMethod
from bnpl.payments.services import payment_method_add, payment_method_from_setup
from consumers.models import Consumer
from consumers.services import (
    Destination,
    Requester,
    consumer_code_destination,
    one_time_code_confirm,
    one_time_code_request,
)

STEP_UP_PARAM = "step_up_code"


class StepUpRequiredError(PermissionDeniedError):
    """The chosen saved card needs a fresh one-time code at this merchant (403)."""

    default_code = "step_up_required"


def checkout_card_add(
    *,
    session: CheckoutSession,
    consumer: Consumer,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str,
    verify: bool = False,
) -> PaymentMethod:
    """Save a card the shopper typed in at this checkout; it pays here without a step-up.
    ``verify``: check with the bank first and save nothing when it declines the card."""
    card = payment_method_add(
        consumer=consumer,
        livemode=session.livemode,
        number=number,
        exp_month=exp_month,
        exp_year=exp_year,
        cvc=cvc,
        verify=verify,
    )
    _clear(session=session, consumer=consumer, payment_method=card, via=CheckoutCardClearance.Via.ENTERED)
    return card


def checkout_card_from_setup(*, session: CheckoutSession, consumer: Consumer, reference: str) -> PaymentMethod:
    """The card the shopper entered in the gateway's browser fields at this checkout. Only a card
    this call saved counts as entered here (an older setup sent again finds a card saved before,
    which stays a saved card)."""
    started = clock.now()
    card = payment_method_from_setup(consumer=consumer, livemode=session.livemode, reference=reference)
    if card.created_at >= started:
        _clear(session=session, consumer=consumer, payment_method=card, via=CheckoutCardClearance.Via.ENTERED)
    return card


def consumer_has_bought_here(*, session: CheckoutSession, consumer: Consumer) -> bool:
    """Whether the consumer already has an order with this session's merchant (in its mode): their
    saved cards then pay without a fresh code."""
    return bool(_BOUGHT_HERE[session.livemode].rows(session.merchant_id, consumer.pk))


def _bought_here(livemode: bool) -> CompiledSelect[Order]:
    return CompiledSelect(
        lambda merchant_id, consumer_id: Order.objects.filter(
            merchant_id=merchant_id, livemode=livemode, consumer_id=consumer_id
        ).only("pk")[:1],
        arity=2,
    )


# The page and the confirm ask on every purchase: compiled once per process and mode (``bnpl.core.compiled``).
_BOUGHT_HERE = per_mode(_bought_here)


def step_up_required(*, session: CheckoutSession, consumer: Consumer, payment_method: PaymentMethod) -> bool:
    """Whether this card needs a fresh code to pay at this checkout."""
    if consumer_has_bought_here(session=session, consumer=consumer):
        return False
    return not _CLEARED.rows(session.pk, consumer.pk, payment_method.pk)


_CLEARED: CompiledSelect[CheckoutCardClearance] = CompiledSelect(
    lambda session_id, consumer_id, payment_method_id: CheckoutCardClearance.objects.filter(
        checkout_session_id=session_id, consumer_id=consumer_id, payment_method_id=payment_method_id
    ).only("pk")[:1],
    arity=3,
)


def checkout_step_up_send(
    *, session: CheckoutSession, consumer: Consumer, payment_method: PaymentMethod, requester: Requester
) -> Destination:
    """Send a fresh code to the consumer's own address, bound to the browser that asked, saying
    which shop and card it is for (limited like every code: a RateLimitError says when to ask
    again)."""
    destination = consumer_code_destination(consumer)
    one_time_code_request(
        identifier=destination.address,
        requester=requester,
        note=f"Enter it only to pay {session.merchant.name} with your saved card {payment_method}.",
    )
    return destination


def step_up_check(
    *,
    session: CheckoutSession,
    consumer: Consumer,
    payment_method: PaymentMethod,
    code: str,
    requester: Requester | None,
) -> None:
    """Let the card pay here, or refuse: StepUpRequiredError without a code, the code's own error
    when it is wrong (attempts count as at sign-in). A right code clears the card for this checkout
    (a counteroffer's second confirm needs no second code)."""
    if not step_up_required(session=session, consumer=consumer, payment_method=payment_method):
        return
    if not (code or "").strip() or requester is None:
        raise StepUpRequiredError(
            f"To pay {session.merchant.name} with a saved card for the first time, enter the code we send you "
            "(or type the card in again).",
            param=STEP_UP_PARAM,
        )
    one_time_code_confirm(consumer=consumer, code=code, requester=requester, param=STEP_UP_PARAM)
    _clear(
        session=session, consumer=consumer, payment_method=payment_method, via=CheckoutCardClearance.Via.ONE_TIME_CODE
    )


def _clear(*, session: CheckoutSession, consumer: Consumer, payment_method: PaymentMethod, via: str) -> None:
    """Record (once, audited) that the card may pay at this checkout."""
    try:
        with transaction.atomic():
            # The clearance goes in with its audit row and event, in one statement.
            clearance = CheckoutCardClearance(
                checkout_session=session, consumer=consumer, payment_method=payment_method, via=via
            )
            change_record(
                new_rows=[clearance],
                action="checkout_session.card_cleared",
                instance=session,
                data={
                    "id": session.public_id,
                    "object": "checkout.session",
                    "payment_method": payment_method.public_id,
                    "via": clearance.via,
                },
                actor=consumer_actor(consumer.public_id),
            )
    except IntegrityError:
        return  # cleared already (the same form sent twice)
