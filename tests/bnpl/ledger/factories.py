"""Ledger test data: the lines of a typical capture, posted through the real service."""

from __future__ import annotations

from django.db import transaction

from bnpl.core.models import AuditLogEntry, Event
from bnpl.ledger.models import Account, AccountCode, JournalEntry, Posting
from bnpl.ledger.services import Line, ledger_post
from consumers.models import Consumer
from merchants.models import Merchant


def capture_lines(*, merchant: Merchant, consumer: Consumer, amount: int, fee_amount: int) -> list[Line]:
    """The consumer owes the whole order; the merchant is owed it less the fee, which the lender earns."""
    return [
        Line(AccountCode.CONSUMER_RECEIVABLE, amount, consumer=consumer),
        Line(AccountCode.MERCHANT_PAYABLE, -(amount - fee_amount), merchant=merchant),
        Line(AccountCode.MERCHANT_FEE_REVENUE, -fee_amount, merchant=merchant),
    ]


def post_capture(
    *,
    merchant: Merchant,
    consumer: Consumer,
    amount: int = 10_000,
    fee_amount: int = 300,
    currency: str = "USD",
    livemode: bool = False,
    idempotency_key: str | None = None,
) -> JournalEntry:
    with transaction.atomic():
        return ledger_post(
            entry_type="order.captured",
            currency=currency,
            livemode=livemode,
            merchant=merchant,
            lines=capture_lines(merchant=merchant, consumer=consumer, amount=amount, fee_amount=fee_amount),
            idempotency_key=idempotency_key,
        )


def ledger_row_counts() -> dict[str, int]:
    """Rows in the ledger's tables and the audit log and outbox: compare before and after to prove a
    refused post wrote nothing."""
    return {
        model._meta.label_lower: model._default_manager.count()
        for model in (Account, JournalEntry, Posting, AuditLogEntry, Event)
    }
