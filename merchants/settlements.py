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

from django.db import connection, models, transaction
from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce

from bnpl.checkout.models import Capture, Order, Refund
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
    _statistics_refresh()
    keys = set(_books(_unsettled(Capture, cutoff))) | set(_books(_unsettled(Refund, cutoff)))
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


def _statistics_refresh() -> None:
    """Fresh planner statistics for the tables a run claims from, before it plans its claims.

    Autovacuum analyses a table after a tenth of it changed; a day's captures are far less than
    that on a large table, and the last analysis most likely ran when every capture was settled.
    The planner then believes almost no capture is unsettled, and joins each of the day's captures
    to the merchant's orders by a nested loop over all of them: 100,000 captures over 950 orders
    took 7.2 s in the claim alone, 1.9 s once analysed (bench/collecting.py). ANALYZE samples a
    bounded number of rows whatever the table's size, once a run; a database user that does not
    own the tables gets a warning and the old statistics, never an error."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in (Capture, Refund))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


def _unsettled(model: type[Capture] | type[Refund], cutoff: dt.datetime) -> QuerySet:  # type: ignore[type-arg]
    return model.objects.filter(settlement__isnull=True, created_at__lt=cutoff)


def _books(rows: QuerySet) -> QuerySet:  # type: ignore[type-arg]
    """The distinct (merchant id, mode, currency) of ``rows``, found by the database."""
    return rows.order_by().values_list("merchant_id", "livemode", "order__currency").distinct()


def settlement_create(*, merchant_id: int, livemode: bool, currency: str, cutoff: dt.datetime) -> Settlement | None:
    """The batch of what is unsettled before ``cutoff`` (None when another batch is pending, or
    nothing is left: a concurrent run took it)."""
    with transaction.atomic():
        merchant = Merchant.objects.select_for_update().get(pk=merchant_id)  # one batch-maker per merchant
        if Settlement.objects.filter(
            merchant=merchant, livemode=livemode, currency=currency, status=Settlement.Status.PENDING
        ).exists():
            return None
        orders_in_currency = Order.objects.filter(merchant=merchant, livemode=livemode, currency=currency)
        scope = {"merchant": merchant, "livemode": livemode, "order__in": orders_in_currency.values("pk")}
        captures = _unsettled(Capture, cutoff).filter(**scope)
        refunds = _unsettled(Refund, cutoff).filter(**scope)
        if not captures.exists() and not refunds.exists():
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
        settlement = Settlement.objects.create(
            merchant=merchant,
            livemode=livemode,
            currency=currency,
            cutoff=cutoff,
            carried_in_amount=carried_in,
            net_amount=carried_in,
        )
        captures.update(settlement=settlement)  # the batch's rows are claimed (and locked) here
        refunds.update(settlement=settlement)
        _lines_insert(settlement)
        captured = Capture.objects.filter(settlement=settlement).aggregate(
            amount=Coalesce(Sum("amount"), 0), fee=Coalesce(Sum("merchant_fee_amount"), 0)
        )
        refunded = Refund.objects.filter(settlement=settlement).aggregate(
            amount=Coalesce(Sum("amount"), 0), fee=Coalesce(Sum("merchant_fee_refunded_amount"), 0)
        )
        settlement.captured_amount, settlement.fee_amount = captured["amount"], captured["fee"]
        settlement.refunded_amount, settlement.fee_refunded_amount = refunded["amount"], refunded["fee"]
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
        data = settlement_data(settlement)
        change_record(action="settlement.created", instance=settlement, data=data)
        if settlement.status == Settlement.Status.CARRIED_FORWARD:
            change_record(action="settlement.carried_forward", instance=settlement, data=data)
    return settlement


def _lines_insert(settlement: Settlement) -> None:
    """The batch's report lines, one per capture and refund it took, written by the database in
    one statement per kind (``INSERT … SELECT``: no row passes through Python, so a batch of any
    size costs the same number of queries)."""
    quote = connection.ops.quote_name

    def column(model: type[models.Model], name: str) -> str:
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field) and field.column, f"{name} is not a concrete field"
        return quote(field.column)

    line_columns = ", ".join(
        column(SettlementLine, field)
        for field in (
            "settlement",
            "kind",
            "source_id",
            "order_id",
            "merchant_reference",
            "reason",
            "amount",
            "fee_amount",
            "net_amount",
            "occurred_at",
        )
    )
    lines, orders = quote(SettlementLine._meta.db_table), quote(Order._meta.db_table)
    sources = {
        SettlementLine.Kind.CAPTURE: (
            Capture,
            f"item.{column(Capture, 'merchant_reference')}",
            "''",
            f"item.{column(Capture, 'amount')}",
            f"-item.{column(Capture, 'merchant_fee_amount')}",
        ),
        SettlementLine.Kind.REFUND: (
            Refund,
            "''",
            f"item.{column(Refund, 'reason')}",
            f"-item.{column(Refund, 'amount')}",
            f"item.{column(Refund, 'merchant_fee_refunded_amount')}",
        ),
    }
    with connection.cursor() as cursor:
        for kind, (model, reference, reason, amount, fee) in sources.items():
            cursor.execute(
                f"INSERT INTO {lines} ({line_columns}) "  # noqa: S608  # nosec B608  # our own tables and columns
                f"SELECT %s, %s, item.{column(model, 'public_id')}, parent.{column(Order, 'public_id')}, "
                f"{reference}, {reason}, {amount}, {fee}, {amount} + {fee}, item.{column(model, 'created_at')} "
                f"FROM {quote(model._meta.db_table)} item "
                f"JOIN {orders} parent ON parent.{column(Order, 'id')} = item.{column(model, 'order')} "
                f"WHERE item.{column(model, 'settlement')} = %s "
                f"ORDER BY item.{column(model, 'created_at')}, item.{column(model, 'id')}",
                [settlement.pk, kind.value, settlement.pk],
            )


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
