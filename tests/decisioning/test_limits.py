"""Spending limits and outcomes beyond yes/no: a limit per product that falls with risk and is
capped by what the bank cash flow can afford, an approval for less with the rest as a down payment
(which the shopper accepts at checkout), a decline for the limit, and the bank-data policy rule."""

from __future__ import annotations

import datetime as dt
import html
import itertools
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout import sessions as checkout_sessions
from bnpl.checkout.models import CheckoutSession
from bnpl.checkout.step_up import StepUpRequiredError, checkout_card_add, checkout_step_up_send
from bnpl.core import clock
from bnpl.payments.models import Charge
from bnpl.payments.services import payment_method_add
from bnpl.plans.models import PaymentProduct
from bnpl.tenancy.services import merchant_consumer_ensure
from consumers.models import Consumer, SandboxMessage
from consumers.selectors import declined_decision_list
from consumers.services import Requester
from decisioning import bank_data, limits
from decisioning.bank_data import IncomingTransaction
from decisioning.bureau import BureauReport
from decisioning.cashflow import month_index, month_start
from decisioning.models import CreditDecision, ModelVersion
from tests.bnpl.checkout.factories import make_checkout_session, product_for
from tests.bnpl.checkout.test_hosted_flow import _start
from tests.conftest import ApiClient
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


class CleanBureau:
    """A spotless file for everyone (the hosted flow's shopper has a fixed email)."""

    is_sandbox = True  # made-up files: fit for test mode

    def report(self, *, consumer_id: str, email: str | None) -> BureauReport:
        return BureauReport(0.05, 0, 0, 0, 0.15, 7500.0, 6, 1)


class ThinBureau:
    is_sandbox = True

    def report(self, *, consumer_id: str, email: str | None) -> BureauReport:
        return BureauReport(None, None, None, None, None, None, None, None)


# --- The pure rules -----------------------------------------------------------------------------


def test_the_risk_share_is_full_up_to_half_the_cutoff_then_falls_to_a_quarter() -> None:
    assert limits.risk_share(probability=0.0, cutoff=0.2) == 1.0
    assert limits.risk_share(probability=0.1, cutoff=0.2) == 1.0
    assert limits.risk_share(probability=0.15, cutoff=0.2) == pytest.approx(0.625)
    assert limits.risk_share(probability=0.2, cutoff=0.2) == 0.25
    shares = [limits.risk_share(probability=p / 1000, cutoff=0.2) for p in range(0, 201)]
    assert all(later <= earlier for earlier, later in itertools.pairwise(shares))  # never rises with risk


def test_the_limit_is_the_smallest_cap_rounded_down_to_a_whole_unit() -> None:
    common: dict[str, Any] = {"cutoff": 0.2, "affordability_share": 0.5, "months": 2, "unit": 100}
    by_risk = limits.spending_limit(product_limit=100_000, probability=0.15, free_cash_flow=None, **common)
    assert by_risk == limits.Limit(amount=62_500, binding="risk")
    by_cash = limits.spending_limit(product_limit=100_000, probability=0.05, free_cash_flow=12_345, **common)
    assert by_cash == limits.Limit(amount=12_300, binding="affordability")  # 12,345 x 0.5 x 2 = 12,345 -> 123.00
    spending = limits.spending_limit(product_limit=100_000, probability=0.05, free_cash_flow=-5_000, **common)
    assert spending == limits.Limit(amount=0, binding="affordability")  # spends more than comes in


def test_the_counteroffer_asks_the_rest_down_within_the_share_or_declines() -> None:
    def offer(amount: int, limit: int) -> limits.Counteroffer | None:
        return limits.counteroffer(amount=amount, limit=limit, product_min_amount=1000, max_down_payment_share=0.5)

    assert offer(10_000, 10_000) == limits.Counteroffer(approved_amount=10_000, down_payment_amount=0)
    assert offer(10_000, 6_000) == limits.Counteroffer(approved_amount=6_000, down_payment_amount=4_000)
    assert offer(10_000, 5_000) == limits.Counteroffer(approved_amount=5_000, down_payment_amount=5_000)
    assert offer(10_000, 4_900) is None  # more than half down
    assert offer(1_500, 900) is None  # what is left to lend is below the product's minimum


