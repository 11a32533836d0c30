"""Confirmation: the shopper's choice becomes an order. Decide (or refer to a person), take the
payment due today outside any transaction, then authorize the order and write its plan in one --
re-checking the policy under the consumer's lock. A charge whose order could not be made is given
back at once, so money is never kept without an order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from bnpl.checkout import accounting
from bnpl.checkout.models import CheckoutSession, Order
from bnpl.checkout.prequalification import (
    Prequalified,
    checkout_prequalify,
    prequalification_replace,
    prequalified_decision,
)
from bnpl.checkout.representations import hosted_url, order_data_authorized
from bnpl.checkout.sessions import checkout_session_transition, checkout_session_usable
from bnpl.checkout.step_up import step_up_check
from bnpl.core import clock, inserts
from bnpl.core.compiled import CompiledSelect
from bnpl.core.errors import ApplicationError, InvalidRequestError, StateError
from bnpl.core.ids import is_well_formed
from bnpl.core.services import change_record
from bnpl.notifications import get_sender
from bnpl.payments.gateways import get_gateway
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.services import charge_execute, charge_prepare, payment_method_check_mode
from bnpl.plans import services as plan_services
from bnpl.plans.models import PaymentProduct
from bnpl.plans.schedule import ScheduleInputError
from bnpl.servicing import balances
from bnpl.servicing.locks import consumer_lock
from bnpl.servicing.services import payment_apply
from bnpl.tenancy.services import merchant_consumer_ensure
from consumers.models import Consumer
from consumers.services import Requester
from decisioning import Application, Decision, Reason, decline_on_recheck, recheck, review_referral
from decisioning.models import CreditDecision


class DecisionChangedError(StateError):
    """The policy, checked again as the order was written, no longer approves (another checkout of
    the same consumer got there first). Carries every failed rule."""

    def __init__(self, reasons: tuple[Reason, ...]) -> None:
        super().__init__(" ".join(reason.text for reason in reasons), code="decision_changed")
        self.reasons = reasons


@dataclass(frozen=True)
class ConfirmResult:
    decision: Decision | None
    order: Order | None = None
    payment_error: str = ""
    counteroffer: plan_services.Offer | None = None  # approved for less: the schedule with the down payment

    @property
    def approved(self) -> bool:
        return self.order is not None


def eligible_product(*, session: CheckoutSession, product_public_id: str) -> PaymentProduct:
    """The chosen product, if it is one the session offers (and it can make a schedule)."""
    product = (
        next(
            (
                product
                for product in plan_services.eligible_product_list(
                    merchant=session.merchant,
                    livemode=session.livemode,
                    currency=session.currency,
                    amount=session.amount,
                    kinds=session.product_kinds,
                )
                if product.public_id == product_public_id
            ),
            None,
        )
        if is_well_formed(product_public_id)
        else None
    )
    try:
        if product is not None:
            plan_services.offer_build(product=product, amount=session.amount, start=clock.today())
            return product
    except ScheduleInputError:
        pass
    raise InvalidRequestError("Choose one of the payment options shown.", code="product_not_offered", param="product")


def checkout_confirm(
    *,
    session: CheckoutSession,
    consumer: Consumer,
    product: PaymentProduct,
    payment_method: PaymentMethod,
    accepted_down_payment: int = 0,
    step_up_code: str = "",
    requester: Requester | None = None,
) -> ConfirmResult:
    """Decide, take the payment due today, and authorize the order.

    A saved card at a merchant the consumer has never bought from needs a fresh one-time code first
    (``step_up_code``, asked for by the browser ``requester``; ``bnpl.checkout.step_up``): without
    it, StepUpRequiredError, before anything is decided or charged.

    A decision that approves less than the order (a counteroffer) comes back with the schedule that
    includes its down payment and takes nothing; confirming again with ``accepted_down_payment``
    equal to it goes ahead (a new decision asking another amount is shown again).

    Safe to repeat and to race: a confirm for a completed session returns its order; a charge whose
    order could not be made (the session closed meanwhile, a parallel confirm won, the consumer's
    exposure changed) is refunded at once, so money is never kept without an order.
    """
    checkout_session_usable(session)
    if payment_method.consumer_id != consumer.pk:
        raise InvalidRequestError("Choose one of your own cards.", param="payment_method")
    payment_method_check_mode(payment_method=payment_method, livemode=session.livemode)
    step_up_check(
        session=session, consumer=consumer, payment_method=payment_method, code=step_up_code, requester=requester
    )
    offer = plan_services.offer_build(product=product, amount=session.amount, start=clock.today())
    application = Application(
        consumer=consumer,
        merchant=session.merchant,
        product=product,
        amount=session.amount,
        currency=session.currency,
        livemode=session.livemode,
        checkout_session=session,
    )
    # The decision the shopper was prequalified with governs (made now if the page never made it).
    decision, fresh = prequalified_decision(session=session, consumer=consumer, product=product)
    if decision.referred:
        return _refer(session=session, consumer=consumer, decision=decision)
    if not decision.approved:
        if not fresh:  # declined before the choice: never offered, while other options were
            raise InvalidRequestError(
                "Choose one of the payment options shown.", code="product_not_offered", param="product"
            )
        return _decline(session=session, consumer=consumer, decision=decision)
    if decision.down_payment_amount:
        offer = plan_services.offer_build(
            product=product, amount=session.amount, start=clock.today(), down_payment=decision.down_payment_amount
        )
        if accepted_down_payment != decision.down_payment_amount:
            return ConfirmResult(decision=decision, counteroffer=offer)
    first_charge = None
    if not offer.due_today_amount:
        verification = get_gateway(livemode=session.livemode).verify_card(token=payment_method.gateway_token)
        if not verification.succeeded:
            return ConfirmResult(decision=decision, payment_error=verification.failure_message)
    else:
        first_charge = charge_prepare(
            consumer=consumer,
            payment_method=payment_method,
            amount=offer.due_today_amount,
            currency=session.currency,
            livemode=session.livemode,
            idempotency_key=first_payment_key(
                session=session, payment_method=payment_method, amount=offer.due_today_amount
            ),
        )
        first_charge = charge_execute(charge=first_charge, off_session=False)
        if first_charge.status != Charge.Status.SUCCEEDED:
            return ConfirmResult(
                decision=decision, payment_error=first_charge.failure_message or "The card was declined."
            )
    try:
        order = _authorize(session=session, application=application, offer=offer, first_charge=first_charge)
    except ApplicationError as error:
        if first_charge is not None:
            balances.give_back(charge=first_charge)
        if isinstance(error, DecisionChangedError):
            decline_on_recheck(decision_id=decision.decision_id, reasons=error.reasons)
            prequalification_replace(session=session, consumer=consumer, decision_id=decision.decision_id)
        raise
    if first_charge is not None and Charge.objects.get(pk=first_charge.pk).applied_at is None:
        balances.give_back(charge=first_charge)  # a parallel confirm made the order with its own payment
    return ConfirmResult(decision=decision, order=order)


FIRST_PAYMENT_MARK = ":first_payment:"
CLOSED_SESSIONS = (
    CheckoutSession.Status.COMPLETE,
    CheckoutSession.Status.EXPIRED,
    CheckoutSession.Status.CANCELED,
    CheckoutSession.Status.DECLINED,
)


def first_payment_key(*, session: CheckoutSession, payment_method: PaymentMethod, amount: int) -> str:
    """The idempotency key of the payment a confirm takes today: per session, card and amount
    (another card, or another product, after a decline is a new charge), led by the session's id
    (``first_payments_orphaned_give_back`` finds the session by it)."""
    return f"{session.public_id}{FIRST_PAYMENT_MARK}{payment_method.public_id}:{amount}"


def first_payments_orphaned_give_back() -> int:
    """Give back the payments confirms took whose order was never written, once nothing can apply them.

    A confirm charges the card outside any transaction, then writes the order. A process or a
    database that dies between the two leaves a payment without an order. The shopper who confirms
    again gets that payment applied (same key: the gateway answers with the first charge, so the
    card is charged once); a shopper who never comes back must get it back. That is safe only when
    no confirm can apply it any more: its session is complete (with another payment), expired,
    canceled or declined. Then it is refunded, keyed by the payment (so a sweep racing a confirm's
    own give-back refunds once). A payment whose answer was never recorded is first settled by
    ``charges_settle_pending``. Returns how many payments were given back (a periodic task).

    The other half of "money taken is never kept": a payment that already belongs to a plan is
    applied to it by ``bnpl.servicing.services.plan_payments_apply_settled``; this one has no plan
    yet, and only the checkout knows whether one can still come."""
    orphans = Charge.objects.filter(
        kind=Charge.Kind.PAYMENT,
        status=Charge.Status.SUCCEEDED,
        plan__isnull=True,
        applied_at__isnull=True,
        refund_charges__isnull=True,
        idempotency_key__contains=FIRST_PAYMENT_MARK,
    ).select_related("consumer", "payment_method")
    by_session: dict[str, list[Charge]] = {}
    for charge in orphans:
        by_session.setdefault(charge.idempotency_key.split(FIRST_PAYMENT_MARK, 1)[0], []).append(charge)
    now = clock.now()
    given_back = 0
    for session in CheckoutSession.objects.filter(public_id__in=by_session):
        expired = session.status == CheckoutSession.Status.OPEN and now >= session.expires_at
        if session.status not in CLOSED_SESSIONS and not expired:
            continue  # the shopper may still confirm: the payment is theirs to apply
        for charge in by_session[session.public_id]:
            if Charge.objects.filter(pk=charge.pk, applied_at__isnull=True).exists():
                balances.give_back(charge=charge)
                given_back += 1
    return given_back


def checkout_session_prequalify(*, session: CheckoutSession, consumer: Consumer) -> Prequalified:
    """Prequalify ``consumer`` on an open ``session`` before any card is asked for
    (``bnpl.checkout.prequalification``): with nothing approved, the session is declined (the
    shopper coming back sees the decline, never the offers) or, with a referral, goes to review --
    audited and evented as a decision at the confirm would."""
    checkout_session_usable(session)
    result = checkout_prequalify(session=session, consumer=consumer)
    if result.referral is not None:
        _refer(session=session, consumer=consumer, decision=result.referral)
    elif result.declined:
        _decline(session=session, consumer=consumer, decision=Decision(approved=False, reasons=result.reasons))
    return result


def _refer(*, session: CheckoutSession, consumer: Consumer, decision: Decision) -> ConfirmResult:
    with transaction.atomic():
        locked = CheckoutSession.objects.select_for_update().get(pk=session.pk)
        if locked.status == CheckoutSession.Status.COMPLETE:
            return ConfirmResult(decision=decision, order=locked.order)
        checkout_session_usable(locked)
        checkout_session_transition(
            locked, CheckoutSession.Status.IN_REVIEW, "checkout_session.in_review", consumer=consumer
        )
    return ConfirmResult(decision=decision)


def checkout_review_resolve(*, decision: CreditDecision, approve: bool, note: str, reviewer: Any) -> CreditDecision:
    """An operator settles a referred application: approved, the session opens again for the
    shopper to finish (the next decision honours the review); declined, the session is declined.
    Approved, the shopper is emailed the link; declined, they get the adverse-action notice."""
    with transaction.atomic():
        reviewed = review_referral(decision=decision, approve=approve, note=note, reviewer=reviewer)
        assert reviewed.checkout_session_id is not None, "referrals come from a checkout"
        session = CheckoutSession.objects.select_for_update().get(pk=reviewed.checkout_session_id)
        if session.status == CheckoutSession.Status.IN_REVIEW:
            if approve:
                checkout_session_transition(session, CheckoutSession.Status.OPEN, "checkout_session.review_approved")
            else:
                checkout_session_transition(session, CheckoutSession.Status.DECLINED, "checkout_session.declined")
        consumer = reviewed.consumer
        if approve and consumer.email:  # a decline is told by its adverse-action notice (bnpl.notifications)
            message = (
                f"Good news: {session.merchant.name} approved your pay-later application. Finish your purchase at "
                f"{hosted_url(session)}"
            )
            transaction.on_commit(
                lambda: get_sender().send(
                    channel="email",
                    destination=consumer.email or "",
                    subject="Your pay-later application",
                    body=message,
                )
            )
    return reviewed


def _decline(*, session: CheckoutSession, consumer: Consumer, decision: Decision) -> ConfirmResult:
    with transaction.atomic():
        locked = CheckoutSession.objects.select_for_update().get(pk=session.pk)
        if locked.status == CheckoutSession.Status.COMPLETE:
            return ConfirmResult(decision=decision, order=locked.order)  # a parallel confirm already won
        checkout_session_usable(locked)
        checkout_session_transition(
            locked, CheckoutSession.Status.DECLINED, "checkout_session.declined", consumer=consumer
        )
    return ConfirmResult(decision=decision)


# The authorization's two locks, taken on every confirm: compiled once per process (``bnpl.core.compiled``).
_SESSION_LOCK: CompiledSelect[CheckoutSession] = CompiledSelect(
    lambda session_id: (
        CheckoutSession.objects.select_related("merchant").select_for_update(of=("self",)).filter(pk=session_id)
    )
)


def _authorize(
    *, session: CheckoutSession, application: Application, offer: plan_services.Offer, first_charge: Charge | None
) -> Order:
    consumer = application.consumer
    with transaction.atomic():
        locked = _SESSION_LOCK.rows(session.pk)
        if not locked:
            raise CheckoutSession.DoesNotExist
        session = locked[0]
        if session.status == CheckoutSession.Status.COMPLETE:
            return session.order
        checkout_session_usable(session)
        # The consumer's row serializes their checkouts: the policy is checked again under it, so
        # two checkouts at once cannot both pass a spending limit that only one fits.
        consumer_lock(consumer_id=consumer.pk)
        reasons = recheck(application=application)
        if reasons:
            raise DecisionChangedError(reasons)
        # The shopper confirmed a purchase here: only now does the merchant get its id for them.
        link = merchant_consumer_ensure(merchant=session.merchant, livemode=session.livemode, consumer=consumer)
        order = Order(
            merchant=session.merchant,
            livemode=session.livemode,
            checkout_session=session,
            consumer=consumer,
            currency=session.currency,
            authorized_amount=session.amount,
            merchant_fee_bps=offer.product.merchant_fee_bps,
            merchant_fee_fixed_amount=offer.product.merchant_fee_fixed_amount,
            merchant_reference=session.merchant_reference,
            authorization_expires_at=clock.now() + settings.AUTHORIZATION_TTL,
        )
        inserts.insert_rows([order])  # compiled once per process (``bnpl.core.inserts``)
        plan = plan_services.plan_create(order=order, consumer=consumer, offer=offer)
        accounting.post_authorization(order)
        if first_charge is not None and payment_apply(order=order, plan=plan, charge=first_charge):
            raise StateError("The payment is more than the plan owes.", code="overpayment")
        checkout_session_transition(
            session,
            CheckoutSession.Status.COMPLETE,
            "checkout_session.completed",
            merchant_consumer_id=link.public_id,
            consumer=consumer,
            completed_at=clock.now(),
        )
        change_record(
            action="order.authorized",
            instance=order,
            data=order_data_authorized(order, merchant_consumer_id=link.public_id),
        )
    return order
