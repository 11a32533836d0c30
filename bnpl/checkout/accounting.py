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

A payment on a late fee reduces the receivable like principal (``post_payment``'s ``principal``).
"""

from __future__ import annotations

from bnpl.checkout.models import Order
from bnpl.ledger.models import AccountCode
from bnpl.ledger.services import Line, ledger_post


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


def post_payment(order: Order, *, charge_id: str, principal: int, interest: int) -> None:
    _post(
        order,
        "plan.payment",
        f"payment:{charge_id}",
        [
            Line(account=AccountCode.CARD_CLEARING, amount=principal + interest),
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
