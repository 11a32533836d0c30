"""Settlements: captured - fees - refunds + fees back (+ what rolled in) per merchant and currency,
paid out once through the live gateway, negative nets carried forward and never paid, test-mode
batches recorded as test payouts that reach no gateway, a report per payout (API and CSV), a
`settlement.paid` event, and the ledger balanced."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from bnpl.checkout import orders as checkout_orders
from bnpl.core import clock
from bnpl.core.models import Event
from bnpl.ledger.models import AccountCode
from bnpl.ledger.selectors import account_balance
from bnpl.payments.gateways import GatewayResult, SandboxGateway
from bnpl.payments.models import SandboxGatewayCharge
from merchants.models import Settlement
from merchants.settlements import settlement_create, settlements_run
from merchants.views.base import LIVEMODE_SESSION_KEY
from tests.bnpl.checkout.factories import make_authorized_order
from tests.conftest import ApiClient
from tests.helpers import ledger_ok, verified_client
from tests.merchants.factories import Tenant, make_member
from tests.performance.budget import TIMED_QUERIES

pytestmark = pytest.mark.django_db


def _soon() -> dt.datetime:
    return clock.now() + dt.timedelta(seconds=1)


def _captured(tenant: Tenant, amount: int, *, livemode: bool = True) -> object:
    order = make_authorized_order(merchant=tenant.merchant, livemode=livemode, amount=amount)
    checkout_orders.order_capture(order=order, amount=amount)
    return order


def test_a_batch_nets_captures_fees_and_refunds_and_is_paid_once(tenant: Tenant) -> None:
    first = _captured(tenant, 10_000)
    _captured(tenant, 20_000)
    refund = checkout_orders.order_refund(order=first, amount=4_000)  # type: ignore[arg-type]

    run = settlements_run(cutoff=_soon())
    again = settlements_run(cutoff=_soon())

    settlement = Settlement.objects.get()
    fees = settlement.fee_amount
    assert fees > 0 and settlement.fee_refunded_amount == refund.merchant_fee_refunded_amount
    assert (settlement.captured_amount, settlement.refunded_amount) == (30_000, 4_000)
    assert settlement.net_amount == 30_000 - fees - 4_000 + refund.merchant_fee_refunded_amount
    assert (settlement.status, run.paid, run.paid_amount) == ("paid", 1, settlement.net_amount)
    assert (again.batches, again.paid) == (0, 0)
    payouts = SandboxGatewayCharge.objects.filter(kind="payout")
    assert [(row.amount, row.succeeded) for row in payouts] == [(settlement.net_amount, True)]
    assert Event.objects.filter(type="settlement.paid", object_id=settlement.public_id).count() == 1
    assert (
        account_balance(code=AccountCode.MERCHANT_PAYABLE, currency="USD", livemode=True, merchant=tenant.merchant) == 0
    )
    assert ledger_ok()


def test_a_negative_batch_is_carried_forward_never_paid_then_netted(tenant: Tenant) -> None:
    order = _captured(tenant, 10_000)
    settlements_run(cutoff=_soon())  # paid
    checkout_orders.order_refund(order=order, amount=10_000)  # type: ignore[arg-type]

    settlements_run(cutoff=_soon())
    negative = Settlement.objects.order_by("-id").first()
    assert negative is not None and negative.status == "carried_forward" and negative.net_amount < 0
    assert SandboxGatewayCharge.objects.filter(kind="payout").count() == 1  # only the first batch

    _captured(tenant, 50_000)
    settlements_run(cutoff=_soon())
    latest = Settlement.objects.order_by("-id").first()
    assert latest is not None and latest.carried_in_amount == negative.net_amount
    assert latest.net_amount == 50_000 - latest.fee_amount + negative.net_amount
    assert latest.status == "paid"
    assert ledger_ok()


def test_a_batch_left_pending_by_a_crash_is_paid_once_by_the_next_run(tenant: Tenant) -> None:
    _captured(tenant, 10_000)
    pending = settlement_create(merchant_id=tenant.merchant.pk, livemode=True, currency="USD", cutoff=_soon())
    assert pending is not None and pending.status == "pending"  # ... and the run died here

    settlements_run(cutoff=_soon())
    settlements_run(cutoff=_soon())

    assert Settlement.objects.get().status == "paid"
    assert SandboxGatewayCharge.objects.filter(kind="payout").count() == 1


def test_a_batch_costs_the_same_queries_however_many_captures_and_refunds_it_holds(tenant: Tenant) -> None:
    _captured(tenant, 5_000)
    settlements_run(cutoff=_soon())  # the first payout opens the merchant's accounts; the next ones find them
    queries_by_size = {}
    for size in (1, 4):
        orders = [_captured(tenant, 10_000 + index) for index in range(size)]
        for order in orders:
            checkout_orders.order_refund(order=order, amount=1_000)  # type: ignore[arg-type]

        with CaptureQueriesContext(connection) as queries:
            run = settlements_run(cutoff=_soon())

        assert (run.batches, run.paid) == (1, 1)
        settlement = Settlement.objects.order_by("-id").first()
        assert settlement is not None and settlement.lines.count() == 2 * size
        assert settlement.captured_amount == sum(10_000 + index for index in range(size))
        assert settlement.refunded_amount == 1_000 * size
        # (reads cached for a while, the clock's offset and the webhook endpoints' modes, happen or
        # not depending on the time: the budget walk leaves out the same ones)
        queries_by_size[size] = sum(
            not any(read in query["sql"] for read in TIMED_QUERIES) for query in queries.captured_queries
        )

    assert queries_by_size[1] == queries_by_size[4], queries_by_size
    assert ledger_ok()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner statistics are PostgreSQL's")
def test_a_run_refreshes_the_planner_statistics_of_the_tables_it_claims_from(tenant: Tenant) -> None:
    """Autovacuum's last look at the captures most likely saw every one settled; planned on that, a
    day's claim joined each capture to all the merchant's orders (seconds at 100,000; the reason is
    at ``_statistics_refresh``)."""

    def analyses() -> dict[str, int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")  # the statistics views cache per transaction
            cursor.execute(
                "SELECT relname, analyze_count FROM pg_stat_user_tables"
                " WHERE relname IN ('checkout_capture', 'checkout_refund')"
            )
            return dict(cursor.fetchall())

    _captured(tenant, 5_000)
    before = analyses()
    settlements_run(cutoff=_soon())
    after = analyses()

    assert after == {table: before.get(table, 0) + 1 for table in ("checkout_capture", "checkout_refund")}


class PayoutTripwire(SandboxGateway):
    """The sandbox, except that a payout through it fails the test at once (whichever mode)."""

    def payout(self, *, destination: str, amount: int, currency: str, idempotency_key: str) -> GatewayResult:
        pytest.fail(f"a payout of {amount} reached the {'live' if self.livemode else 'test'} gateway")


def test_a_test_mode_batch_is_a_test_payout_that_reaches_no_gateway(tenant: Tenant, settings: Any) -> None:
    settings.PAYMENT_GATEWAY_TEST = settings.PAYMENT_GATEWAY_LIVE = f"{__name__}.PayoutTripwire"
    _captured(tenant, 10_000, livemode=False)

    run = settlements_run(cutoff=_soon())
    again = settlements_run(cutoff=_soon())

    settlement = Settlement.objects.get()
    assert (settlement.livemode, settlement.status, run.paid, again.paid) == (False, "paid", 1, 0)
    assert settlement.payout_reference == f"test_po_{settlement.public_id}" and settlement.is_test_payout
    assert not SandboxGatewayCharge.objects.filter(kind="payout").exists()
    assert ApiClient(tenant.test_key).get(f"/api/v1/settlements/{settlement.public_id}").json()["payout_reference"] == (
        f"test_po_{settlement.public_id}"
    )
    assert ledger_ok()

    client = _dashboard(tenant, livemode=False)
    listed = client.get("/merchant/settlements").content.decode()
    detail = client.get(f"/merchant/settlements/{settlement.public_id}").content.decode()
    assert "Test payout: no money moved" in listed and "Test payout: no money moved" in detail


def test_a_live_batch_is_never_called_a_test_payout(tenant: Tenant) -> None:
    _captured(tenant, 10_000)
    settlements_run(cutoff=_soon())
    settlement = Settlement.objects.get()

    assert settlement.livemode and not settlement.is_test_payout
    assert "Test payout" not in _dashboard(tenant, livemode=True).get("/merchant/settlements").content.decode()


def _dashboard(tenant: Tenant, *, livemode: bool) -> Client:
    client = Client()
    verified_client(make_member(merchant=tenant.merchant), client=client)
    session = client.session
    session[LIVEMODE_SESSION_KEY] = livemode
    session.save()
    return client


def test_the_report_lists_every_line_and_adds_up(tenant: Tenant) -> None:
    order = _captured(tenant, 10_000, livemode=False)
    checkout_orders.order_refund(order=order, amount=2_500)  # type: ignore[arg-type]
    settlements_run(cutoff=_soon())
    settlement = Settlement.objects.get()
    api = ApiClient(tenant.test_key)

    listed = api.get("/api/v1/settlements").json()["results"]
    detail = api.get(f"/api/v1/settlements/{settlement.public_id}").json()
    report = api.get(f"/api/v1/settlements/{settlement.public_id}/report.csv")

    assert [row["id"] for row in listed] == [settlement.public_id]
    assert [line["kind"] for line in detail["lines"]] == ["capture", "refund"]
    assert sum(line["net_amount"] for line in detail["lines"]) == detail["net_amount"]
    rows = list(csv.DictReader(io.StringIO(report.content.decode())))
    assert report["Content-Type"].startswith("text/csv")
    assert sum(int(row["net_amount"]) for row in rows if row["kind"] in {"capture", "refund"}) == settlement.net_amount
    assert rows[-1] == {**rows[-1], "kind": "net", "net_amount": str(settlement.net_amount)}


def test_a_refunds_reason_is_in_the_reason_column_and_a_captures_reference_stays_its_own(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    capture = checkout_orders.order_capture(order=order, amount=10_000, merchant_reference="shipment 77")
    refund = checkout_orders.order_refund(order=order, amount=2_500, reason="returned socks")
    settlements_run(cutoff=_soon())
    settlement = Settlement.objects.get()
    api = ApiClient(tenant.test_key)

    lines = api.get(f"/api/v1/settlements/{settlement.public_id}").json()["lines"]
    report = api.get(f"/api/v1/settlements/{settlement.public_id}/report.csv").content.decode()
    page = _dashboard(tenant, livemode=False).get(f"/merchant/settlements/{settlement.public_id}").content.decode()

    by_kind = {line["kind"]: line for line in lines}
    assert (by_kind["capture"]["source_id"], by_kind["capture"]["merchant_reference"]) == (
        capture.public_id,
        "shipment 77",
    )
    assert by_kind["capture"]["reason"] == ""
    assert (by_kind["refund"]["source_id"], by_kind["refund"]["reason"]) == (refund.public_id, "returned socks")
    assert by_kind["refund"]["merchant_reference"] == ""
    header, *rows = list(csv.reader(io.StringIO(report)))
    assert header == [
        "kind",
        "source",
        "order",
        "merchant_reference",
        "amount",
        "fee_amount",
        "net_amount",
        "occurred_at",
        "reason",
    ]
    table = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert (table["capture"]["merchant_reference"], table["capture"]["reason"]) == ("shipment 77", "")
    assert (table["refund"]["merchant_reference"], table["refund"]["reason"]) == ("", "returned socks")
    assert table["refund"]["amount"] == "-2500"
    assert (table["net"]["net_amount"], table["net"]["reason"]) == (str(settlement.net_amount), "")
    assert '<th scope="col">Reason</th>' in page and "<td>returned socks</td>" in page


def test_refund_lines_written_before_the_reason_column_move_their_reason_into_it(tenant: Tenant) -> None:
    import importlib

    from django.apps import apps

    from merchants.models import SettlementLine

    migration = importlib.import_module("merchants.migrations.0008_settlement_line_reason")
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    checkout_orders.order_capture(order=order, amount=10_000, merchant_reference="shipment 77")
    checkout_orders.order_refund(order=order, amount=2_500, reason="returned socks")
    settlements_run(cutoff=_soon())
    SettlementLine.objects.filter(kind="refund").update(merchant_reference="returned socks", reason="")  # as written

    migration.move_refund_reasons(apps, None)

    assert sorted(SettlementLine.objects.values_list("kind", "merchant_reference", "reason")) == [
        ("capture", "shipment 77", ""),
        ("refund", "", "returned socks"),
    ]


def _command(*arguments: str) -> str:
    out = io.StringIO()
    call_command("run_settlements", *arguments, stdout=out)
    return out.getvalue()


def test_the_command_batches_before_midnight_by_default_and_up_to_now_when_asked(tenant: Tenant) -> None:
    _captured(tenant, 10_000)

    assert _command().startswith("0 batch(es)")  # captured today: tomorrow's batch
    assert _command("--cutoff", "now").startswith("1 batch(es): 1 paid")
    assert Settlement.objects.get().captured_amount == 10_000
    assert _command("--cutoff", "now").startswith("0 batch(es)")  # the same captures are never batched twice


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tomorrow", "not an ISO 8601 time"),
        ("2026-12-06T12:00:00", "not an ISO 8601 time"),  # no offset: which midnight?
        ("2026-13-45T12:00:00+00:00", "not an ISO 8601 time"),
        ("2999-01-01T00:00:00+00:00", "in the future"),
    ],
)
def test_the_command_refuses_a_cutoff_it_cannot_honour_and_batches_nothing(
    tenant: Tenant, value: str, message: str
) -> None:
    _captured(tenant, 10_000)
    with pytest.raises(CommandError, match=message):
        _command("--cutoff", value)
    assert not Settlement.objects.exists()
