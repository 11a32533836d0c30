"""Order management through the partner API: capture (partial, then the rest), void, refund (and how a
refund shrinks the plan), authorization expiry, plans with their history, payment products, and the
consumer paying the next installment. Every refusal writes nothing but the idempotency key that
replays it."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Order
from bnpl.core.errors import PaymentDeclinedError, StateError
from bnpl.core.models import Event
from bnpl.ledger.models import AccountCode, JournalEntry
from bnpl.ledger.selectors import account_balance
from bnpl.payments.models import Charge
from bnpl.payments.services import payment_method_add
from bnpl.plans.models import Installment, PaymentProduct, Plan, ProductKind, RefundPolicy
from bnpl.plans.services import product_update
from bnpl.servicing import services as servicing
from merchants import services as merchant_services
from merchants.models import ApiKey
from tests.bnpl.checkout.factories import make_authorized_order, product_for
from tests.conftest import ApiClient
from tests.helpers import row_counts
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

# A replayable refusal (409) stores its response under the request's Idempotency-Key: that row is all it writes.
ONLY_THE_IDEMPOTENCY_KEY = {"core.idempotencykey": 1}


def _order(tenant: Tenant, **options: Any) -> Order:
    return make_authorized_order(merchant=tenant.merchant, livemode=False, **options)


def _fresh(order: Order) -> Order:
    return Order.objects.get(pk=order.pk)


def _amounts(order: Order) -> tuple[str, int, int, int, int, int]:
    order = _fresh(order)
    return (
        order.status,
        order.authorized_amount,
        order.captured_amount,
        order.voided_amount,
        order.refunded_amount,
        order.merchant_fee_amount,
    )


def _installments(order: Order) -> list[tuple[int, int, str]]:
    """(sequence, amount, status) of every installment of the order's plan."""
    return list(
        Installment.objects.filter(plan__order=order).order_by("sequence").values_list("sequence", "amount", "status")
    )


def _changes(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {table: after[table] - before[table] for table in after if after[table] != before[table]}


def _balance(code: AccountCode, order: Order, *, merchant: bool = False, consumer: bool = False) -> int:
    return account_balance(
        code=code,
        currency="USD",
        livemode=False,
        merchant=order.merchant if merchant else None,
        consumer=order.consumer if consumer else None,
    )


def _ledger_ok() -> str:
    out = StringIO()
    call_command("ledger_verify", stdout=out)
    return out.getvalue()


def _refused(api: ApiClient, path: str, body: dict[str, Any], order: Order, status: int = 409) -> dict[str, Any]:
    """POST something that must be refused; nothing but the idempotency key may change."""
    before_rows, before_amounts, before_plan = row_counts(), _amounts(order), _installments(order)
    response = api.post(path, body)
    assert response.status_code == status, response.content
    assert _changes(before_rows, row_counts()) == ONLY_THE_IDEMPOTENCY_KEY
    assert (_amounts(order), _installments(order)) == (before_amounts, before_plan)
    error: dict[str, Any] = response.json()["error"]
    return error


# --- Capture --------------------------------------------------------------------------------------


def test_a_partial_capture_then_the_rest(tenant: Tenant) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
    path = f"/api/v1/orders/{order.public_id}/captures"

    first = api.post(path, {"amount": 6000, "merchant_reference": "shipment-1"})
    after_first = _amounts(order)
    rest = api.post(path, {"amount": 4000})

    assert first.status_code == 201, first.content
    # Pay in 4 keeps 4% of each capture, and 30 cents once, on the first.
    assert {key: first.json()[key] for key in ("amount", "merchant_fee_amount", "merchant_reference")} == {
        "amount": 6000,
        "merchant_fee_amount": 240 + 30,
        "merchant_reference": "shipment-1",
    }
    assert after_first == ("part_captured", 10000, 6000, 0, 0, 270)
    assert rest.status_code == 201, rest.content
    assert (rest.json()["amount"], rest.json()["merchant_fee_amount"]) == (4000, 160)
    assert _amounts(order) == ("captured", 10000, 10000, 0, 0, 430)
    body = api.get(f"/api/v1/orders/{order.public_id}").json()
    assert (body["status"], body["open_amount"], body["merchant_fee_amount"]) == ("captured", 0, 430)
    assert [capture["amount"] for capture in body["captures"]] == [6000, 4000]
    assert _balance(AccountCode.AUTHORIZED_PENDING, order, merchant=True) == 0
    assert _balance(AccountCode.MERCHANT_PAYABLE, order, merchant=True) == -(10000 - 430)
    assert _balance(AccountCode.MERCHANT_FEE_REVENUE, order, merchant=True) == -430
    assert Event.objects.filter(type="order.captured", object_id=order.public_id).count() == 2
    assert "Ledger OK" in _ledger_ok()


def test_the_fee_is_rounded_half_up_to_the_cent(tenant: Tenant) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)

    # 4% of 1013 is 40.52 -> 41 (+ 30 fixed); 4% of 1012 is 40.48 -> 40.
    first = api.post(f"/api/v1/orders/{order.public_id}/captures", {"amount": 1013}).json()
    second = api.post(f"/api/v1/orders/{order.public_id}/captures", {"amount": 1012}).json()

    assert (first["merchant_fee_amount"], second["merchant_fee_amount"]) == (71, 40)


