"""The journal entries of a plan's life after purchase, each balanced to the cent: a payment (from
a card or from the consumer's balance), a late fee, a charge-off, a refund to the card refused for
good, and a balance paid out another way. The chart of every entry is in
``bnpl.checkout.accounting``'s docstring; sign convention (the ledger's): debit positive, credit
negative.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bnpl.checkout.models import Order
from bnpl.ledger.models import AccountCode
from bnpl.ledger.services import Entry, Line, ledger_post, ledger_post_many
from bnpl.payments.models import Charge, ConsumerBalance
from merchants.models import Merchant


def order_entry_post(order: Order, entry_type: str, key: str, lines: list[Line]) -> None:
    """Post an entry about ``order`` (keyed by the order and ``key``: posted once), leaving out
    zero lines; nothing at all when every line is zero."""
    lines = [line for line in lines if line.amount != 0]
    if not lines:
        return
    ledger_post(
        entry_type=entry_type,
        currency=order.currency,
        livemode=order.livemode,
        merchant=order.merchant,
        reference=order,
        idempotency_key=f"{order.public_id}:{key}",
        lines=lines,
    )


def post_payment(order: Order, *, charge_id: str, principal: int, interest: int, from_balance: bool = False) -> None:
    """A payment applied to the plan: from a card (``charge_id`` a charge) or from the consumer's
    balance (``from_balance``: ``charge_id`` names the balance and the application)."""
    source = Line(account=AccountCode.CARD_CLEARING, amount=principal + interest)
    if from_balance:
        source = Line(account=AccountCode.CONSUMER_CREDIT, amount=principal + interest, consumer=order.consumer)
    order_entry_post(
        order,
        "plan.payment_from_balance" if from_balance else "plan.payment",
        f"payment:{charge_id}",
        _payment_lines(order, source, principal=principal, interest=interest),
    )


@dataclass(frozen=True)
class CardPayment:
    """A card payment applied to a plan, for ``post_card_payments``."""

    order: Order
    charge_id: str  # the charge's public id
    principal: int  # minor units
    interest: int  # minor units


def post_card_payments(payments: Sequence[CardPayment]) -> None:
    """``post_payment`` (from a card) for a batch: the same entries, keyed the same way, posted
    together (``ledger_post_many``)."""
    entries = []
    for payment in payments:
        order, amount = payment.order, payment.principal + payment.interest
        lines = [
            line
            for line in _payment_lines(
                order,
                Line(account=AccountCode.CARD_CLEARING, amount=amount),
                principal=payment.principal,
                interest=payment.interest,
            )
            if line.amount != 0
        ]
        if lines:
            entries.append(
                Entry(
                    entry_type="plan.payment",
                    currency=order.currency,
                    livemode=order.livemode,
                    merchant=order.merchant,
                    reference=order,
                    idempotency_key=f"{order.public_id}:payment:{payment.charge_id}",
                    lines=lines,
                )
            )
    ledger_post_many(entries=entries)


def _payment_lines(order: Order, source: Line, *, principal: int, interest: int) -> list[Line]:
    return [
        source,
        Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=-principal, consumer=order.consumer),
        Line(account=AccountCode.INTEREST_INCOME, amount=-interest),
    ]


def post_late_fee(order: Order, *, key: str, amount: int) -> None:
    """A late fee charged: the consumer owes it, and it is income when charged."""
    order_entry_post(
        order,
        "plan.late_fee",
        f"late_fee:{key}",
        [
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=amount, consumer=order.consumer),
            Line(account=AccountCode.LATE_FEE_INCOME, amount=-amount),
        ],
    )


def post_charge_off(order: Order, *, key: str, amount: int) -> None:
    """What the consumer still owes (principal and fees; unearned interest was never booked) is
    written off as a credit loss."""
    order_entry_post(
        order,
        "plan.charged_off",
        f"charge_off:{key}",
        [
            Line(account=AccountCode.CREDIT_LOSSES, amount=amount),
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=-amount, consumer=order.consumer),
        ],
    )


def post_refund_failed(*, charge: Charge, merchant: Merchant | None) -> None:
    """A refund to the card failed for good: the money never left (card clearing keeps it) and the
    consumer is owed it (their balance). Keyed by the refund charge: posted once."""
    ledger_post(
        entry_type="payment.refund_failed",
        currency=charge.currency,
        livemode=charge.livemode,
        merchant=merchant,
        reference=charge,
        idempotency_key=f"{charge.public_id}:refund_failed",
        lines=[
            Line(account=AccountCode.CARD_CLEARING, amount=charge.amount),
            Line(account=AccountCode.CONSUMER_CREDIT, amount=-charge.amount, consumer=charge.consumer),
        ],
    )


def post_balance_paid_out(*, balance: ConsumerBalance, amount: int) -> None:
    """An operator paid the consumer's balance out another way (a bank transfer, a check): it
    leaves from the lender's own account."""
    ledger_post(
        entry_type="payment.balance_paid_out",
        currency=balance.currency,
        livemode=balance.livemode,
        reference=balance,
        idempotency_key=f"{balance.public_id}:paid_out",
        lines=[
            Line(account=AccountCode.CONSUMER_CREDIT, amount=amount, consumer=balance.consumer),
            Line(account=AccountCode.LENDER_CASH, amount=-amount),
        ],
    )
