"""Cards and charges. A charge is written ``pending`` first (keyed by an idempotency key derived
from our own row), then the gateway is called outside any transaction, then the result is recorded:
a crash between the steps leaves a pending row that a retry settles with the same key, so money
never moves twice."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from bnpl.core import clock
from bnpl.core.compiled import DAY_MARKERS, MARKERS, CompiledUpdate, per_mode
from bnpl.core.errors import GatewayUnavailableError, InvalidRequestError, PaymentDeclinedError
from bnpl.core.ids import generate_public_id
from bnpl.core.services import change_record, inside_transaction
from bnpl.payments.gateways import (
    CardDetails,
    CardSetup,
    Gateway,
    GatewayResult,
    get_gateway,
    takes_cards_in_browser,
)
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.selectors import payment_method_list
from bnpl.plans.models import Installment
from bnpl.servicing.locks import consumer_lock
from consumers.models import Consumer

if TYPE_CHECKING:
    from bnpl.plans.models import Plan

logger = logging.getLogger(__name__)


def payment_method_add(
    *,
    consumer: Consumer,
    livemode: bool,
    number: str,
    exp_month: int,
    exp_year: int,
    cvc: str,
    verify: bool = False,
) -> PaymentMethod:
    """Tokenize a card with the gateway of ``livemode`` and save the token (never the number) as the
    consumer's default card of that mode. ``verify``: first check with the bank that it can be
    charged later (a card added with nothing to pay today), and save nothing when it cannot."""
    gateway = get_gateway(livemode=livemode)
    card = gateway.tokenize_card(
        number=number, exp_month=exp_month, exp_year=exp_year, cvc=cvc, holder=consumer.public_id
    )
    if verify:
        verification = gateway.verify_card(token=card.token)
        if not verification.succeeded:
            raise PaymentDeclinedError(
                verification.failure_message or "The card was declined.",
                code=verification.failure_code or "card_declined",
                param="card_number",
            )
    return _payment_method_save(consumer, gateway, card)


def card_setup_start(*, consumer: Consumer, livemode: bool, purpose: str) -> CardSetup | None:
    """Begin saving a card of ``livemode`` in the consumer's browser when that mode's gateway takes
    cards there (Stripe Elements); None when cards are entered in our own form (the sandbox).
    ``purpose`` (e.g. the checkout session), the mode and the cards saved so far make the key: a
    page reload reuses the setup, and a new one starts once a card was saved with it."""
    gateway = get_gateway(livemode=livemode)
    if not takes_cards_in_browser(gateway):
        return None
    saved = payment_method_list(consumer=consumer, livemode=livemode).count()
    mode = "live" if livemode else "test"
    return gateway.card_setup_start(
        holder=consumer.public_id, idempotency_key=f"card-setup:{mode}:{consumer.public_id}:{purpose}:{saved}"
    )


def browser_card_form(*, consumer: Consumer, livemode: bool, purpose: str) -> dict[str, str] | None:
    """What a page needs to save a new card of ``livemode`` in the browser with the gateway's own
    fields (Stripe Elements): that mode's publishable key, where Stripe.js comes from and the
    setup's client secret, or ``{"unavailable": why}`` when the gateway cannot start one now. None
    when cards go through our own form (the sandbox)."""
    gateway = get_gateway(livemode=livemode)
    if not takes_cards_in_browser(gateway):
        return None
    try:
        setup = card_setup_start(consumer=consumer, livemode=livemode, purpose=purpose)
    except GatewayUnavailableError as error:
        return {"unavailable": error.message}
    assert setup is not None
    return {"publishable_key": gateway.publishable_key, "js_url": gateway.js_url, "client_secret": setup.client_secret}


def payment_method_from_setup(*, consumer: Consumer, livemode: bool, reference: str) -> PaymentMethod:
    """The card a setup confirmed in the browser saved (through the gateway of ``livemode``), as the
    consumer's default card of that mode (the same row again when the form is sent twice)."""
    gateway = get_gateway(livemode=livemode)
    if not takes_cards_in_browser(gateway):
        raise InvalidRequestError("Enter the card in the card form.", param="setup_intent")
    card = gateway.card_setup_finish(holder=consumer.public_id, reference=reference)
    existing = (
        payment_method_list(consumer=consumer, livemode=livemode)
        .filter(gateway=gateway.name, gateway_token=card.token)
        .first()
    )
    return existing or _payment_method_save(consumer, gateway, card)


