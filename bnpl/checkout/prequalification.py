"""Prequalification: the credit decision on each payment option of a session, made for its
signed-in, verified shopper before any card is asked for.

The hosted checkout shows only the options these decisions approve (a counteroffer with its down
payment, plainly), or the decline with its reasons, or the review. Each decision is made once per
session, shopper and option (``Prequalification``) and is the one the confirmation then acts on
(``checkout_confirm`` reads it back through ``prequalified_decision``): there is no second,
contradictory decision at the confirm. A decision is made again only when the first cannot stand
as it is -- a referral a person has since settled -- and that new decision is stored and audited
like any other (``decide``), replacing the old one here.

Deciding writes (each decision, its audit row and its event), so it runs outside any transaction,
as the confirmation's own decision does."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from bnpl.checkout.models import CheckoutSession, Prequalification
from bnpl.checkout.selectors import checkout_session_offers
from bnpl.core import clock, inserts
from bnpl.core.compiled import CompiledSelect, CompiledSelectByIds
from bnpl.plans import services as plan_services
from bnpl.plans.models import PaymentProduct
from consumers.models import Consumer
from decisioning import Application, Decision, Reason, decide, decide_many
from decisioning.models import CreditDecision

# What the checkout reads of a stored decision (``decision_from_record``, ``_stands``, the limit): not
# the JSON of what it saw (features, model inputs, cash flow), which only audits and training read.
_UNREAD_DECISION_FIELDS = ("features", "model_inputs", "cash_flow")
APPROVED_OUTCOMES = (CreditDecision.Outcome.APPROVED, CreditDecision.Outcome.APPROVED_WITH_DOWN_PAYMENT)
MAX_REASONS = 4  # the principal reasons a decline states, across the options declined


@dataclass(frozen=True)
class Option:
    """One payment option as decided for this shopper: its offer (with the down payment of a
    counteroffer in its schedule) and the decision behind it."""

    offer: plan_services.Offer
    decision: Decision
    spending_limit: int | None  # minor units the shopper may finance with it (None: not worked out)


@dataclass(frozen=True)
class Prequalified:
    approved: list[Option] = field(default_factory=list)  # what the page offers, in the offers' order
    declined: bool = False  # nothing approved and nothing referred
    referred: bool = False  # nothing approved; a person reviews at least one option
    reasons: tuple[Reason, ...] = ()  # why, when declined (principal ones, each once)
    referral: Decision | None = None

    @property
    def limit(self) -> int | None:
        """The most this shopper may finance here, across the options approved."""
        limits = [option.spending_limit for option in self.approved if option.spending_limit is not None]
        return max(limits) if limits else None


def decision_from_record(record: CreditDecision) -> Decision:
    """A stored decision read back as ``decide`` returned it (a referral a person approved reads
    as approved: the next decision honours the review, and ``prequalified_decision`` makes it)."""
    return Decision(
        approved=record.outcome in APPROVED_OUTCOMES,
        reasons=tuple(Reason(code=reason["code"], text=reason["text"]) for reason in record.reasons),
        referred=record.outcome == CreditDecision.Outcome.REFERRED,
        down_payment_amount=record.down_payment_amount,
        policy_version=record.policy_version,
        decision_id=record.public_id,
    )


def _application(session: CheckoutSession, consumer: Consumer, product: PaymentProduct) -> Application:
    return Application(
        consumer=consumer,
        merchant=session.merchant,
        product=product,
        amount=session.amount,
        currency=session.currency,
        livemode=session.livemode,
        checkout_session=session,
    )


def _stands(record: CreditDecision) -> bool:
    """Whether a stored decision still governs: a referral stands only while nobody has settled it
    (once settled, a new decision honours the review)."""
    return record.outcome != CreditDecision.Outcome.REFERRED or not record.review_status


def _decide_and_keep(
    *, session: CheckoutSession, consumer: Consumer, product: PaymentProduct, stored: Prequalification | None
) -> CreditDecision:
    decision = decide(application=_application(session, consumer, product))
    record = CreditDecision.objects.defer(*_UNREAD_DECISION_FIELDS).get(public_id=decision.decision_id)
    if stored is not None:
        stored.decision = record
        stored.save(update_fields=["decision"])
        return record
    try:
        with transaction.atomic():
            Prequalification.objects.create(
                checkout_session=session, consumer=consumer, product=product, decision=record
            )
    except IntegrityError:  # a parallel request decided this option first: its decision governs
        return _with_decisions().get(checkout_session=session, consumer=consumer, product=product).decision
    return record


def _with_decisions() -> QuerySet[Prequalification]:
    """Prequalifications with their decisions, as the checkout reads them."""
    return Prequalification.objects.select_related("decision").defer(
        *(f"decision__{name}" for name in _UNREAD_DECISION_FIELDS)
    )


# A session's prequalifications of one shopper (one per option: a handful of rows), with their
# decisions: the page and the confirm read them on every purchase, so the statement is compiled once
# per process (``bnpl.core.compiled``) and the option picked from its rows.
_KEPT: CompiledSelect[Prequalification] = CompiledSelect(
    lambda session_id, consumer_id: (
        _with_decisions().filter(checkout_session_id=session_id, consumer_id=consumer_id).order_by("pk")
    ),
    arity=2,
)
# The decisions just made, by their public ids, without the JSON the checkout does not read.
_MADE: CompiledSelectByIds[CreditDecision] = CompiledSelectByIds(
    lambda match: CreditDecision.objects.defer(*_UNREAD_DECISION_FIELDS).filter(match), field="public_id"
)


def _kept(session: CheckoutSession, consumer: Consumer) -> dict[int, Prequalification]:
    """``_KEPT``'s rows by product id."""
    return {row.product_id: row for row in _KEPT.rows(session.pk, consumer.pk)}


