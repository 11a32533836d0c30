"""Payments against a plan, prepared in one place with one idempotency-key scheme.

A charge is written ``pending`` under its key, on the plan, before the gateway sees it
(``charge_prepare``): every payer then sees a payment in flight, and the gateway answers a key it
knows with its first result, so sending the same charge again moves money at most once. The keys:

- an installment, whoever collects it (collections off-session, or the consumer's "pay now"):
  ``collect:<plan>:<installment sequence>:<attempt>``, the attempt counting every payment ever
  prepared for that installment -- so a retry is a new charge, and two payers preparing the same
  attempt at once get the same charge, never two;
- a payment ahead of schedule or a payoff: ``<plan>:early:<n>``.

(The checkout's first payment is keyed by its session, card and amount: see
``bnpl.checkout.confirmation``. Refunds are keyed by what they give back.)
"""

from __future__ import annotations

from bnpl.core.errors import InvalidRequestError
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.selectors import payment_method_default
from bnpl.payments.services import charge_prepare
from bnpl.plans.models import Installment, Plan


def plan_card(*, plan: Plan, payment_method: PaymentMethod | None = None) -> PaymentMethod | None:
    """The card a payment on ``plan`` is taken from: the one the consumer chose, else their
    default card of the plan's mode (None when they have none)."""
    return payment_method or payment_method_default(consumer_id=plan.consumer_id, livemode=plan.livemode)


def plan_card_required(*, plan: Plan, payment_method: PaymentMethod | None = None) -> PaymentMethod:
    card = plan_card(plan=plan, payment_method=payment_method)
    if card is None:
        raise InvalidRequestError("Add a card first.", param="payment_method")
    return card


def installment_charge_prepare(*, plan: Plan, installment: Installment, payment_method: PaymentMethod) -> Charge:
    """The pending charge for what is left of ``installment``, under the next attempt's key."""
    prefix = f"collect:{plan.public_id}:{installment.sequence}:"
    attempt = plan.charges.filter(kind=Charge.Kind.PAYMENT, idempotency_key__startswith=prefix).count() + 1
    return charge_prepare(
        consumer=plan.consumer,
        payment_method=payment_method,
        amount=installment.remaining_amount,
        currency=plan.currency,
        livemode=plan.livemode,
        idempotency_key=f"{prefix}{attempt}",
        plan=plan,
    )


def early_payment_charge_prepare(*, plan: Plan, amount: int, payment_method: PaymentMethod) -> Charge:
    """The pending charge for a payment ahead of schedule (or a payoff) of ``amount``."""
    number = plan.charges.filter(idempotency_key__startswith=f"{plan.public_id}:early:").count() + 1
    return charge_prepare(
        consumer=plan.consumer,
        payment_method=payment_method,
        amount=amount,
        currency=plan.currency,
        livemode=plan.livemode,
        idempotency_key=f"{plan.public_id}:early:{number}",
        plan=plan,
    )
