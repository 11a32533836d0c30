"""A refund to the card that fails for good, and the balance the consumer is owed because of it.

Money goes back to a card when a refund or void shrinks a plan below what was paid, or when a
payment could not be applied. When the card's bank finally refuses it (a closed account, an expired
card; Stripe says so by ``charge.refund.updated`` after first accepting it), the money never left:

1. **Record** (one transaction, keyed by the failed refund charge, so safe to repeat): post the
   reversal (card clearing keeps the money; ``consumer_credit`` owes it to the consumer), open a
   ``ConsumerBalance``, tell the merchant (``order.refund_failed``, a webhook) when an order was
   behind it, and the consumer in the portal.
2. **Apply** (one transaction per plan): the balance pays the consumer's installments of the same
   mode and currency as they fall due, earliest first and before collections charges a card for
   them, posted like a payment but from the balance (``BalanceApplication`` remembers where it
   went: a later refund or void of that plan gives it back to the balance, not to a card).
3. **Pay out**: what no installment takes stays open until an operator pays it out another way
   (a bank transfer, a check, another card) and records how.

``balances_settle`` repeats 1 and 2 for anything missed (a worker that died after the gateway
answered, an installment that appeared later): a periodic task and part of the daily work.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F, QuerySet

from bnpl.checkout.models import Order
from bnpl.checkout.representations import order_data
from bnpl.core import clock
from bnpl.core.context import Actor
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.services import change_record
from bnpl.payments.models import BalanceApplication, Charge, ConsumerBalance
from bnpl.payments.services import charge_execute, charge_give_back, without_payments_in_flight
from bnpl.plans.models import Installment, Plan
from bnpl.plans.representations import plan_data
from bnpl.plans.services import installments_record_payment
from bnpl.servicing import accounting
from bnpl.servicing.locks import order_and_plan_lock


def balance_data(balance: ConsumerBalance) -> dict[str, Any]:
    return {
        "id": balance.public_id,
        "object": "consumer_balance",
        "livemode": balance.livemode,
        "consumer": balance.consumer.public_id,
        "currency": balance.currency,
        "amount": balance.amount,
        "applied_amount": balance.applied_amount,
        "paid_out_amount": balance.paid_out_amount,
        "remaining_amount": balance.remaining_amount,
        "paid_out_method": balance.paid_out_method or None,
        "refund_failure_code": balance.source_charge.failure_code or None,
        "plan": balance.plan.public_id if balance.plan else None,
    }


def refund_send(charge: Charge) -> Charge:
    """Send a pending refund to the gateway (outside any transaction) and record a failure for good."""
    charge = charge_execute(charge=charge, off_session=True)
    refund_failed_record(charge=charge)
    return charge


def give_back(*, charge: Charge, amount: int | None = None) -> Charge | None:
    """``charge_give_back`` (a payment that could not be applied goes back to the card), with a
    refusal recorded as the consumer's balance."""
    refund = charge_give_back(charge=charge, amount=amount)
    if refund is not None:
        refund_failed_record(charge=refund)
    return refund


def refund_failed_record(*, charge: Charge) -> ConsumerBalance | None:
    """Book a refund charge that failed for good and apply the balance it leaves (steps 1 and 2).
    None for anything else (a payment, a refund that succeeded or is pending)."""
    if charge.kind != Charge.Kind.REFUND or charge.status != Charge.Status.FAILED:
        return None
    with transaction.atomic():
        locked = (
            Charge.objects.select_for_update(of=("self",)).select_related("refunded_charge__plan").get(pk=charge.pk)
        )
        balance = ConsumerBalance.objects.filter(source_charge=locked).first()
        if balance is None:
            balance = _open_balance(locked)
    # Now, or after the caller's transaction (a webhook's) commits: applying locks orders and plans.
    consumer_id, livemode, currency = balance.consumer_id, balance.livemode, balance.currency
    transaction.on_commit(lambda: balances_apply(consumer_id=consumer_id, livemode=livemode, currency=currency))
    balance.refresh_from_db()
    return balance