def test_repayment_months_follow_the_product() -> None:
    assert limits.repayment_months(kind="pay_in_4", installment_count=4, interval_days=14) == 2
    assert limits.repayment_months(kind="pay_in_30", installment_count=1, interval_days=30) == 1
    assert limits.repayment_months(kind="financing", installment_count=12, interval_days=0) == 12


# --- In the decision ----------------------------------------------------------------------------


def _pay_in_4(tenant: Tenant, *, spending_limit: int | None) -> PaymentProduct:
    product = product_for(tenant.merchant, False)
    product.spending_limit_amount = spending_limit
    product.save()
    return product


def _confirm(
    tenant: Tenant, consumer: Consumer, product: PaymentProduct, amount: int = 10_000, accept: int = 0
) -> tuple[checkout_confirmation.ConfirmResult, CheckoutSession]:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=amount)
    card = checkout_card_add(
        session=session, consumer=consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    result = checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product, payment_method=card, accepted_down_payment=accept
    )
    return result, session


def test_an_order_above_the_limit_is_approved_for_less_with_the_rest_down(
    tenant: Tenant, champion: ModelVersion
) -> None:
    product = _pay_in_4(tenant, spending_limit=6_000)
    consumer = make_verified_consumer(email="ada+clean@example.com")

    offered, session = _confirm(tenant, consumer, product)

    decision = CreditDecision.objects.get(consumer=consumer)
    assert decision.score is not None and decision.score <= champion.cutoff_probability / 2  # full risk share
    assert (decision.outcome, decision.spending_limit, decision.approved_amount, decision.down_payment_amount) == (
        "approved_with_down_payment",
        6_000,
        6_000,
        4_000,
    )
    assert decision.reasons[0]["code"] == "credit_limit"  # a counteroffer states why, as a decline does
    assert offered.order is None and offered.counteroffer is not None
    assert [payment.amount for payment in offered.counteroffer.schedule] == [5_500, 1_500, 1_500, 1_500]
    assert not Charge.objects.exists()  # nothing is taken until the shopper accepts

    session.refresh_from_db()
    assert session.status == CheckoutSession.Status.OPEN
    card = consumer.payment_methods.get()  # type: ignore[attr-defined]
    accepted = checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product, payment_method=card, accepted_down_payment=4_000
    )

    assert accepted.order is not None and accepted.order.authorized_amount == 10_000
    plan = accepted.order.plan
    assert [row.amount for row in plan.installments.order_by("sequence")] == [5_500, 1_500, 1_500, 1_500]
    assert Charge.objects.get(kind="payment").amount == 5_500  # the down payment with the first installment


def test_accepting_another_down_payment_than_the_decision_asks_shows_the_offer_again(
    tenant: Tenant, champion: ModelVersion
) -> None:
    product = _pay_in_4(tenant, spending_limit=6_000)
    consumer = make_verified_consumer(email="ada+clean@example.com")

    result, _ = _confirm(tenant, consumer, product, accept=3_000)

    assert result.order is None and result.counteroffer is not None
    assert result.decision is not None and result.decision.down_payment_amount == 4_000


def test_an_order_far_above_the_limit_is_declined_for_the_limit(tenant: Tenant, champion: ModelVersion) -> None:
    product = _pay_in_4(tenant, spending_limit=3_000)
    consumer = make_verified_consumer(email="ada+clean@example.com")

    result, session = _confirm(tenant, consumer, product)

    decision = CreditDecision.objects.get(consumer=consumer)
    assert (decision.outcome, decision.approved_amount, decision.down_payment_amount) == ("declined", None, 0)
    assert decision.reasons[0]["code"] == "credit_limit"
    assert result.order is None and result.counteroffer is None
    session.refresh_from_db()
    assert session.status == CheckoutSession.Status.DECLINED


def test_within_the_limit_the_whole_order_is_approved(tenant: Tenant, champion: ModelVersion) -> None:
    product = _pay_in_4(tenant, spending_limit=None)  # the product's maximum
    consumer = make_verified_consumer(email="ada+clean@example.com")

    result, _ = _confirm(tenant, consumer, product)

    decision = CreditDecision.objects.get(consumer=consumer)
    assert (decision.outcome, decision.approved_amount, decision.down_payment_amount) == ("approved", 10_000, 0)
    assert decision.spending_limit is not None and decision.spending_limit >= 10_000
    assert decision.reasons == [] and result.order is not None