def _payment_method_save(consumer: Consumer, gateway: Gateway, card: CardDetails) -> PaymentMethod:
    """Save as the default card of the gateway's mode (wherever it was added: the portal, a
    checkout, a step-up), which re-arms what was waiting for a card. Under the consumer's lock the
    mode's default is cleared first, so the new card is written as the default at once."""
    with transaction.atomic():
        consumer_lock(consumer_id=consumer.pk)
        _DEFAULTS_CLEAR[gateway.livemode].run(consumer.pk)
        saved = PaymentMethod(
            public_id=generate_public_id(PaymentMethod.PUBLIC_ID_PREFIX),
            consumer=consumer,
            livemode=gateway.livemode,
            gateway=gateway.name,
            gateway_token=card.token,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            is_default=True,
        )
        _default_record(consumer=consumer, payment_method=saved, new=True)  # the card goes in with its record
        return saved


def payment_method_make_default(*, consumer: Consumer, payment_method: PaymentMethod) -> int:
    """Collections of the card's mode charge this card from now on (the other mode keeps its own
    default); installments of that mode that stopped for want of a working card (no retry left, or a
    failure only the consumer could fix) are due again today. Returns how many were re-armed.

    The one way a card becomes a default, so a card saved anywhere re-arms collections. The
    consumer's row serializes it (one default per consumer and mode, which the database also holds)."""
    if payment_method.consumer_id != consumer.pk:
        raise InvalidRequestError("Choose one of your own cards.", param="payment_method")
    with transaction.atomic():
        consumer_lock(consumer_id=consumer.pk)
        return _default_set(consumer=consumer, payment_method=payment_method)


def _default_set(*, consumer: Consumer, payment_method: PaymentMethod) -> int:
    """``payment_method_make_default``'s change, audited, for a caller holding the consumer's row
    lock in its transaction."""
    _DEFAULTS_CLEAR_BUT[payment_method.livemode].run(consumer.pk, payment_method.pk)
    PaymentMethod.objects.filter(pk=payment_method.pk).update(is_default=True)
    return _default_record(consumer=consumer, payment_method=payment_method)


def _default_record(*, consumer: Consumer, payment_method: PaymentMethod, new: bool = False) -> int:
    """What follows a card becoming the default of its mode: what was waiting for a card is re-armed,
    and the change audited (``new``: the card is not saved yet, and goes in with the audit row and
    event, in their statement). Returns how many installments were re-armed."""
    livemode = payment_method.livemode
    today = clock.today()
    rearmed = _REARM[livemode].run(consumer.pk, today, today)
    change_record(
        action="consumer.payment_method_changed",
        instance=consumer,
        merchant=None,
        livemode=livemode,
        data={"consumer": consumer.public_id, "payment_method": payment_method.public_id, "rearmed": rearmed},
        new_rows=[payment_method] if new else (),
    )
    return rearmed


# Saving a card runs these on every checkout with a card typed in: compiled once per process
# (``bnpl.core.compiled``; the re-arming's joins and exclusions were most of the Python of saving a
# card), one statement per mode (a mode is not a parameter a marker can stand for).
def _defaults_clear(livemode: bool) -> CompiledUpdate:
    return CompiledUpdate(
        lambda consumer_id: (
            PaymentMethod.objects.filter(consumer_id=consumer_id, livemode=livemode, is_default=True),
            {"is_default": False},
        )
    )


def _defaults_clear_but(livemode: bool) -> CompiledUpdate:
    return CompiledUpdate(
        lambda consumer_id, kept_id: (
            PaymentMethod.objects.filter(consumer_id=consumer_id, livemode=livemode, is_default=True).exclude(
                pk=kept_id
            ),
            {"is_default": False},
        ),
        arity=2,
    )


def _rearm(livemode: bool) -> CompiledUpdate:
    return CompiledUpdate(
        lambda consumer_id, collect_on, due_by: (
            _waiting_for_card(consumer_id=consumer_id, livemode=livemode, due_by=due_by),
            {"collect_on": collect_on},
        ),
        markers=(MARKERS[0], *DAY_MARKERS[:2]),  # the consumer, the day set as collect_on, the due-by day
    )