def _open_balance(charge: Charge) -> ConsumerBalance:
    plan = charge.plan or (charge.refunded_charge.plan if charge.refunded_charge else None)
    order = Order.objects.get(pk=plan.order_id) if plan is not None else None
    balance = ConsumerBalance.objects.create(
        consumer=charge.consumer,
        livemode=charge.livemode,
        currency=charge.currency,
        amount=charge.amount,
        source_charge=charge,
        plan=plan,
    )
    accounting.post_refund_failed(charge=charge, merchant=order.merchant if order else None)
    data = balance_data(balance)
    change_record(action="consumer_balance.created", instance=balance, merchant=None, data=data)
    if order is not None:
        change_record(
            action="order.refund_failed",
            instance=order,
            data={
                **order_data(order),
                "refund_failure": {
                    "amount": charge.amount,
                    "failure_code": charge.failure_code or "refund_failed",
                    "kept_as_consumer_balance": True,
                },
            },
        )
    return balance


def balances_apply(*, consumer_id: int, livemode: bool, currency: str) -> int:
    """Apply the consumer's open balances of one mode and currency to their installments that are
    due (today or earlier), oldest balance first, earliest due installment first, before
    collections charges a card for them. Returns the amount applied."""
    applied = 0
    open_ids = _open_balances(consumer_id=consumer_id, livemode=livemode, currency=currency).values_list(
        "pk", flat=True
    )
    for balance_id in list(open_ids):
        plan_ids = (
            _payable_from_balance()
            .filter(plan__consumer_id=consumer_id, plan__livemode=livemode, plan__currency=currency)
            .order_by("due_date", "plan_id")
            .values_list("plan_id", flat=True)
        )
        for plan_id in list(dict.fromkeys(plan_ids)):
            applied_here = _apply_to_plan(balance_id, plan_id)
            applied += applied_here
            if applied_here == 0:
                break  # the balance is spent
    return applied


def _payable_from_balance() -> QuerySet[Installment]:
    """Installments a balance may pay: due (so their interest is earned: a balance never prepays a
    financing plan's future interest), collected by us, not being charged by collections right now,
    on a plan with no card payment in flight (one not yet applied might already cover them)."""
    return without_payments_in_flight(Installment.objects.collectable().filter(due_date__lte=clock.today()))


def _open_balances(**filters: Any) -> QuerySet[ConsumerBalance]:
    """Balances with something left (not all applied or paid out)."""
    return ConsumerBalance.objects.filter(**filters).filter(amount__gt=F("applied_amount") + F("paid_out_amount"))


def _apply_to_plan(balance_id: int, plan_id: int) -> int:
    with transaction.atomic():
        order, plan = order_and_plan_lock(plan_id=plan_id)
        balance = ConsumerBalance.objects.select_for_update().get(pk=balance_id)
        if balance.remaining_amount <= 0 or plan.standing == Plan.Standing.CHARGED_OFF:
            return 0
        before = plan_data(plan)
        payable = _payable_from_balance().filter(plan=plan)
        principal, interest, left = installments_record_payment(plan, balance.remaining_amount, payable)
        used = balance.remaining_amount - left
        if used == 0:
            return 0
        balance.applied_amount += used
        balance.save(update_fields=["applied_amount", "updated_at"])
        application = BalanceApplication.objects.create(balance=balance, plan=plan, amount=used)
        accounting.post_payment(
            order,
            charge_id=f"{balance.public_id}:{application.pk}",
            principal=principal,
            interest=interest,
            from_balance=True,
        )
        change_record(action="plan.payment_succeeded", instance=plan, before=before, data=plan_data(plan))
        change_record(action="consumer_balance.applied", instance=balance, merchant=None, data=balance_data(balance))
    return used