# --- With bank data ------------------------------------------------------------------------------


def _bank_history(tenant: Tenant, consumer: Consumer, monthly: list[tuple[int, int]], nsf_fees: int = 0) -> None:
    """Income and spending for the last len(monthly) months, through the real stream."""
    link = merchant_consumer_ensure(merchant=tenant.merchant, livemode=False, consumer=consumer)
    bank_data.consent_record(link=link, reference="c-1", granted_at=clock.now() - dt.timedelta(days=1))
    today = clock.today()
    transactions = []
    for back, (income, spending) in enumerate(reversed(monthly)):
        month = month_start(month_index(today) - back)
        day = min(month + dt.timedelta(days=1), today)
        transactions += [
            IncomingTransaction(f"in-{back}", "acc", day, income, "USD", "income", 500_000 + income),
            IncomingTransaction(f"out-{back}", "acc", day, -spending, "USD", "other", 500_000 + income - spending),
        ]
    transactions += [
        IncomingTransaction(f"nsf-{index}", "acc", today, -3_500, "USD", "nsf_fee") for index in range(nsf_fees)
    ]
    bank_data.transactions_ingest(link=link, transactions=transactions)


def test_bank_income_fills_a_thin_file_and_shows_in_the_decision(
    tenant: Tenant, champion: ModelVersion, settings: Any
) -> None:
    settings.BUREAU_PROVIDER_TEST = "tests.decisioning.test_limits.ThinBureau"
    consumer = make_verified_consumer(email="ada+thin@example.com")
    _bank_history(tenant, consumer, [(420_000, 300_000), (420_000, 310_000), (420_000, 290_000)])

    _confirm(tenant, consumer, _pay_in_4(tenant, spending_limit=None))

    decision = CreditDecision.objects.get(consumer=consumer)
    assert decision.model_inputs["MonthlyIncome"] == 4200.0  # verified by the bank, in major units
    assert decision.model_inputs["DebtRatio"] is not None  # the bank's repayments over income, plus this order
    assert decision.cash_flow["monthly_income"] == 420_000
    assert decision.cash_flow["free_cash_flow"] == 120_000


def test_a_thin_cash_flow_caps_the_limit_and_says_so(tenant: Tenant, champion: ModelVersion, settings: Any) -> None:
    settings.BUREAU_PROVIDER_TEST = "tests.decisioning.test_limits.CleanBureau"
    consumer = make_verified_consumer(email="ada@example.com")
    # 60.00 left a month: 60.00 x 0.5 x 2 months = 60.00 of limit; asks for 100.00 -> 40.00 down
    _bank_history(tenant, consumer, [(300_000, 294_000), (300_000, 294_000), (300_000, 294_000)])

    result, _ = _confirm(tenant, consumer, _pay_in_4(tenant, spending_limit=None), amount=10_000)

    decision = CreditDecision.objects.get(consumer=consumer)
    assert (decision.outcome, decision.spending_limit, decision.down_payment_amount) == (
        "approved_with_down_payment",
        6_000,
        4_000,
    )
    assert decision.reasons[0]["code"] == "cash_flow"
    assert result.counteroffer is not None


def test_returned_payments_in_the_bank_data_decline_before_the_model(tenant: Tenant, settings: Any) -> None:
    settings.CREDIT_BANK_EVENTS_LIMIT = 3
    consumer = make_verified_consumer(email="ada+clean@example.com")
    _bank_history(tenant, consumer, [(420_000, 300_000)], nsf_fees=3)

    result, _ = _confirm(tenant, consumer, _pay_in_4(tenant, spending_limit=None))

    decision = CreditDecision.objects.get(consumer=consumer)
    assert decision.outcome == "declined"
    assert [reason["code"] for reason in decision.reasons] == ["bank_account_events"]
    assert decision.cash_flow["nsf_overdraft_events"] == 3
    assert result.order is None


# --- At the hosted checkout ---------------------------------------------------------------------


