"""Settlements: a daily batch per merchant, mode and currency.

net = captured - our fees - refunded + fees given back + what the batch before carried forward.
A positive net is paid out through the live gateway; zero or less is carried into the next batch,
never paid. Each capture and refund lands in exactly one batch (its ``settlement``), and each batch
pays out at most once: the batch is written first (``pending``, one per merchant, mode and
currency), the gateway is called outside any transaction with a key derived from the batch, and the
result is recorded after; a run that died in between finishes the pending batch with the same key.

A test-mode batch is never sent to any gateway: it is marked paid as a *test payout* (reference
``test_po_…``, no transfer, no money), so merchants integrate against the same states without a
test settlement ever reaching a real account.

Ledger: paying out ``N`` debits ``merchant_payable`` (we owe the merchant less) and credits
``lender_cash`` (the money left us).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from bnpl.checkout.models import Capture, Refund
from bnpl.core import clock
from bnpl.core.services import change_record, inside_transaction
from bnpl.ledger.models import AccountCode
from bnpl.ledger.services import Line, ledger_post
from bnpl.payments.gateways import GatewayResult, get_gateway
from merchants.models import Merchant, Settlement, SettlementLine
from merchants.representations import settlement_data


@dataclass
class SettlementRun:
    batches: int = 0
    paid: int = 0
    paid_amount: int = 0
    carried_forward: int = 0
    failed: int = 0


def settlements_run(*, cutoff: dt.datetime | None = None) -> SettlementRun:
    """Batch everything captured or refunded before ``cutoff`` (default: the start of today, UTC),
    then pay out every pending batch."""
    cutoff = cutoff or dt.datetime.combine(clock.today(), dt.time.min, tzinfo=dt.UTC)
    run = SettlementRun()
    keys = set(_unsettled(Capture, cutoff).values_list("merchant_id", "livemode", "order__currency"))
    keys |= set(_unsettled(Refund, cutoff).values_list("merchant_id", "livemode", "order__currency"))
    for merchant_id, livemode, currency in sorted(keys):
        if settlement_create(merchant_id=merchant_id, livemode=livemode, currency=currency, cutoff=cutoff):
            run.batches += 1
    for settlement in (
        Settlement.objects.filter(status=Settlement.Status.PENDING).select_related("merchant").order_by("pk")
    ):
        settlement = settlement_pay(settlement=settlement)
        if settlement.status == Settlement.Status.PAID:
            run.paid += 1
            run.paid_amount += settlement.net_amount
        elif settlement.status == Settlement.Status.CARRIED_FORWARD:
            run.carried_forward += 1
        else:
            run.failed += 1
    return run


def _unsettled(model: type[Capture] | type[Refund], cutoff: dt.datetime) -> QuerySet:  # type: ignore[type-arg]
    return model.objects.filter(settlement__isnull=True, created_at__lt=cutoff)


def settlement_create(*, merchant_id: int, livemode: bool, currency: str, cutoff: dt.datetime) -> Settlement | None:
    """The batch of what is unsettled before ``cutoff`` (None when another batch is pending, or
    nothing is left: a concurrent run took it)."""
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update().get(pk=merchant_id)  # one batch-maker per merchant
        if Settlement.objects.filter(
            merchant=merchant, livemode=livemode, currency=currency, status=Settlement.Status.PENDING
        ).exists():
            return None
        scope = {"merchant": merchant, "livemode": livemode, "order__currency": currency}
        captures = list(
            _unsettled(Capture, cutoff).filter(**scope).select_related("order").select_for_update(of=("self",))
        )
        refunds = list(
            _unsettled(Refund, cutoff).filter(**scope).select_related("order").select_for_update(of=("self",))
        )
        if not captures and not refunds:
            return None
        carried = (
            Settlement.objects.filter(merchant=merchant, livemode=livemode, currency=currency)
            .exclude(status=Settlement.Status.PENDING)
            .order_by("-created_at", "-id")
            .first()
        )
        # The batch before rolls in unless it was paid: a negative net whole, a failed payout too.
        rolls_in = (Settlement.Status.CARRIED_FORWARD, Settlement.Status.FAILED)
        carried_in = carried.net_amount if carried and carried.status in rolls_in else 0
        settlement = Settlement(
            merchant=merchant,
            livemode=livemode,
            currency=currency,
            cutoff=cutoff,
            captured_amount=sum(capture.amount for capture in captures),
            fee_amount=sum(capture.merchant_fee_amount for capture in captures),
            refunded_amount=sum(refund.amount for refund in refunds),
            fee_refunded_amount=sum(refund.merchant_fee_refunded_amount for refund in refunds),
            carried_in_amount=carried_in,
        )
        settlement.net_amount = (
            settlement.captured_amount
            - settlement.fee_amount
            - settlement.refunded_amount
            + settlement.fee_refunded_amount
            + settlement.carried_in_amount
        )
        if settlement.net_amount <= 0:
            settlement.status = Settlement.Status.CARRIED_FORWARD
        settlement.save()
        SettlementLine.objects.bulk_create(
            [
                SettlementLine(
                    settlement=settlement,
                    kind=SettlementLine.Kind.CAPTURE,
                    source_id=capture.public_id,
                    order_id=capture.order.public_id,
                    merchant_reference=capture.merchant_reference,
                    amount=capture.amount,
                    fee_amount=-capture.merchant_fee_amount,
                    net_amount=capture.amount - capture.merchant_fee_amount,
                    occurred_at=capture.created_at,
                )
                for capture in captures
            ]
            + [
                SettlementLine(
                    settlement=settlement,
                    kind=SettlementLine.Kind.REFUND,
                    source_id=refund.public_id,
                    order_id=refund.order.public_id,
                    reason=refund.reason,
                    amount=-refund.amount,
                    fee_amount=refund.merchant_fee_refunded_amount,
                    net_amount=-refund.amount + refund.merchant_fee_refunded_amount,
                    occurred_at=refund.created_at,
                )
                for refund in refunds
            ]
        )
        Capture.objects.filter(pk__in=[capture.pk for capture in captures]).update(settlement=settlement)
        Refund.objects.filter(pk__in=[refund.pk for refund in refunds]).update(settlement=settlement)
        data = settlement_data(settlement)
        change_record(action="settlement.created", instance=settlement, data=data)
        if settlement.status == Settlement.Status.CARRIED_FORWARD:
            change_record(action="settlement.carried_forward", instance=settlement, data=data)
    return settlement


def settlement_pay(*, settlement: Settlement) -> Settlement:
    """Pay a pending batch out (outside any transaction), once: the gateway key is the batch's.
    Live batches only: a test-mode batch becomes a test payout and no gateway is called."""
    if inside_transaction():
        raise RuntimeError("settlement_pay calls the gateway: never inside a transaction")
    if settlement.status != Settlement.Status.PENDING:
        return settlement
    result = _live_payout(settlement) if settlement.livemode else _test_payout(settlement)
    with transaction.atomic():
        settlement = Settlement.objects.select_for_update().get(pk=settlement.pk)
        if settlement.status != Settlement.Status.PENDING:
            return settlement
        before = settlement_data(settlement)
        settlement.payout_reference = result.reference
        if result.succeeded:
            settlement.status, settlement.paid_at = Settlement.Status.PAID, clock.now()
            ledger_post(
                entry_type="settlement.paid",
                currency=settlement.currency,
                livemode=settlement.livemode,
                merchant=settlement.merchant,
                reference=settlement,
                idempotency_key=f"settlement:{settlement.public_id}:paid",
                lines=[
                    Line(
                        account=AccountCode.MERCHANT_PAYABLE,
                        amount=settlement.net_amount,
                        merchant=settlement.merchant,
                    ),
                    Line(account=AccountCode.LENDER_CASH, amount=-settlement.net_amount),
                ],
            )
        else:
            settlement.status, settlement.failure_message = Settlement.Status.FAILED, result.failure_message
        settlement.save()
        change_record(
            action=f"settlement.{settlement.status}",
            instance=settlement,
            before=before,
            data=settlement_data(settlement),
        )
    return settlement


def _live_payout(settlement: Settlement) -> GatewayResult:
    assert settlement.livemode, "only a live batch moves money"
    return get_gateway(livemode=True).payout(
        destination=settlement.merchant.payout_account or f"merchant:{settlement.merchant.public_id}",
        amount=settlement.net_amount,
        currency=settlement.currency,
        idempotency_key=f"payout:{settlement.public_id}",
    )


def _test_payout(settlement: Settlement) -> GatewayResult:
    """A test-mode batch's payout: recorded, never sent (not even to a test gateway, whose payout
    could be a real gateway's). The reference says so."""
    return GatewayResult(succeeded=True, reference=f"{Settlement.TEST_PAYOUT_PREFIX}{settlement.public_id}")