def prequalified_decision(
    *, session: CheckoutSession, consumer: Consumer, product: PaymentProduct
) -> tuple[Decision, bool]:
    """The decision governing ``product`` on ``session`` for ``consumer``, and whether it was made
    just now: the prequalification's, made now if the page never made it or it no longer stands."""
    stored = _kept(session, consumer).get(product.pk)
    if stored is not None and _stands(stored.decision):
        return decision_from_record(stored.decision), False
    record = _decide_and_keep(session=session, consumer=consumer, product=product, stored=stored)
    return decision_from_record(record), True


def prequalified_declined(*, session: CheckoutSession, consumer: Consumer, product: PaymentProduct) -> bool:
    """Whether ``product`` was declined for ``consumer`` before the choice (and so never offered):
    a confirm for it is refused before any card is taken in."""
    stored = _kept(session, consumer).get(product.pk)
    return stored is not None and stored.decision.outcome == CreditDecision.Outcome.DECLINED


def prequalification_replace(*, session: CheckoutSession, consumer: Consumer, decision_id: str) -> None:
    """The decline recorded when the policy, checked again as the order was written, refused what
    ``decision_id`` approved now governs that option: the page stops offering it."""
    recheck = (
        CreditDecision.objects.filter(checkout_session=session, consumer=consumer, features__recheck_of=decision_id)
        .order_by("-created_at", "-id")
        .first()
    )
    if recheck is not None:
        Prequalification.objects.filter(
            checkout_session=session, consumer=consumer, decision__public_id=decision_id
        ).update(decision=recheck, updated_at=clock.now())