def return_to_balances(order: Order, *, amount: int) -> int:
    """Give back up to ``amount`` of what balances paid toward the order's plan (newest first), to
    those balances, when a refund or void leaves the consumer paid beyond what they owe and the
    plan's card payments are given back already. Inside the caller's transaction, the order and
    plan locked. Returns how much went back; the caller posts it (``post_return_to_balance``)."""
    returned = 0
    applications = BalanceApplication.objects.select_for_update(of=("self",)).filter(plan=order.plan)
    for application in applications.select_related("balance").order_by("-id"):
        part = min(amount - returned, application.amount - application.returned_amount)
        if part <= 0:
            continue
        balance = ConsumerBalance.objects.select_for_update().get(pk=application.balance_id)
        before = balance_data(balance)
        application.returned_amount += part
        application.save(update_fields=["returned_amount", "updated_at"])
        balance.applied_amount -= part
        balance.save(update_fields=["applied_amount", "updated_at"])
        change_record(
            action="consumer_balance.returned",
            instance=balance,
            merchant=None,
            before=before,
            data=balance_data(balance),
        )
        returned += part
        if returned == amount:
            break
    return returned


def balance_pay_out(
    *, balance: ConsumerBalance, amount: int, method: str, reference: str, actor: Actor | None = None
) -> ConsumerBalance:
    """An operator paid the balance out another way: ``amount`` (what they sent, which must be all
    that is left, so that a balance applied meanwhile is never paid twice), ``method``, and
    ``reference`` (the transfer's or check's number, for reconciliation). Once per balance."""
    if method not in ConsumerBalance.PayoutMethod.values:
        raise InvalidRequestError(
            f"method must be one of: {', '.join(ConsumerBalance.PayoutMethod.values)}.", param="method"
        )
    reference = reference.strip()
    if not reference:
        raise InvalidRequestError("Say how to find the payment: the transfer or check number.", param="reference")
    with transaction.atomic():
        balance = ConsumerBalance.objects.select_for_update(of=("self",)).select_related("consumer").get(pk=balance.pk)
        if balance.paid_out_at is not None or balance.remaining_amount <= 0:
            raise StateError("Nothing is left to pay out on this balance.", code="balance_settled")
        if amount != balance.remaining_amount:
            raise StateError(
                f"{balance.remaining_amount} is left on this balance now, not {amount} (part of it may have paid an "
                "installment meanwhile): pay out what is left, or nothing.",
                code="balance_changed",
                param="paid_out_amount",
            )
        before = balance_data(balance)
        balance.paid_out_amount += amount
        balance.paid_out_method, balance.paid_out_reference = method, reference[:200]
        balance.paid_out_at = clock.now()
        balance.save(update_fields=["paid_out_amount", "paid_out_method", "paid_out_reference", "paid_out_at"])
        accounting.post_balance_paid_out(balance=balance, amount=amount)
        change_record(
            action="consumer_balance.paid_out",
            instance=balance,
            merchant=None,
            before=before,
            data=balance_data(balance),
            actor=actor,
        )
    return balance


def balances_settle() -> int:
    """Record failed refunds not yet recorded and apply open balances where an installment now
    waits (a periodic task; safe to repeat). Returns how many balances it touched."""
    touched = 0
    unrecorded = Charge.objects.filter(kind=Charge.Kind.REFUND, status=Charge.Status.FAILED, balance__isnull=True)
    for charge in unrecorded.select_related("refunded_charge__plan", "plan"):
        refund_failed_record(charge=charge)
        touched += 1
    waiting = _open_balances().values_list("consumer_id", "livemode", "currency").distinct()
    for consumer_id, livemode, currency in list(waiting):
        if balances_apply(consumer_id=consumer_id, livemode=livemode, currency=currency):
            touched += 1
    return touched


def consumer_balances_open(*, consumer_id: int) -> list[ConsumerBalance]:
    """The consumer's balances with something left, oldest first (the portal shows them)."""
    return list(_open_balances(consumer_id=consumer_id).select_related("source_charge__payment_method"))
