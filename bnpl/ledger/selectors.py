"""Reads of the ledger. Balances are signed minor units, debit positive, credit negative (so a
liability or income account normally shows a negative balance)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Sum

from bnpl.ledger.models import AccountCode, Posting

if TYPE_CHECKING:
    from consumers.models import Consumer
    from merchants.models import Merchant


def account_balance(
    *,
    code: AccountCode | str,
    currency: str,
    livemode: bool,
    merchant: Merchant | None = None,
    consumer: Consumer | None = None,
) -> int:
    """The balance of the one account with exactly these dimensions (``None``: the account without
    that dimension); 0 if it has never been posted to."""
    total = Posting.objects.filter(
        account__code=code,
        account__currency=currency.upper(),
        account__livemode=livemode,
        account__merchant=merchant,
        account__consumer=consumer,
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def balances(*, currency: str, livemode: bool, merchant: Merchant | None = None) -> dict[str, int]:
    """Balance per account code, summed over every account in this currency and mode, or only over
    ``merchant``'s accounts when given. Codes never posted to are left out. With no merchant the
    values sum to zero (every entry balances)."""
    postings = Posting.objects.filter(account__currency=currency.upper(), account__livemode=livemode)
    if merchant is not None:
        postings = postings.filter(account__merchant=merchant)
    rows = postings.values("account__code").annotate(total=Sum("amount")).order_by("account__code")
    return {row["account__code"]: int(row["total"]) for row in rows}
