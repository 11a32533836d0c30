"""The journal entries of checkout, one per money movement, each balanced to the cent.

Sign convention (the ledger's): debit positive, credit negative.

| movement | debit | credit |
|---|---|---|
| authorize A | consumer_receivable A | authorized_pending A |
| consumer pays P (principal p, interest i) | card_clearing P | consumer_receivable p, interest_income i |
| capture C with fee f | authorized_pending C | merchant_payable C - f, merchant_fee_revenue f |
| void V | authorized_pending V | consumer_receivable V |
| refund R with fee back r | merchant_payable R - r, merchant_fee_revenue r | consumer_receivable R |
| return X to the card | consumer_receivable X | card_clearing X |
| late fee F | consumer_receivable F | late_fee_income F |
| charge-off L (principal + fees owed) | credit_losses L | consumer_receivable L |
| a refund to the card fails for good, X | card_clearing X | consumer_credit X |
| their balance pays P (principal p, interest i) | consumer_credit P | consumer_receivable p, interest_income i |
| the balance is paid out another way, X | consumer_credit X | lender_cash X |
| what a balance paid goes back to it, X | consumer_receivable X | consumer_credit X |

A payment on a late fee reduces the receivable like principal (``post_payment``'s ``principal``).
"""

from __future__ import annotations

from bnpl.checkout.models import Order
from bnpl.ledger.models import AccountCode
from bnpl.ledger.services import Line, ledger_post
from bnpl.payments.models import Charge, ConsumerBalance
from merchants.models import Merchant


def _post(order: Order, entry_type: str, key: str, lines: list[Line]) -> None:
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


def post_authorization(order: Order) -> None:
    amount = order.authorized_amount
    _post(
        order,
        "order.authorized",
        "authorized",
        [
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=amount, consumer=order.consumer),
            Line(account=AccountCode.AUTHORIZED_PENDING, amount=-amount, merchant=order.merchant),
        ],
    )


def post_payment(order: Order, *, charge_id: str, principal: int, interest: int, from_balance: bool = False) -> None:
    """A payment applied to the plan: from a card (``charge_id`` a charge) or from the consumer's
    balance (``from_balance``: ``charge_id`` names the balance and the application)."""
    source = Line(account=AccountCode.CARD_CLEARING, amount=principal + interest)
    if from_balance:
        source = Line(account=AccountCode.CONSUMER_CREDIT, amount=principal + interest, consumer=order.consumer)
    _post(
        order,
        "plan.payment_from_balance" if from_balance else "plan.payment",
        f"payment:{charge_id}",
        [
            source,
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=-principal, consumer=order.consumer),
            Line(account=AccountCode.INTEREST_INCOME, amount=-interest),
        ],
    )


def post_capture(order: Order, *, capture_id: str, amount: int, fee: int) -> None:
    _post(
        order,
        "order.captured",
        f"capture:{capture_id}",
        [
            Line(account=AccountCode.AUTHORIZED_PENDING, amount=amount, merchant=order.merchant),
            Line(account=AccountCode.MERCHANT_PAYABLE, amount=-(amount - fee), merchant=order.merchant),
            Line(account=AccountCode.MERCHANT_FEE_REVENUE, amount=-fee, merchant=order.merchant),
        ],
    )


def post_void(order: Order, *, key: str, amount: int) -> None:
    _post(
        order,
        "order.voided",
        key,
        [
            Line(account=AccountCode.AUTHORIZED_PENDING, amount=amount, merchant=order.merchant),
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=-amount, consumer=order.consumer),
        ],
    )


def post_refund(order: Order, *, refund_id: str, amount: int, fee_back: int) -> None:
    _post(
        order,
        "order.refunded",
        f"refund:{refund_id}",
        [
            Line(account=AccountCode.MERCHANT_PAYABLE, amount=amount - fee_back, merchant=order.merchant),
            Line(account=AccountCode.MERCHANT_FEE_REVENUE, amount=fee_back, merchant=order.merchant),
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=-amount, consumer=order.consumer),
        ],
    )


def post_return_to_card(order: Order, *, key: str, amount: int) -> None:
    _post(
        order,
        "order.returned_to_card",
        f"return:{key}",
        [
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=amount, consumer=order.consumer),
            Line(account=AccountCode.CARD_CLEARING, amount=-amount),
        ],
    )


def post_return_to_balance(order: Order, *, key: str, amount: int) -> None:
    """A refund or void gives back what the consumer's balance paid toward the plan: to the balance."""
    _post(
        order,
        "order.returned_to_balance",
        f"return_to_balance:{key}",
        [
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=amount, consumer=order.consumer),
            Line(account=AccountCode.CONSUMER_CREDIT, amount=-amount, consumer=order.consumer),
        ],
    )


def post_late_fee(order: Order, *, key: str, amount: int) -> None:
    """A late fee charged: the consumer owes it, and it is income when charged."""
    _post(
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
    _post(
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