_DEFAULTS_CLEAR = per_mode(_defaults_clear)
_DEFAULTS_CLEAR_BUT = per_mode(_defaults_clear_but)
_REARM = per_mode(_rearm)


def installments_waiting_for_card(*, consumer: Consumer, livemode: bool) -> QuerySet[Installment]:
    """The consumer's installments of one mode that are due and that collections stopped trying
    (no retry left, or a failure only the consumer can fix: no ``collect_on``)."""
    return _waiting_for_card(consumer_id=consumer.pk, livemode=livemode, due_by=clock.today())


def _waiting_for_card(*, consumer_id: Any, livemode: bool, due_by: Any) -> QuerySet[Installment]:
    return without_payments_in_flight(
        Installment.objects.collectable().filter(
            plan__consumer_id=consumer_id, plan__livemode=livemode, collect_on__isnull=True, due_date__lte=due_by
        )
    )


def without_payments_in_flight(installments: QuerySet[Installment]) -> QuerySet[Installment]:
    """``installments`` less those collections is charging right now (a claim also clears
    ``collect_on``) and those on a plan with a card payment not yet applied (it may cover them)."""
    payment_in_flight = Charge.objects.filter(plan=OuterRef("plan"), kind=Charge.Kind.PAYMENT).filter(
        Q(status=Charge.Status.PENDING) | Q(status=Charge.Status.SUCCEEDED, applied_at__isnull=True)
    )
    return installments.exclude(collection_attempts__status="processing").exclude(Exists(payment_in_flight))


def payment_method_check_mode(*, payment_method: PaymentMethod, livemode: bool) -> None:
    """Refuse a card of the other mode: a live card never pays in test mode, nor a test card live."""
    if payment_method.livemode != livemode:
        raise InvalidRequestError(
            "That card cannot pay here: test-mode payments take test cards only, live payments real cards only.",
            code="payment_method_wrong_mode",
            param="payment_method",
        )


def charge_prepare(
    *,
    consumer: Consumer,
    payment_method: PaymentMethod,
    amount: int,
    currency: str,
    livemode: bool,
    idempotency_key: str,
    kind: str = Charge.Kind.PAYMENT,
    refunded_charge: Charge | None = None,
    plan: Plan | None = None,
) -> Charge:
    """The pending charge for ``idempotency_key`` (made on first call, found on every later one).
    A payment for a ``plan`` is on it from the start, so every payer sees it in flight."""
    if amount <= 0:
        raise InvalidRequestError("A charge must be for a positive amount.", param="amount")
    if kind == Charge.Kind.PAYMENT:  # a refund goes back where its payment came from
        payment_method_check_mode(payment_method=payment_method, livemode=livemode)
    existing = Charge.objects.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return Charge.objects.create(
                consumer=consumer,
                payment_method=payment_method,
                kind=kind,
                amount=amount,
                currency=currency,
                livemode=livemode,
                status=Charge.Status.PENDING,
                idempotency_key=idempotency_key,
                refunded_charge=refunded_charge,
                plan=plan,
            )
    except IntegrityError:
        return Charge.objects.get(idempotency_key=idempotency_key)


def charge_execute(*, charge: Charge, off_session: bool) -> Charge:
    """Ask the gateway of the charge's mode (outside any transaction) and record the answer. Settled
    charges are returned as they are; a pending one is (re)sent with its own idempotency key. A
    charge on a card of the other mode (written before cards had modes) fails without a call."""
    if inside_transaction():
        raise RuntimeError("charge_execute calls the gateway: never inside a transaction")
    if charge.status != Charge.Status.PENDING:
        return charge
    return _charge_record(charge, charge_send(charge=charge, off_session=off_session))


