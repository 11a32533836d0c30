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

from collections import Counter
from collections.abc import Sequence

from bnpl.core.compiled import CompiledSelectByIds
from bnpl.core.errors import InvalidRequestError
from bnpl.core.ids import generate_public_id
from bnpl.core.inserts import insert_many, saved
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.selectors import payment_method_default
from bnpl.payments.services import charge_prepare, payment_method_check_mode
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
    prefix = _installment_key_prefix(plan, installment)
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


def installment_charges_prepare(*, installments: Sequence[Installment]) -> dict[int, Charge]:
    """``installment_charge_prepare`` for a batch (collections' claim): for each installment (with
    its plan read alongside) that has a card to charge, the pending charge for what is left of it
    under the next attempt's key, by installment id; an installment with no card is left out. The
    same keys as one at a time, found with a handful of queries for the whole batch: every card, every
    attempt counted, every charge written at once. A charge some other payer wrote under the same key
    meanwhile is the one returned (the key is unique): two payers of one attempt share one charge."""
    plans = {installment.plan_id: installment.plan for installment in installments}
    cards = plan_cards(plans=list(plans.values()))
    attempts: Counter[str] = Counter()
    for key in Charge.objects.filter(
        plan_id__in=plans, kind=Charge.Kind.PAYMENT, idempotency_key__startswith="collect:"
    ).values_list("idempotency_key", flat=True):
        attempts[key.rsplit(":", 1)[0] + ":"] += 1
    keys: dict[int, str] = {}
    rows: list[Charge] = []
    for installment in installments:
        plan = plans[installment.plan_id]
        card = cards.get(plan.pk)
        if card is None or installment.remaining_amount <= 0:
            continue
        payment_method_check_mode(payment_method=card, livemode=plan.livemode)
        prefix = _installment_key_prefix(plan, installment)
        keys[installment.pk] = f"{prefix}{attempts[prefix] + 1}"
        rows.append(
            Charge(
                public_id=generate_public_id(Charge.PUBLIC_ID_PREFIX),
                consumer_id=plan.consumer_id,
                payment_method=card,
                kind=Charge.Kind.PAYMENT,
                amount=installment.remaining_amount,
                currency=plan.currency,
                livemode=plan.livemode,
                status=Charge.Status.PENDING,
                idempotency_key=keys[installment.pk],
                plan=plan,
            )
        )
    insert_many(rows, ignore_conflicts=True, keyed_by="idempotency_key")
    return {installment_id: charge for installment_id, charge in zip(keys, _charges_as_written(rows), strict=True)}


def _charges_as_written(rows: list[Charge]) -> list[Charge]:
    """The charges stored under ``rows``' keys, in their order, just after ``rows`` were inserted
    with conflicts skipped: each row itself where its insert went in (saved with the id the insert
    returned, or else found under its key with its own public id: ids read, nothing rebuilt), else
    the charge another payer wrote under that key first, read whole. Nothing is read when every
    row went in and the insert returned their ids (PostgreSQL)."""
    unsaved = [row.idempotency_key for row in rows if row.pk is None]
    stored = (
        {
            key: (public_id, pk)
            for key, public_id, pk in Charge.objects.filter(idempotency_key__in=unsaved).values_list(
                "idempotency_key", "public_id", "pk"
            )
        }
        if unsaved
        else {}
    )
    others: list[str] = []
    for row in rows:
        if row.pk is not None:
            continue
        public_id, pk = stored[row.idempotency_key]
        if public_id == row.public_id:
            saved(row, pk)
        else:
            others.append(row.idempotency_key)
    theirs = (
        Charge.objects.select_related("payment_method").in_bulk(others, field_name="idempotency_key") if others else {}
    )
    return [theirs.get(row.idempotency_key, row) for row in rows]


def plan_cards(*, plans: Sequence[Plan]) -> dict[int, PaymentMethod]:
    """``plan_card`` for many plans at once (by plan id): each consumer's default card of the plan's
    mode; a plan whose consumer has none is left out."""
    defaults = {
        (card.consumer_id, card.livemode): card for card in _default_cards.rows({plan.consumer_id for plan in plans})
    }
    return {
        plan.pk: defaults[(plan.consumer_id, plan.livemode)]
        for plan in plans
        if (plan.consumer_id, plan.livemode) in defaults
    }


# The default cards of a batch's consumers (by their ids), in one statement compiled once per process.
_default_cards: CompiledSelectByIds[PaymentMethod] = CompiledSelectByIds(
    lambda match: PaymentMethod.objects.filter(match, is_default=True), field="consumer_id"
)


def _installment_key_prefix(plan: Plan, installment: Installment) -> str:
    return f"collect:{plan.public_id}:{installment.sequence}:"


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