def test_capturing_more_than_is_open_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
    checkout_orders.order_capture(order=order, amount=6000)
    entries = JournalEntry.objects.count()

    error = _refused(api, f"/api/v1/orders/{order.public_id}/captures", {"amount": 4001}, order)

    assert error == {
        "type": "invalid_request_error",
        "code": "amount_exceeds_open",
        "message": "Only 4000 is left to capture on this order.",
        "param": "amount",
    }
    assert _amounts(order) == ("part_captured", 10000, 6000, 0, 0, 270)
    assert JournalEntry.objects.count() == entries


@pytest.mark.parametrize("amount", [0, -5])
def test_a_capture_of_nothing_is_refused(tenant: Tenant, amount: int) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
    before = row_counts()

    response = api.post(f"/api/v1/orders/{order.public_id}/captures", {"amount": amount})

    assert response.status_code == 400
    assert response.json()["error"]["param"] == "amount"
    assert _changes(before, row_counts()) == {}


# --- Void -----------------------------------------------------------------------------------------


def test_voiding_the_rest_after_a_partial_capture(tenant: Tenant) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
    checkout_orders.order_capture(order=order, amount=6000)

    response = api.post(f"/api/v1/orders/{order.public_id}/void", {})

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["captured_amount"], body["voided_amount"], body["open_amount"]) == (
        "captured",
        6000,
        4000,
        0,
    )
    assert _amounts(order) == ("captured", 10000, 6000, 4000, 0, 270)
    # 4000 off the last installments first: the fourth goes, the third keeps 1000.
    assert _installments(order) == [
        (1, 2500, "paid"),
        (2, 2500, "scheduled"),
        (3, 1000, "scheduled"),
        (4, 0, "canceled"),
    ]
    assert not Charge.objects.filter(kind=Charge.Kind.REFUND).exists()  # nothing paid beyond what is owed
    assert _balance(AccountCode.AUTHORIZED_PENDING, order, merchant=True) == 0
    assert _balance(AccountCode.CONSUMER_RECEIVABLE, order, consumer=True) == 2500 + 1000
    assert Event.objects.filter(type="order.voided", object_id=order.public_id).count() == 1


def test_voiding_a_fresh_authorization_cancels_the_plan_and_returns_the_first_payment(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
    first_payment = Charge.objects.get(kind=Charge.Kind.PAYMENT)

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/orders/{order.public_id}/void", {})

    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["voided_amount"]) == ("voided", 10000)
    assert _amounts(order) == ("voided", 10000, 0, 10000, 0, 0)
    returned = Charge.objects.get(kind=Charge.Kind.REFUND)
    assert (returned.amount, returned.status, returned.payment_method_id, returned.plan_id) == (
        2500,
        Charge.Status.SUCCEEDED,
        first_payment.payment_method_id,
        order.plan.pk,
    )
    assert not Installment.objects.filter(plan__order=order, status=Installment.Status.SCHEDULED).exists()
    assert _balance(AccountCode.CONSUMER_RECEIVABLE, order, consumer=True) == 0
    assert _balance(AccountCode.AUTHORIZED_PENDING, order, merchant=True) == 0
    assert _balance(AccountCode.CARD_CLEARING, order) == 2500 - 2500
    assert "Ledger OK" in _ledger_ok()
    # The first installment stays paid, but its money went back: nothing is owed, so the plan is canceled,
    # not "paid" (a regression test: _settle_status once closed any plan with a payment on it as paid).
    assert Plan.objects.get(order=order).status == Plan.Status.CANCELED