def test_the_shopper_sees_the_counteroffer_and_accepts_it(
    tenant: Tenant, champion: ModelVersion, settings: Any, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    settings.BUREAU_PROVIDER_TEST = "tests.decisioning.test_limits.CleanBureau"
    _pay_in_4(tenant, spending_limit=8_000)
    api, shopper = ApiClient(tenant.test_key), Client()
    session = _start(api, shopper, django_capture_on_commit_callbacks)  # 120.00
    path = urlsplit(session["url"]).path
    page = shopper.get(path).content.decode()
    # Prequalified before any card: the counteroffer is shown plainly in its option, with its reasons.
    product = re.search(r'name="product" value="(prod_\w+)"', page)
    assert product
    assert "Approved for $80.00: $40.00 more today as a down payment" in page, page[-3000:]
    assert "$60.00 today" in page  # 40.00 down + the first of 4 x 20.00
    assert 'class="counteroffer-reasons"' in page
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    assert form[f"accept_down_payment_{product.group(1)}"] == "4000"

    accepted = shopper.post(
        f"{path}/confirm",
        {
            **form,
            "product": product.group(1),
            "card_number": "4242 4242 4242 4242",
            "exp_month": "12",
            "exp_year": "2035",
            "cvc": "123",
        },
    )

    assert (accepted.status_code, accepted["Location"]) == (302, f"{path}/approved")
    approval = shopper.get(accepted["Location"]).content.decode()
    continue_url = html.unescape(re.search(r'id="continue" href="([^"]+)"', approval).group(1))  # type: ignore[union-attr]
    order_id = parse_qs(urlsplit(continue_url).query)["order"][0]
    order = api.get(f"/api/v1/orders/{order_id}").json()
    plan = api.get(f"/api/v1/plans/{order['plan']}").json()
    assert [row["amount"] for row in plan["installments"]] == [6_000, 2_000, 2_000, 2_000]
    assert order["consumer"].startswith("cus_")


def test_a_counteroffer_walked_away_from_gets_an_adverse_action_notice(tenant: Tenant, champion: ModelVersion) -> None:
    product = _pay_in_4(tenant, spending_limit=6_000)
    consumer = make_verified_consumer(email="ada+clean@example.com")
    _, session = _confirm(tenant, consumer, product)
    assert list(declined_decision_list(consumer=consumer)) == []  # still deciding: no notice yet

    checkout_sessions.checkout_session_cancel(session=session)

    notices = list(declined_decision_list(consumer=consumer))
    assert [notice.outcome for notice in notices] == ["approved_with_down_payment"]
    assert notices[0].reasons[0]["code"] == "credit_limit"


def test_after_a_step_up_the_counteroffer_is_accepted_without_a_second_code(
    tenant: Tenant, champion: ModelVersion, settings: Any, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    settings.BUREAU_PROVIDER_TEST = "tests.decisioning.test_limits.CleanBureau"
    product = _pay_in_4(tenant, spending_limit=6_000)
    consumer = make_verified_consumer(email="ada+clean@example.com")
    saved = payment_method_add(
        consumer=consumer, livemode=False, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )
    shopper = Requester(session_token="the-shoppers-checkout-session", address="198.51.100.7")
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)
    with pytest.raises(StepUpRequiredError):  # saved on the account, never used at this merchant
        checkout_confirmation.checkout_confirm(
            session=session, consumer=consumer, product=product, payment_method=saved
        )
    with django_capture_on_commit_callbacks(execute=True):
        checkout_step_up_send(session=session, consumer=consumer, payment_method=saved, requester=shopper)
    code = re.search(r"code is (\d{6})", SandboxMessage.objects.filter(destination=consumer.email).latest("id").body)
    assert code

    offered = checkout_confirmation.checkout_confirm(
        session=session,
        consumer=consumer,
        product=product,
        payment_method=saved,
        step_up_code=code.group(1),
        requester=shopper,
    )
    accepted = checkout_confirmation.checkout_confirm(
        session=session, consumer=consumer, product=product, payment_method=saved, accepted_down_payment=4_000
    )

    assert offered.counteroffer is not None and offered.order is None
    assert accepted.order is not None
    assert Charge.objects.get(kind="payment").payment_method == saved
