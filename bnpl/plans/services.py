"""Products, offers and plans: turning an amount into exact installments, and keeping a plan true
when the order shrinks (void, refund)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, cast

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet

from bnpl.core import clock, inserts
from bnpl.core.compiled import AnyOf, CompiledSelect, per_mode
from bnpl.core.errors import InvalidRequestError
from bnpl.core.money import basis_points_at_most, exponent
from bnpl.core.services import change_record
from bnpl.plans import schedule as schedules
from bnpl.plans.models import Installment, PaymentProduct, Plan, ProductKind, RefundPolicy
from bnpl.plans.representations import plan_data
from bnpl.servicing.locks import plan_lock
from merchants.models import Merchant

if TYPE_CHECKING:
    from bnpl.checkout.models import Order
    from consumers.models import Consumer


def _minor(major: str, currency: str) -> int:
    return int((Decimal(major) * 10 ** exponent(currency)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class ProductTemplate:
    kind: str
    name: str
    installment_count: int
    interval_days: int
    apr_bps: int
    min_major: str
    max_major: str
    merchant_fee_bps: int
    merchant_fee_fixed_major: str
    late_fee_major: str = "0"
    late_fee_cap_major: str = "0"


DEFAULT_PRODUCTS = (
    ProductTemplate(ProductKind.PAY_IN_4, "Pay in 4", 4, 14, 0, "35", "2000", 400, "0.30", "10", "68"),
    ProductTemplate(ProductKind.PAY_IN_30, "Pay in 30 days", 1, 30, 0, "10", "1000", 350, "0.30", "10", "68"),
    ProductTemplate(ProductKind.FINANCING, "3 monthly payments", 3, 0, 0, "100", "10000", 599, "0"),
    ProductTemplate(ProductKind.FINANCING, "6 monthly payments", 6, 0, 999, "250", "10000", 599, "0"),
    ProductTemplate(ProductKind.FINANCING, "12 monthly payments", 12, 0, 1499, "250", "15000", 599, "0"),
    ProductTemplate(ProductKind.FINANCING, "24 monthly payments", 24, 0, 1999, "500", "20000", 599, "0"),
)


logger = logging.getLogger(__name__)

# How offers are listed to the shopper: interest-free first, then financing by term.
OFFER_ORDER: list[str] = [ProductKind.PAY_IN_4, ProductKind.PAY_IN_30, ProductKind.FINANCING]


def products_install_defaults(*, merchant: Merchant) -> list[PaymentProduct]:
    """The standard products, in both modes and every currency the merchant sells in. Idempotent."""
    created = []
    for livemode in (False, True):
        for currency in merchant.currencies:
            for template in DEFAULT_PRODUCTS:
                product, was_created = PaymentProduct.objects.get_or_create(
                    merchant=merchant,
                    livemode=livemode,
                    currency=currency,
                    kind=template.kind,
                    installment_count=template.installment_count,
                    defaults={
                        "name": template.name,
                        "interval_days": template.interval_days,
                        "apr_bps": template.apr_bps,
                        "min_amount": _minor(template.min_major, currency),
                        "max_amount": _minor(template.max_major, currency),
                        "merchant_fee_bps": template.merchant_fee_bps,
                        "merchant_fee_fixed_amount": _minor(template.merchant_fee_fixed_major, currency),
                        "late_fee_amount": _minor(template.late_fee_major, currency),
                        "late_fee_cap_amount": _minor(template.late_fee_cap_major, currency),
                        "refund_policy": RefundPolicy.LAST_FIRST,
                    },
                )
                if was_created:
                    created.append(product)
    return created


def product_schedule(
    *, product: PaymentProduct, amount: int, start: dt.date, down_payment: int = 0
) -> list[schedules.ScheduledPayment]:
    """The exact payments for ``amount`` under ``product``, the first due on ``start`` where the product
    takes a payment today. ``down_payment`` (a credit decision's counteroffer) is due on ``start`` and
    the product's schedule covers the rest; for financing it counts toward the product's own share."""
    if not 0 <= down_payment < amount:
        raise schedules.ScheduleInputError(f"down_payment ({down_payment}) must be at least 0 and less than {amount}")
    if product.kind == ProductKind.FINANCING:
        return schedules.amortized(
            principal=amount,
            apr_bps=product.apr_bps,
            months=product.installment_count,
            start=start,
            down_payment=max(down_payment, basis_points_at_most(amount, product.down_payment_bps)),
        )
    financed = amount - down_payment
    if product.kind == ProductKind.PAY_IN_4:
        rows = schedules.pay_in_installments(
            amount=financed, count=product.installment_count, interval_days=product.interval_days, start=start
        )
    else:
        rows = schedules.pay_later(amount=financed, days=product.interval_days, start=start)
    return schedules.with_down_payment(rows, down_payment=down_payment, start=start)


@dataclass(frozen=True)
class Offer:
    product: PaymentProduct
    schedule: list[schedules.ScheduledPayment]
    disclosure: schedules.TilaDisclosure
    due_today_amount: int

    @property
    def total_amount(self) -> int:
        return sum(payment.amount for payment in self.schedule)


def offer_build(*, product: PaymentProduct, amount: int, start: dt.date, down_payment: int = 0) -> Offer:
    plan_schedule = product_schedule(product=product, amount=amount, start=start, down_payment=down_payment)
    return Offer(
        product=product,
        schedule=plan_schedule,
        disclosure=schedules.tila_disclosure(schedule=plan_schedule, amount_financed=amount, advance_date=start),
        due_today_amount=sum(payment.amount for payment in plan_schedule if payment.due_date <= start),
    )


def _eligible_products(
    *, merchant_id: Any, livemode: bool, currency: Any, low: Any, high: Any, kinds: Q | AnyOf | None = None
) -> QuerySet[PaymentProduct]:
    """The enabled products that take an amount, by id: ``low`` and ``high`` are that amount, apart
    so that each is its own parameter (``bnpl.core.compiled``'s markers); ``kinds``: of those only."""
    products = PaymentProduct.objects.filter(
        merchant_id=merchant_id,
        livemode=livemode,
        currency=currency,
        is_enabled=True,
        min_amount__lte=low,
        max_amount__gte=high,
    )
    return (products if kinds is None else products.filter(kinds)).order_by("pk")


def eligible_product_list(
    *, merchant: Merchant, livemode: bool, currency: str, amount: int, kinds: Sequence[str] = ()
) -> list[PaymentProduct]:
    """The enabled products that take this amount, by id (one query, no schedules computed): on
    PostgreSQL a statement compiled once per process (``bnpl.core.compiled``; the session's
    creation, the checkout page and the confirm each ask)."""
    if connection.vendor != "postgresql":
        of_kinds = Q(kind__in=list(kinds)) if kinds else None
        return list(
            _eligible_products(
                merchant_id=merchant.pk, livemode=livemode, currency=currency, low=amount, high=amount, kinds=of_kinds
            )
        )
    if kinds:
        return _ELIGIBLE_OF_KINDS[livemode].rows(merchant.pk, currency, amount, amount, list(kinds))
    return _ELIGIBLE[livemode].rows(merchant.pk, currency, amount, amount)


def _eligible(livemode: bool) -> CompiledSelect[PaymentProduct]:
    return CompiledSelect(
        lambda merchant_id, currency, low, high: _eligible_products(
            merchant_id=merchant_id, livemode=livemode, currency=currency, low=low, high=high
        ),
        arity=4,
    )


def _eligible_of_kinds(livemode: bool) -> CompiledSelect[PaymentProduct]:
    return CompiledSelect(
        lambda merchant_id, currency, low, high, kinds: _eligible_products(
            merchant_id=merchant_id,
            livemode=livemode,
            currency=currency,
            low=low,
            high=high,
            kinds=AnyOf(F("kind"), kinds),
        ),
        arity=5,
    )


_ELIGIBLE = per_mode(_eligible)
_ELIGIBLE_OF_KINDS = per_mode(_eligible_of_kinds)


def offers_for(
    *, merchant: Merchant, livemode: bool, currency: str, amount: int, kinds: Sequence[str] = ()
) -> list[Offer]:
    """Every enabled product that can take this amount, with its exact schedule from today."""
    products = eligible_product_list(
        merchant=merchant, livemode=livemode, currency=currency, amount=amount, kinds=kinds
    )
    today = clock.today()
    ordered = sorted(products, key=lambda product: (OFFER_ORDER.index(product.kind), product.installment_count))
    offers = []
    for product in ordered:
        try:
            offers.append(offer_build(product=product, amount=amount, start=today))
        except schedules.ScheduleInputError:
            logger.exception("payment product %s cannot make a schedule; not offered", product.public_id)
    return offers


def plan_create(*, order: Order, consumer: Consumer, offer: Offer) -> Plan:
    """The plan and its installments for an authorized order. Call inside the order's transaction.

    The plan keeps the offer's Truth in Lending figures as they were disclosed (``Plan.disclosure``):
    later changes to the schedule (refunds, payoffs) never rewrite them."""
    product = offer.product
    disclosed = offer.disclosure
    plan = Plan(
        merchant=order.merchant,  # the product's merchant, already read with the order
        livemode=product.livemode,
        order=order,
        consumer=consumer,
        product=product,
        currency=product.currency,
        apr_bps=product.apr_bps,
        refund_policy=product.refund_policy,
        disclosed_apr=disclosed.apr,
        disclosed_financed_amount=disclosed.amount_financed,
        disclosed_finance_charge_amount=disclosed.finance_charge,
        disclosed_total_of_payments_amount=disclosed.total_of_payments,
    )
    # Compiled INSERTs (``bnpl.core.inserts``): every confirm writes a plan and its installments.
    inserts.insert_rows([plan])
    installments = inserts.insert_many(
        [
            Installment(
                plan=plan,
                sequence=index,
                due_date=payment.due_date,
                amount=payment.amount,
                principal_amount=payment.principal,
                interest_amount=payment.interest,
                collect_on=payment.due_date,
            )
            for index, payment in enumerate(offer.schedule, start=1)
        ]
    )
    change_record(action="plan.created", instance=plan, data=plan_data(plan, installments=installments))
    return plan


@dataclass(frozen=True)
class Reduction:
    applied_amount: int  # taken off installments still to pay
    excess_amount: int  # already paid: goes back to the card


def plan_reduce(*, plan: Plan, amount: int, action: str) -> Reduction:
    """Take ``amount`` of principal off the plan (a void or a refund) by the plan's refund policy.

    Interest-free plans reduce their unpaid installments (last first, or spread evenly); financing
    keeps its monthly payment and ends sooner, with interest recomputed on the smaller balance.
    Whatever exceeds the principal still owed is returned as ``excess_amount``. No installment ever
    grows. Call inside the order's transaction (the plan row is locked here).
    """
    plan = plan_lock(plan_id=plan.pk)  # the order is already locked by the caller
    unpaid = list(  # late fees are not part of the purchase: a refund never reduces them
        plan.installments.select_for_update()
        .filter(status=Installment.Status.SCHEDULED, fee_for__isnull=True)
        .order_by("sequence")
    )
    before = plan_data(plan)
    if plan.apr_bps == 0:
        reduction = _reduce_interest_free(plan, unpaid, amount)
    else:
        reduction = _reduce_financing(plan, unpaid, amount)
    order = plan.order
    _settle_status(plan, obligation_left=order.authorized_amount - order.voided_amount - order.refunded_amount - amount)
    change_record(
        action=action,
        instance=plan,
        before=before,
        data=plan_data(plan),
    )
    return reduction


def _reduce_interest_free(plan: Plan, unpaid: list[Installment], amount: int) -> Reduction:
    allocation = schedules.apply_refund(
        remaining=[installment.remaining_amount for installment in unpaid],
        refund=amount,
        policy=cast(schedules.RefundPolicyName, plan.refund_policy),
    )
    reduced = []
    for installment, reduction in zip(unpaid, allocation.reductions, strict=True):
        if reduction:
            installment.amount -= reduction
            installment.principal_amount -= reduction
            _close_if_settled(installment)
            reduced.append(installment)
    _installments_save(reduced, fields=["amount", "principal_amount", "status", "paid_at"])
    return Reduction(applied_amount=amount - allocation.excess, excess_amount=allocation.excess)


def _reduce_financing(plan: Plan, unpaid: list[Installment], amount: int) -> Reduction:
    remaining_principal = sum(_unpaid_principal(installment) for installment in unpaid)
    if not unpaid or amount >= remaining_principal:
        _installments_cancel_unpaid(unpaid)
        return Reduction(applied_amount=remaining_principal, excess_amount=amount - remaining_principal)
    keep_payment = max(installment.amount for installment in unpaid)
    new_schedule = schedules.reamortize_after_principal_reduction(
        remaining_principal=remaining_principal - amount,
        apr_bps=plan.apr_bps,
        remaining_months=len(unpaid),
        start=unpaid[0].due_date,
        keep_payment=keep_payment,
    )
    next_sequence = plan.installments.order_by("-sequence").values_list("sequence", flat=True).first() or 0
    _installments_cancel_unpaid(unpaid)
    Installment.objects.bulk_create(
        Installment(
            plan=plan,
            sequence=next_sequence + index,
            due_date=payment.due_date,
            amount=payment.amount,
            principal_amount=payment.principal,
            interest_amount=payment.interest,
            collect_on=payment.due_date,
        )
        for index, payment in enumerate(new_schedule, start=1)
    )
    return Reduction(applied_amount=amount, excess_amount=0)


def _unpaid_principal(installment: Installment) -> int:
    """Payments cover interest first, then principal (as installments_record_payment applies them)."""
    principal_paid = max(0, installment.paid_amount - installment.interest_amount)
    return installment.principal_amount - principal_paid


def unpaid_principal_and_fees(installment: Installment) -> int:
    """What of an installment is still on the consumer's receivable (interest is booked when paid):
    a late-fee installment's unpaid fee, or another's unpaid principal."""
    return installment.amount - installment.paid_amount if installment.fee_amount else _unpaid_principal(installment)


def _installments_cancel_unpaid(installments: list[Installment]) -> None:
    """Shrink each installment to what was already paid on it (interest first, then principal)."""
    for installment in installments:
        interest_paid = min(installment.paid_amount, installment.interest_amount)
        installment.amount = installment.paid_amount
        installment.interest_amount = interest_paid
        installment.principal_amount = installment.paid_amount - interest_paid
        installment.status = Installment.Status.PAID if installment.paid_amount else Installment.Status.CANCELED
    _installments_save(installments, fields=["amount", "principal_amount", "interest_amount", "status"])


def _installments_save(installments: list[Installment], *, fields: list[str]) -> None:
    """Write the changed ``fields`` of a plan's installments in one query, however many there are
    (as ``save()`` would, ``updated_at`` included)."""
    now = clock.now()
    for installment in installments:
        installment.updated_at = now
    Installment.objects.bulk_update(installments, [*fields, "updated_at"])


def _close_if_settled(installment: Installment) -> None:
    if installment.amount == installment.paid_amount:
        installment.status = Installment.Status.PAID if installment.paid_amount else Installment.Status.CANCELED
        if installment.paid_amount and installment.paid_at is None:
            installment.paid_at = clock.now()


def _settle_status(plan: Plan, *, obligation_left: int | None = None) -> None:
    """Close a plan with nothing left to pay: ``paid`` when the consumer paid what the order came to,
    ``canceled`` when the order was voided or refunded in full (``obligation_left`` is then 0)."""
    if plan.installments.filter(status=Installment.Status.SCHEDULED).exists():
        return
    if obligation_left is None:
        order = plan.order
        obligation_left = order.authorized_amount - order.voided_amount - order.refunded_amount
    plan.status = Plan.Status.PAID if obligation_left > 0 else Plan.Status.CANCELED
    plan.save(update_fields=["status"])


def _installment_pay(installment: Installment, amount: int) -> tuple[int, int]:
    """Mark ``amount`` paid on a locked installment (in memory: the caller writes it); returns the
    (principal, interest) it covered. Interest is paid first, then principal."""
    if not 0 < amount <= installment.remaining_amount:
        raise ValueError(f"payment {amount} does not fit installment remaining {installment.remaining_amount}")
    interest_paid_before = min(installment.paid_amount, installment.interest_amount)
    interest_part = min(amount, installment.interest_amount - interest_paid_before)
    principal_part = amount - interest_part
    installment.paid_amount += amount
    _close_if_settled(installment)
    return principal_part, interest_part


def installments_spread_payment(
    installments: list[Installment], amount: int, *, first: Installment | None = None
) -> tuple[int, int, int, list[Installment]]:
    """``installments_record_payment`` on rows the caller has locked and will save (a batch of
    payments saves them together): ``amount`` spread over the scheduled ones -- ``first`` and then
    the earliest due -- interest first. Returns (principal, interest) covered, what did not fit, and
    the rows changed. The caller then settles the plan's status (``plan_status_when_settled``)."""
    left = amount
    principal_total = interest_total = 0
    unpaid = sorted(
        (row for row in installments if row.status == Installment.Status.SCHEDULED),
        key=lambda row: (first is None or row.pk != first.pk, row.due_date, row.sequence),
    )
    changed = []
    for installment in unpaid:
        if left == 0:
            break
        part = min(left, installment.remaining_amount)
        principal, interest = _installment_pay(installment, part)
        principal_total, interest_total, left = principal_total + principal, interest_total + interest, left - part
        changed.append(installment)
    return principal_total, interest_total, left, changed


def plan_status_when_settled(plan: Plan, installments: list[Installment], *, order: Order) -> str:
    """The status ``plan`` takes given all its rows as they now are (``_settle_status`` without a
    query): closed when nothing is scheduled, ``paid`` unless the order was voided or refunded in full."""
    if any(row.status == Installment.Status.SCHEDULED for row in installments):
        return plan.status
    obligation_left = order.authorized_amount - order.voided_amount - order.refunded_amount
    return Plan.Status.PAID if obligation_left > 0 else Plan.Status.CANCELED


def installments_record_payment(
    plan: Plan, amount: int, installments: QuerySet[Installment], *, first: Installment | None = None
) -> tuple[int, int, int]:
    """Record ``amount`` paid on ``installments`` of the locked ``plan`` -- ``first`` and then the
    earliest due -- and settle the plan's status. Returns (principal, interest) covered and what
    did not fit. The installments are locked and read once, and those paid written in one query,
    however many the payment covers (a payoff covers them all)."""
    locked = list(installments.select_for_update(of=("self",)))
    principal_total, interest_total, left, paid = installments_spread_payment(locked, amount, first=first)
    _installments_save(paid, fields=["paid_amount", "status", "paid_at"])
    plan_settle_status(plan)
    return principal_total, interest_total, left


def plan_settle_status(plan: Plan) -> None:
    """Close ``plan`` (the caller's locked instance, so its events say what the database says) if
    nothing is left to pay."""
    _settle_status(plan)


@transaction.atomic
def product_update(*, product: PaymentProduct, **changes: object) -> PaymentProduct:
    """Operators and (later) merchants change product settings; audited."""
    product = PaymentProduct.objects.select_for_update().get(pk=product.pk)
    before = {field: getattr(product, field) for field in changes}
    for field, value in changes.items():
        setattr(product, field, value)
    try:
        product.full_clean()
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise InvalidRequestError(f"{field}: {' '.join(messages)}", param=field) from error
    product.save()
    change_record(
        action="payment_product.updated",
        instance=product,
        before=before,
        data={"id": product.public_id, **{field: getattr(product, field) for field in changes}},
    )
    return product