def test_voiding_twice_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000, kind=ProductKind.PAY_IN_30)
    checkout_orders.order_void(order=order)

    error = _refused(api, f"/api/v1/orders/{order.public_id}/void", {}, order)

    assert (error["code"], error["message"]) == ("order_voided", "This order is voided.")


def test_voiding_a_fully_captured_order_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
    checkout_orders.order_capture(order=order, amount=10000)

    error = _refused(api, f"/api/v1/orders/{order.public_id}/void", {}, order)

    assert error["code"] == "nothing_to_void"


# --- Refund ---------------------------------------------------------------------------------------


def test_refunding_more_than_was_captured_is_refused_and_changes_nothing(tenant: Tenant) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
    checkout_orders.order_capture(order=order, amount=6000)
    checkout_orders.order_refund(order=order, amount=1000)

    error = _refused(api, f"/api/v1/orders/{order.public_id}/refunds", {"amount": 5001}, order)

    assert error == {
        "type": "invalid_request_error",
        "code": "amount_exceeds_captured",
        "message": "Only 5000 of this order can be refunded.",
        "param": "amount",
    }


def test_refunding_an_order_with_nothing_captured_is_refused(tenant: Tenant) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)

    error = _refused(api, f"/api/v1/orders/{order.public_id}/refunds", {"amount": 1}, order)

    assert error["message"] == "Only 0 of this order can be refunded."


