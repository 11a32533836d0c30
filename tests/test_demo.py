"""`make demo` seeds with `seed_demo`; every page it prints must answer 200 with the printed logins.
The demo merchant's history (``merchants/management/demo_history.py``) is checked once, in full:
its figures against the ledger, a second run adding nothing, the beat afterwards finding nothing
left to do. The other tests seed without it (``--no-history``)."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.test import Client

from bnpl.checkout.models import Capture, CheckoutSession, Dispute, Order, Refund
from bnpl.collections.lateness import plans_assess_lateness
from bnpl.collections.services import collections_run
from bnpl.core.models import AuditLogEntry, Event
from bnpl.core.money import format_amount
from bnpl.ledger.models import AccountCode, JournalEntry, Posting
from bnpl.plans.models import Plan
from consumers.models import Consumer
from decisioning.models import CreditDecision
from merchants import dashboard
from merchants.models import Membership, Merchant, Settlement
from merchants.settlements import settlements_run
from tests.decisioning.conftest import champion, credit_model  # noqa: F401  # the history's credit model
from tests.helpers import ledger_ok, totp_code, verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_output(settings, tmp_path) -> str:  # type: ignore[no-untyped-def]
    settings.VAR_DIR = tmp_path
    out = StringIO()
    call_command("seed_demo", "--no-history", stdout=out)
    return out.getvalue()


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_the_seed_is_repeatable_and_prints_the_same_key(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.VAR_DIR = tmp_path
    first, second = StringIO(), StringIO()
    call_command("seed_demo", "--no-history", stdout=first)
    call_command("seed_demo", "--no-history", stdout=second)
    key = re.search(r"sk_test_\w+", first.getvalue())
    assert key and key.group(0) in second.getvalue()
    partner_key = re.search(r"Data partner key\s+(dpk_test_\w+)", first.getvalue())
    assert partner_key and partner_key.group(1) in second.getvalue()
    consents = Client().get("/api/partners/v1/consents", headers={"Authorization": f"Bearer {partner_key.group(1)}"})
    assert consents.status_code == 200 and consents.json()["results"] == []
    assert Merchant.objects.count() == 1
    assert Merchant.objects.get().status == Merchant.Status.ACTIVE


def test_every_printed_url_answers_200(demo_output: str) -> None:
    urls = re.findall(r"https?://\S+", demo_output)
    assert len(urls) >= 6
    anonymous = Client()
    for url in urls:
        path = _path(url)
        if (
            path.startswith("/merchant/")
            or path == "/account/"
            or path.startswith("/admin/")
            or path == "/api/v1/account"
        ):
            continue  # need a login; checked below
        assert anonymous.get(path).status_code == 200, path


def test_the_printed_logins_open_the_dashboard_the_admin_and_the_api(demo_output: str) -> None:
    """Through the sign-in pages, with the second factor the demo keeps on: the owner types the code
    an authenticator app shows for the printed key; the operator uses a printed backup code."""
    owner = re.search(r"Merchant dashboard\s+\S+\s+(\S+) / (\S+)\s+authenticator key (\S+)", demo_output)
    operator = re.search(
        r"Admin \(operators\)\s+\S+\s+(\S+) / (\S+)\s+authenticator key (\S+)\s+backup codes (\S+)", demo_output
    )
    key = re.search(r"Test secret key\s+(\S+)", demo_output)
    assert owner and operator and key

    merchant_client = Client()
    password_step = merchant_client.post("/merchant/login", {"username": owner.group(1), "password": owner.group(2)})
    assert password_step["Location"].startswith("/merchant/login/verify")
    code_step = merchant_client.post(password_step["Location"], {"token": totp_code(owner.group(3))})
    assert code_step.status_code == 302 and code_step["Location"] == "/merchant/"
    dashboard = merchant_client.get("/merchant/")
    assert dashboard.status_code == 200 and b"Demo Outfitters" in dashboard.content

    admin_client = Client()
    signed_in = admin_client.post(
        "/admin/login/?next=/admin/",
        {"username": operator.group(1), "password": operator.group(2), "otp_token": operator.group(4)},
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/admin/"
    assert admin_client.get("/admin/").status_code == 200
    assert admin_client.get("/admin/core/clockstate/").status_code == 200

    account = Client().get("/api/v1/account", headers={"Authorization": f"Bearer {key.group(1)}"})
    assert account.status_code == 200 and account.json()["name"] == "Demo Outfitters"


def test_the_seed_keeps_each_authenticator_and_prints_only_unused_backup_codes(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.VAR_DIR = tmp_path
    first, second = StringIO(), StringIO()
    call_command("seed_demo", "--no-history", stdout=first)
    codes = re.search(
        r"Admin \(operators\)[^\n]*\n[^\n]*authenticator key (\S+)\s+backup codes ([^\n]+)", first.getvalue()
    )
    assert codes
    used = codes.group(2).split()[0]
    assert (
        Client()
        .post("/admin/login/", {"username": "operator@bnpl.test", "password": "operator-demo-1", "otp_token": used})
        .status_code
        == 302
    )

    call_command("seed_demo", "--no-history", stdout=second)

    again = re.search(
        r"Admin \(operators\)[^\n]*\n[^\n]*authenticator key (\S+)\s+backup codes ([^\n]+)", second.getvalue()
    )
    assert again and again.group(1) == codes.group(1)
    assert again.group(2).split() == codes.group(2).split()[1:]


def test_the_printed_consumer_can_sign_in_through_the_sandbox_inbox(
    demo_output: str, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    email = re.search(r"sign in as (\S+);", demo_output)
    assert email and Consumer.objects.filter(email=email.group(1)).exists()
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/account/sign-in", {"identifier": email.group(1)}).status_code == 302
    inbox = client.get("/sandbox/inbox", {"to": email.group(1)}).content.decode()
    code = re.search(r"code is (\d{6})", inbox)
    assert code
    assert client.post("/account/verify", {"code": code.group(1)}).status_code == 302
    portal = client.get("/account/")
    assert portal.status_code == 200 and email.group(1) in portal.content.decode()


def _ledger_sum(merchant: Merchant, entry_type: str, account: str, period: dashboard.Period) -> int:
    total = Posting.objects.filter(
        entry__entry_type=entry_type,
        entry__merchant=merchant,
        entry__livemode=False,
        entry__currency="USD",
        entry__created_at__gte=period.start_at,
        entry__created_at__lt=period.end_at,
        account__code=account,
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)


def _counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (CheckoutSession, Order, Capture, Refund, Dispute, Settlement, JournalEntry, AuditLogEntry, Event)
    }


@pytest.mark.slow
@pytest.mark.usefixtures("champion")
def test_the_demo_merchant_has_a_history_that_agrees_with_the_ledger(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Ninety days and more of orders lived through the services on the sandbox clock: the home
    page's figures are the ledger's sums, a second seed adds nothing, and the beat that runs next
    finds the history's collections, late fees and settlements already done."""
    settings.VAR_DIR = tmp_path
    first = StringIO()
    call_command("seed_demo", stdout=first)
    assert "Seeded" in first.getvalue() and "days of history" in first.getvalue()
    assert ledger_ok()
    merchant = Merchant.objects.get()
    orders = Order.objects.filter(merchant=merchant, livemode=False)
    assert orders.count() >= 300  # hundreds of orders
    assert (
        orders.filter(status=Order.Status.PART_CAPTURED).exists()
        or Capture.objects.filter(merchant_reference__endswith="-2").exists()
    )  # shipped in two parts
    assert Refund.objects.filter(merchant=merchant).count() >= 20
    assert Dispute.objects.filter(order__merchant=merchant).count() >= 2
    assert Dispute.objects.filter(order__merchant=merchant, status=Dispute.Status.NEEDS_RESPONSE).exists()
    standings = set(Plan.objects.filter(order__merchant=merchant).values_list("standing", flat=True))
    assert {Plan.Standing.CURRENT, Plan.Standing.CHARGED_OFF} <= standings
    assert standings & {Plan.Standing.LATE, Plan.Standing.DELINQUENT}
    paid = Settlement.objects.filter(merchant=merchant, livemode=False, status=Settlement.Status.PAID)
    assert paid.count() >= 80  # daily payouts
    assert CheckoutSession.objects.filter(merchant=merchant, status=CheckoutSession.Status.DECLINED).exists()
    referral = CreditDecision.objects.get(outcome=CreditDecision.Outcome.REFERRED, review_status="")
    assert referral.public_id in first.getvalue()
    # every row is a service's: each order and capture has its audit row and its event
    assert AuditLogEntry.objects.filter(action="order.captured").count() == Capture.objects.count()
    assert Event.objects.filter(type="order.authorized").count() == Order.objects.count()

    # the home page's figures over the last 90 days are the journal's sums
    period = dashboard.period_for(choice="90")
    figures = dashboard.figures(merchant=merchant, livemode=False, currency="USD", period=period)
    assert figures.order_count >= 300 and figures.refund_count and figures.capture_count
    assert figures.captured_amount == -(
        _ledger_sum(merchant, "order.captured", AccountCode.MERCHANT_PAYABLE, period)
        + _ledger_sum(merchant, "order.captured", AccountCode.MERCHANT_FEE_REVENUE, period)
    )
    assert figures.refunded_amount == -_ledger_sum(merchant, "order.refunded", AccountCode.CONSUMER_RECEIVABLE, period)
    assert figures.authorized_amount == -_ledger_sum(
        merchant, "order.authorized", AccountCode.AUTHORIZED_PENDING, period
    )
    captured_net = sum(c.amount - c.merchant_fee_amount for c in Capture.objects.filter(merchant=merchant))
    refunded_net = sum(r.amount - r.merchant_fee_refunded_amount for r in Refund.objects.filter(merchant=merchant))
    assert figures.owed_amount == captured_net - refunded_net - sum(s.net_amount for s in paid) > 0
    client = Client()
    verified_client(Membership.objects.get(merchant=merchant, role=Membership.Role.OWNER).user, client=client)
    page = client.get("/merchant/", {"period": "90"}).content.decode()
    assert f'<dd id="kpi-sales">{format_amount(figures.captured_amount, "USD")}</dd>' in page

    # the beat, right after: nothing collected, assessed or settled twice
    before = _counts()
    assert collections_run().claimed == 0
    assessed = plans_assess_lateness()
    assert (assessed.fees, assessed.standing_changes) == (0, 0)
    assert settlements_run().batches == 0
    assert _counts() == before

    # and a second seed adds nothing
    second = StringIO()
    call_command("seed_demo", stdout=second)
    assert "Seeded" not in second.getvalue()
    assert _counts() == before
