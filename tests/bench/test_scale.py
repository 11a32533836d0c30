"""bench/scale.py's generator and its curve fit: copies of service-made plans keep every reference
and the ledger's balance; the growth exponent is the slope it claims to be. No timings here."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum

from bench.history import Group, copies_insert, dangling_references, high_water, stash
from bench.scale import exponent, meaning
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Capture
from bnpl.collections.services import collections_daily_work, due_installments
from bnpl.core import clock
from bnpl.core.services import clock_advance
from bnpl.ledger.models import JournalEntry, Posting
from bnpl.plans.models import Installment, Plan
from merchants.models import Merchant
from merchants.settlements import settlements_run
from tests.bnpl.checkout.factories import make_authorized_order
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import make_merchant

_emails = itertools.count()
TEMPLATE_PLANS = 4


def _plans(merchant: Merchant, plans: int, **product: object) -> None:
    for _ in range(plans):
        order = make_authorized_order(
            merchant=merchant,
            livemode=False,
            amount=60_000,
            consumer=make_verified_consumer(email=f"copy{next(_emails)}+clean@example.com"),
            **product,  # type: ignore[arg-type]
        )
        checkout_orders.order_capture(order=order, amount=order.authorized_amount)


def _lived(merchant: Merchant, plans: int, **product: object) -> None:
    """Captured, settled, second installment collected (14 days on)."""
    _plans(merchant, plans, **product)
    settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))
    clock_advance(by=dt.timedelta(days=14))
    collections_daily_work()


def _shared_accounts(merchant: Merchant) -> None:
    """The merchant's own and the lender's accounts (card clearing's first use is a collection),
    made before any group by a plan paid in full: shared by every copy, in no group."""
    _lived(merchant, 1, kind="pay_in_30")
    clock_advance(by=dt.timedelta(days=16))
    collections_daily_work()  # paid in full: nothing of it falls due again


@pytest.fixture
def template() -> tuple[Merchant, Group]:
    merchant = make_merchant(name="Copies")
    _shared_accounts(merchant)
    before = high_water()
    _lived(merchant, TEMPLATE_PLANS)
    return merchant, Group.between(before, high_water())


@pytest.mark.django_db
@pytest.mark.postgres
@pytest.mark.parametrize("plans", [200, 2000])
def test_copies_keep_every_reference_and_the_ledger_balanced(template: tuple[Merchant, Group], plans: int) -> None:
    # given a group of service-made plans
    merchant, group = template
    entries_before, postings_before = JournalEntry.objects.count(), Posting.objects.count()
    group_entries = group.ranges["ledger.journalentry"][1] - group.ranges["ledger.journalentry"][0]
    group_postings = group.ranges["ledger.posting"][1] - group.ranges["ledger.posting"][0]
    receivable = Posting.objects.filter(
        entry_id__gt=group.ranges["ledger.journalentry"][0], account__code="consumer_receivable"
    ).aggregate(total=Sum("amount"))["total"]
    copies = plans // TEMPLATE_PLANS - 1

    # when it is copied up to `plans` plans, dates moved back
    copies_insert(group, copies=copies, shifted=True)

    # then every foreign key finds its row and every entry balances
    assert dangling_references() == []
    output = StringIO()
    call_command("ledger_verify", stdout=output)
    entries, postings = entries_before + copies * group_entries, postings_before + copies * group_postings
    assert output.getvalue().strip().endswith(f"Ledger OK: {entries} entries, {postings} postings")
    assert Plan.objects.filter(merchant=merchant).count() == 1 + plans
    copied_receivable = Posting.objects.filter(
        entry_id__gt=group.ranges["ledger.journalentry"][0], account__code="consumer_receivable"
    ).aggregate(total=Sum("amount"))["total"]
    assert copied_receivable == receivable * (copies + 1)
    # each copy is a new consumer with accounts of its own, its plan's rows its own
    assert Plan.objects.filter(merchant=merchant).values("consumer").distinct().count() == 1 + plans
    assert Plan.objects.values("public_id").distinct().count() == Plan.objects.count()
    # a copy moved back in time keeps the order of its own events
    copied = Plan.objects.filter(merchant=merchant).order_by("-pk").first()
    assert copied is not None
    for installment in copied.installments.all():
        assert installment.due_date >= copied.created_at.date()


@pytest.mark.django_db
@pytest.mark.postgres
def test_a_stashed_day_is_copied_as_the_same_due_work_each_time() -> None:
    # given plans whose second installment falls due in 14 days, stashed out of the live tables
    merchant = make_merchant(name="Day")
    _shared_accounts(merchant)
    before = high_water()
    _plans(merchant, 2)
    group = Group.between(before, high_water())
    stash(group)
    assert Plan.objects.filter(merchant=merchant).count() == 1  # the one paid in full
    clock_advance(by=dt.timedelta(days=14))
    assert due_installments().count() == 0

    # when the day is copied 5 times, then twice more
    copies_insert(group, copies=5, shifted=False, source="scale_template")
    due_first = due_installments().count()
    unsettled_first = Capture.objects.filter(settlement__isnull=True).count()
    collections_daily_work()
    settlements_run(cutoff=clock.now() + dt.timedelta(seconds=1))
    copies_insert(group, copies=5, shifted=False, source="scale_template")

    # then each copying makes the same due work: 10 plans, one installment and one capture each
    assert (due_first, unsettled_first) == (10, 10)
    assert due_installments().count() == 10
    assert Capture.objects.filter(settlement__isnull=True).count() == 10
    paid = Installment.objects.filter(plan__merchant=merchant, plan__product__kind="pay_in_4", status="paid")
    assert paid.count() == 10 * 2 + 10
    assert dangling_references() == []
    call_command("ledger_verify", stdout=StringIO())
    with connection.cursor() as cursor:
        cursor.execute("DROP SCHEMA scale_template CASCADE")


def test_exponent_is_the_log_log_slope() -> None:
    sizes = [10_000, 100_000, 1_000_000]
    assert exponent(sizes, [0.5, 0.5, 0.5]) == pytest.approx(0.0)
    assert exponent(sizes, [1.0, 10.0, 100.0]) == pytest.approx(1.0)
    assert exponent(sizes, [2.0, 2.0 * math.sqrt(10), 20.0]) == pytest.approx(0.5)
    assert exponent(sizes, [1.0, 20.0, 600.0]) == pytest.approx(math.log(600) / math.log(100))  # least squares
    assert math.isnan(exponent([10_000], [1.0]))
    assert [meaning(b).split(":")[0] for b in (0.05, 0.3, 1.0, 1.3)] == ["flat", "slow growth", "linear", "superlinear"]