def test_a_pay_in_4_refund_takes_the_last_installments_first(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
    checkout_orders.order_capture(order=order, amount=10000)
    path = f"/api/v1/orders/{order.public_id}/refunds"

    first = api.post(path, {"amount": 3000, "reason": "returned socks"}).json()
    after_first = _installments(order)
    second = api.post(path, {"amount": 4000}).json()
    after_second = _installments(order)
    with django_capture_on_commit_callbacks(execute=True):
        third = api.post(path, {"amount": 3000}).json()

    assert (
        first["applied_to_plan_amount"],
        first["returned_to_card_amount"],
        first["merchant_fee_refunded_amount"],
    ) == (
        3000,
        0,
        120,
    )
    assert first["reason"] == "returned socks"
    assert after_first == [(1, 2500, "paid"), (2, 2500, "scheduled"), (3, 2000, "scheduled"), (4, 0, "canceled")]
    assert (second["applied_to_plan_amount"], second["returned_to_card_amount"]) == (4000, 0)
    assert after_second == [(1, 2500, "paid"), (2, 500, "scheduled"), (3, 0, "canceled"), (4, 0, "canceled")]
    # The last 3000: 500 still owed comes off, 2500 already paid goes back to the card.
    assert (third["applied_to_plan_amount"], third["returned_to_card_amount"]) == (500, 2500)
    assert _installments(order) == [(1, 2500, "paid"), (2, 0, "canceled"), (3, 0, "canceled"), (4, 0, "canceled")]
    # Fees come back at 4% of each refund; the fixed 30 cents of the first capture stay earned.
    assert _amounts(order) == ("refunded", 10000, 10000, 0, 10000, 30)
    returned = Charge.objects.get(kind=Charge.Kind.REFUND)
    assert (returned.amount, returned.status) == (2500, Charge.Status.SUCCEEDED)
    assert _balance(AccountCode.CONSUMER_RECEIVABLE, order, consumer=True) == 0
    assert _balance(AccountCode.MERCHANT_PAYABLE, order, merchant=True) == 30
    assert _balance(AccountCode.MERCHANT_FEE_REVENUE, order, merchant=True) == -30
    assert "Ledger OK" in _ledger_ok()


def test_an_even_spread_product_spreads_a_refund_over_the_remaining_installments(tenant: Tenant) -> None:
    product_update(product=product_for(tenant.merchant, False), refund_policy=RefundPolicy.EVEN_SPREAD)
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
    checkout_orders.order_capture(order=order, amount=10000)
    path = f"/api/v1/orders/{order.public_id}/refunds"

    api.post(path, {"amount": 3000})
    after_first = _installments(order)
    api.post(path, {"amount": 1000})

    assert Plan.objects.get(order=order).refund_policy == RefundPolicy.EVEN_SPREAD
    assert after_first == [(1, 2500, "paid"), (2, 1500, "scheduled"), (3, 1500, "scheduled"), (4, 1500, "scheduled")]
    # 1000 in three: 334, 333, 333 (the odd cent on the earliest).
    assert _installments(order) == [
        (1, 2500, "paid"),
        (2, 1166, "scheduled"),
        (3, 1167, "scheduled"),
        (4, 1167, "scheduled"),
    ]
    assert _balance(AccountCode.CONSUMER_RECEIVABLE, order, consumer=True) == 1166 + 1167 + 1167


def test_a_policy_change_applies_to_new_plans_only(tenant: Tenant) -> None:
    order = _order(tenant, amount=10000)
    product_update(product=product_for(tenant.merchant, False), refund_policy=RefundPolicy.EVEN_SPREAD)
    checkout_orders.order_capture(order=order, amount=10000)

    checkout_orders.order_refund(order=order, amount=3000)

    assert Plan.objects.get(order=order).refund_policy == RefundPolicy.LAST_FIRST
    assert _installments(order) == [
        (1, 2500, "paid"),
        (2, 2500, "scheduled"),
        (3, 2000, "scheduled"),
        (4, 0, "canceled"),
    ]


def test_no_refund_ever_raises_an_installment(tenant: Tenant) -> None:
    even = product_for(tenant.merchant, False, ProductKind.FINANCING, 3)  # interest free, three months
    product_update(product=even, refund_policy=RefundPolicy.EVEN_SPREAD)

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        choice=st.sampled_from([(ProductKind.PAY_IN_4, None), (ProductKind.FINANCING, 3), (ProductKind.FINANCING, 6)]),
        amount=st.integers(min_value=25000, max_value=100000),
        shares=st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=5),
    )
    def check(choice: tuple[str, int | None], amount: int, shares: list[int]) -> None:
        kind, count = choice
        order = _order(tenant, amount=amount, kind=kind, count=count)
        checkout_orders.order_capture(order=order, amount=amount)
        for share in shares:
            refundable = _fresh(order).refundable_amount
            if refundable == 0:
                break
            before = {sequence: amount for sequence, amount, _ in _installments(order)}
            checkout_orders.order_refund(order=order, amount=max(1, refundable * share // 100))
            after = {sequence: amount for sequence, amount, _ in _installments(order)}
            assert all(after[sequence] <= before[sequence] for sequence in before), (before, after)
            # A financing refund replaces its tail; each new payment is at most the payment kept.
            new = [after[sequence] for sequence in after if sequence not in before]
            assert all(payment <= max(before.values()) for payment in new), (before, new)

    check()


# --- Financing ------------------------------------------------------------------------------------


def test_financing_pays_level_monthly_payments_with_interest(tenant: Tenant) -> None:
    with time_machine.travel(dt.datetime(2026, 1, 31, 15, 0, tzinfo=dt.UTC), tick=False):
        six = _order(tenant, amount=50000, kind=ProductKind.FINANCING, count=6)
        twelve = _order(tenant, amount=50000, kind=ProductKind.FINANCING, count=12)

    rows = list(Installment.objects.filter(plan__order=six).order_by("sequence"))
    # 9.99% APR: r = 0.0999 / 12; 50000 * r / (1 - (1 + r) ** -6) = 8577.82 -> 8578; the last takes the rest.
    assert [row.amount for row in rows] == [8578, 8578, 8578, 8578, 8578, 8577]
    assert [row.interest_amount for row in rows] == [416, 348, 280, 211, 141, 71]
    assert [row.principal_amount for row in rows] == [8162, 8230, 8298, 8367, 8437, 8506]
    assert sum(row.principal_amount for row in rows) == 50000
    assert [row.due_date for row in rows] == [
        dt.date(2026, 2, 28),
        dt.date(2026, 3, 31),
        dt.date(2026, 4, 30),
        dt.date(2026, 5, 31),
        dt.date(2026, 6, 30),
        dt.date(2026, 7, 31),
    ]
    assert not Charge.objects.filter(plan__order=six).exists()  # nothing due today
    assert Plan.objects.get(order=six).apr_bps == 999
    # 14.99% APR over 12 months: 4512.68 -> 4513.
    assert [amount for _, amount, _ in _installments(twelve)] == [4513] * 11 + [4512]
    assert sum(Installment.objects.filter(plan__order=twelve).values_list("principal_amount", flat=True)) == 50000


def test_a_financing_refund_keeps_the_payment_and_ends_the_plan_sooner(tenant: Tenant) -> None:
    order = _order(tenant, amount=50000, kind=ProductKind.FINANCING, count=6)
    checkout_orders.order_capture(order=order, amount=50000)
    due_dates = list(
        Installment.objects.filter(plan__order=order).order_by("sequence").values_list("due_date", flat=True)
    )

    refund = checkout_orders.order_refund(order=order, amount=20000)

    assert (refund.applied_to_plan_amount, refund.returned_to_card_amount) == (20000, 0)
    assert refund.merchant_fee_refunded_amount == 1198  # 5.99% of 20000
    live = list(Installment.objects.filter(plan__order=order, status=Installment.Status.SCHEDULED).order_by("sequence"))
    # 30000 left at 9.99%: 8578 a month, interest 250, 180, 111, 40; the fourth pays off the rest.
    assert [row.amount for row in live] == [8578, 8578, 8578, 4847]
    assert [row.interest_amount for row in live] == [250, 180, 111, 40]
    assert sum(row.principal_amount for row in live) == 30000
    assert [row.due_date for row in live] == due_dates[:4]
    assert [row.sequence for row in live] == [7, 8, 9, 10]
    assert Installment.objects.filter(plan__order=order, status=Installment.Status.CANCELED).count() == 6
    assert _balance(AccountCode.CONSUMER_RECEIVABLE, order, consumer=True) == 30000


def test_paying_a_financing_installment_books_its_interest(tenant: Tenant) -> None:
    order = _order(tenant, amount=50000, kind=ProductKind.FINANCING, count=6)
    plan = Plan.objects.get(order=order)

    charge = servicing.plan_pay_next_installment(plan=plan)

    key = f"collect:{plan.public_id}:1:1"
    assert (charge.amount, charge.status, charge.idempotency_key) == (8578, "succeeded", key)
    assert _installments(order)[0] == (1, 8578, "paid")
    assert _balance(AccountCode.INTEREST_INCOME, order) == -416
    assert _balance(AccountCode.CARD_CLEARING, order) == 8578
    assert _balance(AccountCode.CONSUMER_RECEIVABLE, order, consumer=True) == 50000 - 8162
    assert "Ledger OK" in _ledger_ok()


# --- Paying the next installment ----------------------------------------------------------------


def test_paying_the_next_pay_in_4_installment(tenant: Tenant) -> None:
    order = _order(tenant, amount=10000)
    plan = Plan.objects.get(order=order)

    second = servicing.plan_pay_next_installment(plan=plan)
    third = servicing.plan_pay_next_installment(plan=plan)

    assert (second.amount, second.idempotency_key, second.plan_id) == (2500, f"collect:{plan.public_id}:2:1", plan.pk)
    assert third.idempotency_key == f"collect:{plan.public_id}:3:1"
    assert [status for _, _, status in _installments(order)] == ["paid", "paid", "paid", "scheduled"]
    assert _balance(AccountCode.CONSUMER_RECEIVABLE, order, consumer=True) == 2500
    assert _balance(AccountCode.CARD_CLEARING, order) == 7500
    assert _balance(AccountCode.INTEREST_INCOME, order) == 0
    assert Event.objects.filter(type="plan.payment_succeeded", object_id=plan.public_id).count() == 2

    servicing.plan_pay_next_installment(plan=plan)
    assert Plan.objects.get(pk=plan.pk).status == Plan.Status.PAID
    with pytest.raises(StateError) as error:
        servicing.plan_pay_next_installment(plan=plan)
    assert error.value.code == "nothing_to_pay"


def test_a_declined_installment_payment_changes_nothing_but_the_failed_charge(tenant: Tenant) -> None:
    # This card saves (and passes the zero-amount check), then every charge is declined.
    order = _order(tenant, amount=10000, kind=ProductKind.PAY_IN_30, card="4000 0000 0000 0341")
    plan = Plan.objects.get(order=order)
    before_rows, before_plan, entries = row_counts(), _installments(order), JournalEntry.objects.count()

    with pytest.raises(PaymentDeclinedError) as error:
        servicing.plan_pay_next_installment(plan=plan)

    assert error.value.code == "card_declined"
    # the failed charge, on our side and in the gateway's own record
    assert _changes(before_rows, row_counts()) == {"payments.charge": 1, "payments.sandboxgatewaycharge": 1}
    failed = Charge.objects.get()
    assert (failed.status, failed.failure_code, failed.idempotency_key) == (
        "failed",
        "card_declined",
        f"collect:{plan.public_id}:1:1",
    )
    assert _installments(order) == before_plan == [(1, 10000, "scheduled")]
    assert JournalEntry.objects.count() == entries

    good_card = payment_method_add(
        consumer=order.consumer,
        livemode=order.livemode,
        number="4242424242424242",
        exp_month=12,
        exp_year=2035,
        cvc="123",
    )
    retry = servicing.plan_pay_next_installment(plan=plan, payment_method=good_card)
    assert (retry.status, retry.idempotency_key) == ("succeeded", f"collect:{plan.public_id}:1:2")
    assert _installments(order) == [(1, 10000, "paid")]


def test_money_returned_to_the_card_never_exceeds_the_payment_it_refunds(tenant: Tenant) -> None:
    order = _order(tenant, amount=10000)
    plan = Plan.objects.get(order=order)
    for _ in range(3):
        servicing.plan_pay_next_installment(plan=plan)  # four payments of 2500: the plan is paid
    checkout_orders.order_capture(order=order, amount=10000)

    # Left pending (on-commit not run): a pending return still names the payment it refunds.
    refund = checkout_orders.order_refund(order=order, amount=10000)

    assert (refund.applied_to_plan_amount, refund.returned_to_card_amount) == (0, 10000)
    payments = {charge.pk: charge.amount for charge in Charge.objects.filter(kind=Charge.Kind.PAYMENT)}
    returned: dict[int, int] = {}
    for charge in Charge.objects.filter(kind=Charge.Kind.REFUND):
        assert charge.refunded_charge_id is not None
        returned[charge.refunded_charge_id] = returned.get(charge.refunded_charge_id, 0) + charge.amount
    assert sum(returned.values()) == 10000
    # Each return names the payment it gives back from, and never gives back more than that payment
    # (a gateway refuses a refund above a charge's unrefunded amount).
    assert returned == payments


# --- Expiry ---------------------------------------------------------------------------------------


def test_capture_and_void_are_refused_once_the_authorization_has_expired(tenant: Tenant) -> None:
    with time_machine.travel(dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC), tick=False):
        api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
        checkout_orders.order_capture(order=order, amount=4000)
    expires_at = _fresh(order).authorization_expires_at
    assert expires_at == dt.datetime(2026, 3, 30, 9, 30, tzinfo=dt.UTC)  # 28 days

    with time_machine.travel(expires_at, tick=False):
        capture = _refused(api, f"/api/v1/orders/{order.public_id}/captures", {"amount": 1000}, order)
        void = _refused(api, f"/api/v1/orders/{order.public_id}/void", {}, order)
        refund = api.post(f"/api/v1/orders/{order.public_id}/refunds", {"amount": 1000})

    assert capture == {
        "type": "invalid_request_error",
        "code": "order_expired",
        "message": "The authorization has expired.",
        "param": None,
    }
    assert void["code"] == "order_expired"
    assert refund.status_code == 201  # what was captured can still be refunded


def test_orders_expire_warns_three_days_ahead_then_releases_the_authorization(
    tenant: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    order = _order(tenant, amount=10000)
    expires_at = _fresh(order).authorization_expires_at

    with time_machine.travel(expires_at - dt.timedelta(days=3, seconds=1), tick=False):
        too_early = checkout_orders.orders_expire()
    with time_machine.travel(expires_at - dt.timedelta(days=3), tick=False):
        warned = checkout_orders.orders_expire()
        warned_again = checkout_orders.orders_expire()
    with time_machine.travel(expires_at - dt.timedelta(seconds=1), tick=False):
        not_yet = checkout_orders.orders_expire()
    with time_machine.travel(expires_at, tick=False), django_capture_on_commit_callbacks(execute=True):
        expired = checkout_orders.orders_expire()
        expired_again = checkout_orders.orders_expire()

    assert (too_early, warned, warned_again, not_yet, expired, expired_again) == (
        (0, 0),
        (1, 0),
        (0, 0),
        (0, 0),
        (0, 1),
        (0, 0),
    )
    assert _amounts(order) == ("expired", 10000, 0, 10000, 0, 0)
    assert _fresh(order).expiry_warning_sent_at == expires_at - dt.timedelta(days=3)
    warning = Event.objects.get(type="order.authorization_expiring", object_id=order.public_id)
    assert (warning.merchant, warning.livemode, warning.data["status"]) == (tenant.merchant, False, "authorized")
    event = Event.objects.get(type="order.expired", object_id=order.public_id)
    assert (event.data["status"], event.data["voided_amount"], event.data["open_amount"]) == ("expired", 10000, 0)
    returned = Charge.objects.get(kind=Charge.Kind.REFUND)
    assert (returned.amount, returned.status) == (2500, Charge.Status.SUCCEEDED)
    assert not Installment.objects.filter(plan__order=order, status=Installment.Status.SCHEDULED).exists()
    assert _balance(AccountCode.AUTHORIZED_PENDING, order, merchant=True) == 0
    assert _balance(AccountCode.CONSUMER_RECEIVABLE, order, consumer=True) == 0
    assert "Ledger OK" in _ledger_ok()


def test_an_expiring_part_captured_order_keeps_what_was_captured(tenant: Tenant) -> None:
    order = _order(tenant, amount=10000)
    checkout_orders.order_capture(order=order, amount=7000)
    expires_at = _fresh(order).authorization_expires_at

    with time_machine.travel(expires_at, tick=False):
        assert checkout_orders.orders_expire() == (0, 1)

    assert _amounts(order) == ("captured", 10000, 7000, 3000, 0, 310)
    assert _installments(order) == [
        (1, 2500, "paid"),
        (2, 2500, "scheduled"),
        (3, 2000, "scheduled"),
        (4, 0, "canceled"),
    ]
    assert Event.objects.filter(type="order.expired", object_id=order.public_id).count() == 1


def test_orders_expire_leaves_closed_orders_alone(tenant: Tenant) -> None:
    captured, voided = _order(tenant, amount=10000), _order(tenant, amount=10000)
    checkout_orders.order_capture(order=captured, amount=10000)
    checkout_orders.order_void(order=voided)
    before = row_counts()

    with time_machine.travel(_fresh(captured).authorization_expires_at + dt.timedelta(days=1), tick=False):
        assert checkout_orders.orders_expire() == (0, 0)

    assert _changes(before, row_counts()) == {}


# --- Orders, plans and products: reading, and other merchants ------------------------------------


def test_orders_are_listed_and_retrieved_only_by_their_merchant(tenant: Tenant, other_tenant: Tenant) -> None:
    order = _order(tenant, amount=10000)
    api, other = ApiClient(tenant.test_key), ApiClient(other_tenant.test_key)

    listed = api.get("/api/v1/orders").json()["results"]
    detail = api.get(f"/api/v1/orders/{order.public_id}").json()

    assert [row["id"] for row in listed] == [order.public_id]
    assert (detail["status"], detail["authorized_amount"], detail["open_amount"], detail["plan"]) == (
        "authorized",
        10000,
        10000,
        order.plan.public_id,
    )
    assert detail["checkout_session"] == order.checkout_session.public_id
    assert other.get("/api/v1/orders").json()["results"] == []
    assert ApiClient(tenant.live_key).get("/api/v1/orders").json()["results"] == []
    assert other.get(f"/api/v1/orders/{order.public_id}").status_code == 404
    assert other.get(f"/api/v1/plans/{order.plan.public_id}").status_code == 404


def test_another_merchant_cannot_capture_void_or_refund(tenant: Tenant, other_tenant: Tenant) -> None:
    order = _order(tenant, amount=10000)
    checkout_orders.order_capture(order=order, amount=5000)
    other = ApiClient(other_tenant.test_key)
    before_rows, before_amounts = row_counts(), _amounts(order)

    responses = [
        other.post(f"/api/v1/orders/{order.public_id}/captures", {"amount": 1000}),
        other.post(f"/api/v1/orders/{order.public_id}/void", {}),
        other.post(f"/api/v1/orders/{order.public_id}/refunds", {"amount": 1000}),
    ]

    assert [response.status_code for response in responses] == [404, 404, 404]
    assert _changes(before_rows, row_counts()) == {}
    assert _amounts(order) == before_amounts


def test_a_plan_shows_its_installments_and_history(tenant: Tenant) -> None:
    api, order = ApiClient(tenant.test_key), _order(tenant, amount=10000)
    plan = Plan.objects.get(order=order)
    checkout_orders.order_capture(order=order, amount=10000)
    checkout_orders.order_refund(order=order, amount=3000)
    servicing.plan_pay_next_installment(plan=plan)

    body = api.get(f"/api/v1/plans/{plan.public_id}").json()

    assert (body["id"], body["order"], body["status"], body["refund_policy"]) == (
        plan.public_id,
        order.public_id,
        "active",
        "last_first",
    )
    assert (body["total_amount"], body["paid_amount"]) == (7000, 5000)
    assert [(row["sequence"], row["amount"], row["paid_amount"], row["status"]) for row in body["installments"]] == [
        (1, 2500, 2500, "paid"),
        (2, 2500, 2500, "paid"),
        (3, 2000, 0, "scheduled"),
    ]
    assert [entry["action"] for entry in body["history"]] == ["plan.created", "plan.reduced", "plan.payment_succeeded"]
    assert [row["amount"] for row in body["history"][0]["installments"]] == [2500, 2500, 2500, 2500]
    assert [row["amount"] for row in body["history"][1]["installments"]] == [2500, 2500, 2000]


def test_payment_products_are_listed_with_a_publishable_key_for_its_mode_only(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    merchant = tenant.merchant
    test_key = merchant_services.api_key_create(merchant=merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=False).token
    live_key = merchant_services.api_key_create(merchant=merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=True).token
    disabled = product_for(merchant, False, ProductKind.FINANCING, 24)
    product_update(product=disabled, is_enabled=False)

    test_rows = ApiClient(test_key).get("/api/v1/payment_products").json()["results"]
    live_rows = ApiClient(live_key).get("/api/v1/payment_products").json()["results"]

    assert test_key.startswith("pk_test_") and live_key.startswith("pk_live_")
    expected_test = PaymentProduct.objects.filter(merchant=merchant, livemode=False, is_enabled=True)
    expected_live = PaymentProduct.objects.filter(merchant=merchant, livemode=True)
    assert sorted(row["id"] for row in test_rows) == sorted(expected_test.values_list("public_id", flat=True))
    assert sorted(row["id"] for row in live_rows) == sorted(expected_live.values_list("public_id", flat=True))
    assert (len(test_rows), len(live_rows)) == (5, 6)
    assert disabled.public_id not in {row["id"] for row in test_rows}
    pay_in_4 = next(row for row in test_rows if row["kind"] == "pay_in_4")
    assert pay_in_4 == {
        "id": product_for(merchant, False).public_id,
        "object": "payment_product",
        "kind": "pay_in_4",
        "name": "Pay in 4",
        "currency": "USD",
        "installment_count": 4,
        "interval_days": 14,
        "nominal_rate_bps": 0,
        "apr_bps": 0,
        "down_payment_bps": 0,
        "min_amount": 3500,
        "max_amount": 200000,
        "refund_policy": "last_first",
    }
    other_ids = set(PaymentProduct.objects.filter(merchant=other_tenant.merchant).values_list("public_id", flat=True))
    assert not other_ids & {row["id"] for row in test_rows + live_rows}