def charge_send(*, charge: Charge, off_session: bool, gateway: Gateway | None = None) -> GatewayResult:
    """Send a pending charge to the gateway of its mode (``gateway``: that one, already built) and
    return its answer, recording nothing: ``charge_execute`` records it, or a batch records many
    answers at once (``charges_record``). Outside any transaction; writes nothing of ours, so batches
    may call it from several threads at once. A card of the other mode fails without a call."""
    if inside_transaction():
        raise RuntimeError("charge_send calls the gateway: never inside a transaction")
    if charge.payment_method.livemode != charge.livemode:
        return GatewayResult(
            succeeded=False,
            failure_code="payment_method_wrong_mode",
            failure_message="This card belongs to the other mode: choose another card.",
        )
    gateway = gateway or get_gateway(livemode=charge.livemode)
    token = charge.payment_method.gateway_token
    if charge.kind == Charge.Kind.PAYMENT:
        return gateway.charge(
            token=token,
            amount=charge.amount,
            currency=charge.currency,
            idempotency_key=charge.idempotency_key,
            off_session=off_session,
        )
    assert charge.refunded_charge is not None, "a refund names the payment it gives money back from"
    return gateway.refund(
        charge_reference=charge.refunded_charge.gateway_reference,
        amount=charge.amount,
        currency=charge.currency,
        idempotency_key=charge.idempotency_key,
    )


def _charge_record(charge: Charge, result: GatewayResult) -> Charge:
    """Record the gateway's answer on a pending charge (a later answer never overwrites one)."""
    if _still_processing(result):  # the gateway's webhook settles it
        Charge.objects.filter(pk=charge.pk, status=Charge.Status.PENDING).update(gateway_reference=result.reference)
        charge.refresh_from_db()
        return charge
    return charge_settle(charge=charge, result=result)


def _still_processing(result: GatewayResult) -> bool:
    return not result.succeeded and result.failure_code == "processing"


def charges_record(*, charges: Sequence[Charge], answers: dict[int, GatewayResult]) -> dict[int, Charge]:
    """``charge_execute``'s recording for a batch: the gateway's answer for each pending charge of
    ``charges`` (answers by charge id) recorded by one statement, as ``charge_settle`` records one
    (only a pending charge moves, so a webhook's or another worker's earlier answer stands), and the
    charges returned by id as they now are: those the statement moved hold the answer it wrote,
    any other answered one (settled meanwhile, or still "processing" at the gateway, which keeps
    its reference only and is settled by the gateway's webhook) is read back."""
    final = [(charge_id, result) for charge_id, result in answers.items() if not _still_processing(result)]
    for charge_id, result in answers.items():
        if _still_processing(result):
            Charge.objects.filter(pk=charge_id, status=Charge.Status.PENDING).update(gateway_reference=result.reference)
    now = clock.now()
    moved = _settle_pending_many(final, now) if final else set()
    recorded = {charge.pk: charge for charge in charges if charge.pk in moved}
    for charge_id, charge in recorded.items():
        result = answers[charge_id]
        charge.status = Charge.Status.SUCCEEDED if result.succeeded else Charge.Status.FAILED
        charge.gateway_reference, charge.failure_code = result.reference, result.failure_code
        charge.failure_message, charge.updated_at = result.failure_message, now
    read_back = [charge_id for charge_id in answers if charge_id not in recorded]
    if read_back:
        recorded.update(Charge.objects.select_related("payment_method").in_bulk(read_back))
    return recorded


