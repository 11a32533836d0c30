"""Order management: capture (as the merchant ships), void, refund, and authorization expiry.

Each write locks the order (then its plan: ``bnpl.servicing.locks``), validates, changes state,
posts a balanced journal entry and records an audit row and an event in one transaction. A refund
or void shrinks the plan by its product's refund policy; what the consumer already paid beyond what
they now owe goes back to their cards (sent after commit) or their balance, and an open dispute on
the order keeps holding only its share (``bnpl.checkout.dispute_holds``).

Merchant fees follow the order's terms: the percentage of the net captured amount, rounded once,
plus the fixed part once anything was captured (``_fees_due``).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet

from bnpl.checkout import accounting
from bnpl.checkout.dispute_holds import disputes_order_changed
from bnpl.checkout.loading import orders_with_representation
from bnpl.checkout.models import Capture, Order, Refund
from bnpl.checkout.representations import order_data, order_data_after_capture, refund_data
from bnpl.core import clock
from bnpl.core.compiled import MARKERS, MOMENT_MARKERS, CompiledSelect, per_mode
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.ids import generate_public_id
from bnpl.core.money import basis_points
from bnpl.core.services import change_record
from bnpl.core.transactions import service_atomic
from bnpl.payments.models import Charge
from bnpl.plans import services as plan_services
from bnpl.servicing import balances
from bnpl.servicing.locks import order_lock, order_lock_with_representation
from merchants.models import Merchant

# Orders whose authorization is still open: something may yet be captured or voided.
OPEN_STATUSES = (Order.Status.AUTHORIZED, Order.Status.PART_CAPTURED)
# The fields of an order a capture changes.
CAPTURE_CHANGES = ("captured_amount", "merchant_fee_amount", "status", "updated_at")


def _require_open_authorization(order: Order) -> None:
    if order.status in (Order.Status.EXPIRED, Order.Status.VOIDED):
        raise StateError(f"This order is {order.status}.", code=f"order_{order.status}")
    if clock.now() >= order.authorization_expires_at:
        raise StateError("The authorization has expired.", code="order_expired")


def _fees_due(order: Order, *, captured: int, refunded: int) -> int:
    """What the merchant pays in fees on an order with ``captured`` captured and ``refunded``
    refunded so far, by the terms it was bought under: the percentage of the net captured amount,
    rounded once (half up), plus the fixed part once anything was captured (never given back).

    Each capture's fee and each refund's fee back is the change this figure makes, so the fees
    charged to date always equal the fee on the net captured amount: splitting a capture into tiny
    ones (three of 8 cents at 5.99% used to cost nothing) or a refund into parts changes nothing."""
    if captured == 0:
        return 0
    return basis_points(captured - refunded, order.merchant_fee_bps) + order.merchant_fee_fixed_amount


def _fee_for(order: Order, amount: int) -> int:
    """The fee on capturing ``amount`` more (the fixed part comes with the first capture, even if
    it exceeds a tiny first capture: the merchant then owes the difference)."""
    captured, refunded = order.captured_amount, order.refunded_amount
    return _fees_due(order, captured=captured + amount, refunded=refunded) - _fees_due(
        order, captured=captured, refunded=refunded
    )


def _fee_back(order: Order, amount: int) -> int:
    """The fee given back with a refund of ``amount``: the percentage on it, as the change in the
    fees due (so never more than was kept, and the fixed part never)."""
    captured, refunded = order.captured_amount, order.refunded_amount
    return _fees_due(order, captured=captured, refunded=refunded) - _fees_due(
        order, captured=captured, refunded=refunded + amount
    )


def order_capture(*, order: Order, amount: int, merchant_reference: str = "") -> Capture:
    """Capture part or all of what is still open (as the merchant ships)."""
    if amount <= 0:
        raise InvalidRequestError("Capture a positive amount.", param="amount")
    with service_atomic():
        order = order_lock_with_representation(order_id=order.pk)
        _require_open_authorization(order)
        if amount > order.open_amount:
            raise StateError(
                f"Only {order.open_amount} is left to capture on this order.",
                code="amount_exceeds_open",
                param="amount",
            )
        before = order_data(order)
        fee = _fee_for(order, amount)
        capture = Capture(
            public_id=generate_public_id(Capture.PUBLIC_ID_PREFIX),
            order=order,
            merchant=order.merchant,
            livemode=order.livemode,
            amount=amount,
            merchant_fee_amount=fee,
            merchant_reference=merchant_reference,
        )
        _prefetched_add(order, "captures", capture)
        order.captured_amount += amount
        order.merchant_fee_amount += fee
        order.status = Order.Status.CAPTURED if order.open_amount == 0 else Order.Status.PART_CAPTURED
        order.updated_at = clock.now()
        accounting.post_capture(order, capture_id=capture.public_id, amount=amount, fee=fee)
        # The order's new figures and the capture go in with the audit row and event, in their
        # statement: nothing in between reads either from the database.
        change_record(
            action="order.captured",
            instance=order,
            before=before,
            data=order_data_after_capture(order, before=before, capture=capture),
            new_rows=[capture],
            updated=[(order, CAPTURE_CHANGES)],
        )
    return capture


def _prefetched_add(order: Order, name: str, row: Capture | Refund) -> None:
    """Add a new capture or refund to the order's prefetched ones (``name``: "captures" or
    "refunds"; the order locked with its representation), last, as reading them again would list
    it (by ``created_at``, then id): the representation after it reads nothing more. Django's
    prefetch keeps them as an evaluated queryset."""
    prefetched = getattr(order, name).all()
    assert prefetched._result_cache is not None, f"the order was locked with its {name} prefetched"
    prefetched._result_cache.append(row)


def _release_open_amount(order: Order, *, action: str, closed_status: str) -> int:
    """Void what is still open: the plan shrinks, overpayment goes back to the card. Locked order."""
    amount = order.open_amount
    reduction = plan_services.plan_reduce(plan=order.plan, amount=amount, action="plan.reduced")
    order.voided_amount += amount
    if order.captured_amount == 0:
        order.status = closed_status
    elif order.refunded_amount == order.captured_amount:
        order.status = Order.Status.REFUNDED
    else:
        order.status = Order.Status.CAPTURED
    order.save(update_fields=["voided_amount", "status", "updated_at"])
    key = f"{action}:{order.voided_amount}"
    accounting.post_void(order, key=key, amount=amount)
    _return_to_card(order, key=key, amount=reduction.excess_amount)
    disputes_order_changed(order)  # the plan shrank: an open dispute holds its share of it as it now is
    return amount


def order_void(*, order: Order) -> Order:
    """Release the uncaptured remainder (all of it if nothing was captured)."""
    with transaction.atomic():
        order = order_lock(order_id=order.pk)
        _require_open_authorization(order)
        if order.open_amount == 0:
            raise StateError("Nothing is left to void on this order.", code="nothing_to_void")
        before = order_data(order)
        _release_open_amount(order, action="void", closed_status=Order.Status.VOIDED)
        change_record(
            action="order.voided",
            instance=order,
            before=before,
            data=order_data(order),
        )
    return order


def order_refund(*, order: Order, amount: int, reason: str = "") -> Refund:
    """Refund part or all of what was captured. The plan shrinks by its product's refund policy;
    what the consumer already paid beyond what they now owe goes back to their card."""
    if amount <= 0:
        raise InvalidRequestError("Refund a positive amount.", param="amount")
    with service_atomic():
        # With what its representation reads: its record's before and after read nothing twice.
        order = order_lock(order_id=order.pk, loading=orders_with_representation)
        if amount > order.refundable_amount:
            raise StateError(
                f"Only {order.refundable_amount} of this order can be refunded.",
                code="amount_exceeds_captured",
                param="amount",
            )
        before = order_data(order)
        fee_back = _fee_back(order, amount)
        reduction = plan_services.plan_reduce(plan=order.plan, amount=amount, action="plan.reduced")
        refund = Refund.objects.create(
            merchant=order.merchant,
            livemode=order.livemode,
            order=order,
            amount=amount,
            merchant_fee_refunded_amount=fee_back,
            applied_to_plan_amount=reduction.applied_amount,
            returned_to_card_amount=reduction.excess_amount,
            reason=reason,
        )
        _prefetched_add(order, "refunds", refund)
        order.refunded_amount += amount
        order.merchant_fee_amount -= fee_back
        if order.refunded_amount == order.captured_amount and order.open_amount == 0:
            order.status = Order.Status.REFUNDED
        order.save(update_fields=["refunded_amount", "merchant_fee_amount", "status", "updated_at"])
        accounting.post_refund(order, refund_id=refund.public_id, amount=amount, fee_back=fee_back)
        _return_to_card(order, key=f"refund:{refund.public_id}", amount=reduction.excess_amount)
        disputes_order_changed(order)
        change_record(
            action="order.refunded",
            instance=order,
            before=before,
            data={**order_data(order), "refund": refund_data(refund)},
        )
    return refund


def _return_to_card(order: Order, *, key: str, amount: int) -> None:
    """Send ``amount`` back to the cards the plan was paid with, newest payment first and never more
    than a payment has left to give back: posted now, sent to the gateway after commit. What the
    cards did not pay (the consumer's balance did) goes back to that balance."""
    if amount <= 0:
        return
    payments = order.plan.charges.select_for_update().filter(kind=Charge.Kind.PAYMENT, status=Charge.Status.SUCCEEDED)
    refunds = []
    left = amount
    for payment in payments.order_by("-id"):
        part = min(left, payment.refundable_amount)
        if part <= 0:
            continue
        refunds.append(
            Charge.objects.create(
                consumer=order.consumer,
                payment_method=payment.payment_method,
                plan=order.plan,
                kind=Charge.Kind.REFUND,
                refunded_charge=payment,
                amount=part,
                currency=order.currency,
                livemode=order.livemode,
                status=Charge.Status.PENDING,
                idempotency_key=f"{order.public_id}:{key}:return:{payment.public_id}",
            )
        )
        left -= part
        if left == 0:
            break
    to_balances = balances.return_to_balances(order, amount=left) if left else 0  # what balances paid
    if left - to_balances:
        raise StateError("More would go back to the card than was paid.", code="return_exceeds_payments")
    accounting.post_return_to_card(order, key=key, amount=amount - to_balances)
    accounting.post_return_to_balance(order, key=key, amount=to_balances)
    for refund_charge in refunds:
        transaction.on_commit(lambda charge=refund_charge: balances.refund_send(charge))  # type: ignore[misc]


def _due(orders: QuerySet[Order], *, warn_from: dt.datetime, now: dt.datetime) -> QuerySet[Order]:
    """The open ``orders`` whose authorization ends before ``warn_from`` and were not warned, or has
    ended by ``now`` (their id and end only)."""
    return orders.filter(
        Q(expiry_warning_sent_at__isnull=True, authorization_expires_at__lte=warn_from)
        | Q(authorization_expires_at__lte=now),
        status__in=OPEN_STATUSES,
    ).only("pk", "authorization_expires_at")


# ``orders_expire`` for one merchant in one mode, as every read of its orders runs it first: compiled
# once per process (PostgreSQL; a moment cannot be a marker on SQLite, which passes it as text).
_DUE_OF_MERCHANT = per_mode(
    lambda livemode: CompiledSelect(
        lambda merchant_id, warn_from, now: _due(
            Order.objects.filter(merchant_id=merchant_id, livemode=livemode), warn_from=warn_from, now=now
        ),
        markers=(MARKERS[0], *MOMENT_MARKERS[:2]),
    )
)


def orders_expire(*, merchant: Merchant | None = None, livemode: bool | None = None) -> tuple[int, int]:
    """Warn about authorizations that end within the warning window and expire those that ended;
    returns (warned, expired). All merchants from the periodic task; one merchant's (and mode's)
    before any read of its orders, so an order's status and open amount agree at every moment with
    what a capture would do (a capture after the end is refused ``order_expired`` and writes
    nothing), not only after the next run. When nothing is due this is one indexed query."""
    now = clock.now()
    warn_from = now + settings.AUTHORIZATION_EXPIRY_WARNING
    if merchant is not None and livemode is not None and connection.vendor == "postgresql":
        due = _DUE_OF_MERCHANT[livemode].rows(merchant.pk, warn_from, now)  # before every read of its orders
    else:
        open_orders = Order.objects.all()
        if merchant is not None:
            open_orders = open_orders.filter(merchant=merchant)
        if livemode is not None:
            open_orders = open_orders.filter(livemode=livemode)
        due = list(_due(open_orders, warn_from=warn_from, now=now))
    warned = expired = 0
    for order in due:
        if order.authorization_expires_at <= now:
            expired += _order_expire(order.pk)
        else:
            warned += _order_warn_expiring(order.pk, now)
    return warned, expired


def order_expire_if_due(*, order: Order) -> Order:
    """The order as it stands now: expired first if its authorization has ended (the read path)."""
    if order.status in OPEN_STATUSES and clock.now() >= order.authorization_expires_at:
        _order_expire(order.pk)
        order.refresh_from_db()
    return order


def _order_warn_expiring(order_id: int, now: dt.datetime) -> int:
    with transaction.atomic():
        order = order_lock(order_id=order_id)
        if order.expiry_warning_sent_at is not None or order.status not in OPEN_STATUSES:
            return 0
        order.expiry_warning_sent_at = now
        order.save(update_fields=["expiry_warning_sent_at"])
        change_record(action="order.authorization_expiring", instance=order, data=order_data(order))
    return 1


def _order_expire(order_id: int) -> int:
    """Release what is open on an order whose authorization ended; 0 when another process did."""
    with transaction.atomic():
        order = order_lock(order_id=order_id)
        if order.status not in OPEN_STATUSES or clock.now() < order.authorization_expires_at:
            return 0
        before = order_data(order)
        _release_open_amount(order, action="expiry", closed_status=Order.Status.EXPIRED)
        change_record(action="order.expired", instance=order, before=before, data=order_data(order))
    return 1