def checkout_prequalify(*, session: CheckoutSession, consumer: Consumer) -> Prequalified:
    """Decide every option of the session for ``consumer`` (once: a decision that stands is read
    back, not made again) and say what the page may offer. Closing the session on a decline or a
    referral is the caller's (``bnpl.checkout.confirmation.checkout_session_prequalify``)."""
    offers = checkout_session_offers(session)
    records = _records(session=session, consumer=consumer, products=[offer.product for offer in offers])
    approved: list[Option] = []
    reasons: list[Reason] = []
    referral: Decision | None = None
    for offer in offers:
        record = records[offer.product.pk]
        decision = decision_from_record(record)
        if decision.approved:
            if decision.down_payment_amount:
                offer = plan_services.offer_build(
                    product=offer.product,
                    amount=session.amount,
                    start=clock.today(),
                    down_payment=decision.down_payment_amount,
                )
            approved.append(Option(offer=offer, decision=decision, spending_limit=record.spending_limit))
        elif decision.referred:
            referral = referral or decision
        else:
            reasons += [reason for reason in decision.reasons if reason.code not in {r.code for r in reasons}]
    if approved:
        return Prequalified(approved=approved)
    if referral is not None:
        return Prequalified(referred=True, referral=referral)
    return Prequalified(declined=bool(offers), reasons=tuple(reasons[:MAX_REASONS]))


def _records(
    *, session: CheckoutSession, consumer: Consumer, products: list[PaymentProduct]
) -> dict[int, CreditDecision]:
    """The decision governing each of ``products`` (by product id): the one kept, while it stands;
    else one made now and kept (the options never decided are decided together, in one write, and
    kept together: ``decide_many``, ``_keep``)."""
    stored = _kept(session, consumer)
    records: dict[int, CreditDecision] = {}
    undecided: list[PaymentProduct] = []  # options with nothing kept: decided together, kept together
    for product in products:
        row = stored.get(product.pk)
        if row is not None and _stands(row.decision):
            records[product.pk] = row.decision
        elif row is not None:  # a settled referral: decided again, in its place
            records[product.pk] = _decide_and_keep(session=session, consumer=consumer, product=product, stored=row)
        else:
            undecided.append(product)
    if undecided:
        made = decide_many(applications=[_application(session, consumer, product) for product in undecided])
        decided = {product.pk: decision.decision_id for product, decision in zip(undecided, made, strict=True)}
        records |= _keep(session=session, consumer=consumer, decided=decided)
    return records


def _keep(*, session: CheckoutSession, consumer: Consumer, decided: dict[int, str]) -> dict[int, CreditDecision]:
    """Keep the decisions just made (product id -> decision id), in one statement for all the
    options, and return the decision each option now has: its own, or, where a parallel request kept
    one first, that one (it governs, as in ``_decide_and_keep``)."""
    by_id = {record.public_id: record for record in _MADE.rows(list(decided.values()))}
    inserts.insert_many(
        [
            Prequalification(
                checkout_session=session, consumer=consumer, product_id=product_id, decision=by_id[public_id]
            )
            for product_id, public_id in decided.items()
        ],
        ignore_conflicts=True,
    )
    kept = _kept(session, consumer)
    return {product_id: kept[product_id].decision for product_id in decided}


def prequalified_reasons(*, session: CheckoutSession, consumer: Consumer) -> tuple[Reason, ...] | None:
    """Why ``consumer`` was declined on ``session`` (None: no decision of theirs declined it), for
    a shopper coming back to a declined session: the decline, never the offers."""
    declined = Q(outcome=CreditDecision.Outcome.DECLINED) | Q(
        outcome=CreditDecision.Outcome.REFERRED, review_status=CreditDecision.Review.DECLINED
    )
    records = CreditDecision.objects.filter(declined, checkout_session=session, consumer=consumer).order_by(
        "created_at", "id"
    )
    reasons: list[Reason] = []
    seen: set[str] = set()
    for record in records.only("reasons"):
        for reason in record.reasons:
            if reason["code"] not in seen:
                seen.add(reason["code"])
                reasons.append(Reason(code=reason["code"], text=reason["text"]))
    if not seen and not records.exists():
        return None
    return tuple(reasons[:MAX_REASONS])