def _settle_pending_many(answers: list[tuple[int, GatewayResult]], now: dt.datetime) -> set[int]:
    """``charge_settle``'s update for many charges at once: ``UPDATE … FROM (VALUES …)`` joins each
    charge to its own answer (PostgreSQL, and SQLite from 3.35), where Django's ``bulk_update``
    would spell a ``CASE`` per row and column. Returns the ids of the charges it moved (those still
    pending).

    Outside a transaction on PostgreSQL, the statement's own commit does not wait for the disk
    (``synchronous_commit`` off for it alone, as the sandbox's record of a key): answers lost with
    the server leave their charges pending, which is a call the gateway did not answer -- the
    sweeper sends the same keys again and the gateway answers with its first result -- and any
    later commit that waits for the disk (the batch's settle, or any writer that read these
    answers) flushes this one first, being after it in the log. Inside a caller's transaction
    nothing is changed: its commit is the caller's."""
    table = connection.ops.quote_name(Charge._meta.db_table)
    values = []
    for charge_id, result in answers:
        status = Charge.Status.SUCCEEDED if result.succeeded else Charge.Status.FAILED
        values.append((charge_id, str(status), result.reference, result.failure_code, result.failure_message))
    update = (
        f"UPDATE {table} SET status = answer.column2, gateway_reference = answer.column3, "  # noqa: S608  # nosec B608  # our own table; values are parameters
        "failure_code = answer.column4, failure_message = answer.column5, updated_at = %s "
        f"FROM (VALUES {', '.join(['(%s, %s, %s, %s, %s)'] * len(values))}) AS answer "
        f"WHERE {table}.id = answer.column1 AND {table}.status = %s RETURNING {table}.id"
    )
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        update = (
            f"WITH moved AS ({update}) "  # noqa: S608  # nosec B608  # the statement above
            "SELECT id FROM moved, set_config('synchronous_commit', 'off', true)"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            update,
            [
                connection.ops.adapt_datetimefield_value(now),
                *(value for row in values for value in row),
                str(Charge.Status.PENDING),
            ],
        )
        return {row[0] for row in cursor.fetchall()}


def charge_settle(*, charge: Charge, result: GatewayResult) -> Charge:
    """Move a pending charge to the gateway's final answer: succeeded, or failed with its reason.
    Only a pending charge moves (a charge is settled once: a later or repeated answer, whether
    the gateway's reply or its webhook, never overwrites the first), so concurrent settlers agree."""
    status = Charge.Status.SUCCEEDED if result.succeeded else Charge.Status.FAILED
    Charge.objects.filter(pk=charge.pk, status=Charge.Status.PENDING).update(
        status=status,
        gateway_reference=result.reference,
        failure_code=result.failure_code,
        failure_message=result.failure_message,
        updated_at=clock.now(),
    )
    charge.refresh_from_db()
    return charge


def charge_refund_failed(*, refund: Charge, failure_code: str, reference: str) -> bool:
    """A refund the gateway accepted and the card's bank then refused: the one move from succeeded
    back to failed a charge makes, because the money never left (the caller books it as the
    consumer's balance, bnpl.servicing.balances, after commit). Call with the refund's row locked;
    returns False (and changes nothing) when it was recorded already."""
    if refund.kind != Charge.Kind.REFUND or refund.status == Charge.Status.FAILED:
        return False
    refund.status = Charge.Status.FAILED
    refund.failure_code = failure_code
    refund.failure_message = "The card's bank refused the refund."
    refund.gateway_reference = reference
    refund.save(update_fields=["status", "failure_code", "failure_message", "gateway_reference"])
    return True


def charge_give_back(*, charge: Charge, amount: int | None = None) -> Charge | None:
    """Refund a payment (or the part of it given as ``amount``) that was taken but could not be
    applied: its order never came to be, or the plan shrank while it was in flight. Money in and
    money out: nothing to post. Outside any transaction; keyed by the payment, so repeating it
    refunds once."""
    if charge.kind != Charge.Kind.PAYMENT or charge.status != Charge.Status.SUCCEEDED:
        return None
    refund = charge_prepare(
        consumer=charge.consumer,
        payment_method=charge.payment_method,
        amount=charge.amount if amount is None else amount,
        currency=charge.currency,
        livemode=charge.livemode,
        idempotency_key=f"{charge.idempotency_key}:give_back",
        kind=Charge.Kind.REFUND,
        refunded_charge=charge,
    )
    return charge_execute(charge=refund, off_session=True)


def charges_settle_pending(*, older_than_seconds: int = 60) -> int:
    """Send again every charge still pending after a while (a worker died between writing it and
    hearing from the gateway, or an after-commit refund never ran). Same key: never moves money twice."""
    cutoff = clock.now() - dt.timedelta(seconds=older_than_seconds)
    settled = 0
    for charge in Charge.objects.filter(status=Charge.Status.PENDING, created_at__lt=cutoff).select_related(
        "payment_method", "refunded_charge"
    ):
        try:
            charge_execute(charge=charge, off_session=True)
        except Exception:  # one charge the gateway chokes on must not strand the others
            logger.exception("charge %s could not be settled; the next run tries again", charge.public_id)
            continue
        settled += 1
    return settled