# The report's columns, each with how a line fills it. ``reason`` came last (after ``occurred_at``) so
# that readers of the older report by position keep reading the same columns.
REPORT_COLUMNS: dict[str, Callable[[SettlementLine], object]] = {
    "kind": lambda line: line.kind,
    "source": lambda line: line.source_id,
    "order": lambda line: line.order_id,
    "merchant_reference": lambda line: line.merchant_reference,  # a capture's; blank on refunds
    "amount": lambda line: line.amount,
    "fee_amount": lambda line: line.fee_amount,
    "net_amount": lambda line: line.net_amount,
    "occurred_at": lambda line: line.occurred_at.isoformat(),
    "reason": lambda line: line.reason,  # a refund's; blank on captures
}


def settlement_report_csv(settlement: Settlement) -> str:
    """One row per capture and refund, then what was carried in and the net (minor units): the
    same report as ``GET /api/v1/settlements/{id}/report.csv``."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(REPORT_COLUMNS), restval="")
    writer.writeheader()
    for line in settlement.lines.all():
        writer.writerow({column: value(line) for column, value in REPORT_COLUMNS.items()})
    writer.writerow({"kind": "carried_in", "net_amount": settlement.carried_in_amount})
    writer.writerow({"kind": "net", "net_amount": settlement.net_amount})
    return out.getvalue()
