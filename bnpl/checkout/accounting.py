"""The journal entries of an order: authorize, capture, void, refund, and money returned to a card or
to a balance when a plan shrinks. One per money movement, each balanced to the cent. The entries
of a plan's life after purchase (payments, late fees, charge-off, refused refunds and balances) are
``bnpl.servicing.accounting``; the table below is the whole chart of both.

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
from bnpl.ledger.services import Line
from bnpl.servicing.accounting import order_entry_post


def post_authorization(order: Order) -> None:
    amount = order.authorized_amount
    order_entry_post(
        order,
        "order.authorized",
        "authorized",
        [
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=amount, consumer=order.consumer),
            Line(account=AccountCode.AUTHORIZED_PENDING, amount=-amount, merchant=order.merchant),
        ],
    )


def post_capture(order: Order, *, capture_id: str, amount: int, fee: int) -> None:
    order_entry_post(
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
    order_entry_post(
        order,
        "order.voided",
        key,
        [
            Line(account=AccountCode.AUTHORIZED_PENDING, amount=amount, merchant=order.merchant),
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=-amount, consumer=order.consumer),
        ],
    )


def post_refund(order: Order, *, refund_id: str, amount: int, fee_back: int) -> None:
    order_entry_post(
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
    order_entry_post(
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
    order_entry_post(
        order,
        "order.returned_to_balance",
        f"return_to_balance:{key}",
        [
            Line(account=AccountCode.CONSUMER_RECEIVABLE, amount=amount, consumer=order.consumer),
            Line(account=AccountCode.CONSUMER_CREDIT, amount=-amount, consumer=order.consumer),
        ],
    )
