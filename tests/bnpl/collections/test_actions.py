"""What a consumer can do about a plan: change the card collections charges (any card becoming the
default, wherever it was added, re-arms what had stopped), move one due date, and ask for hardship
help (collections and late fees pause until an operator decides)."""

from __future__ import annotations

import datetime as dt

import pytest

from bnpl.checkout.step_up import checkout_card_add
from bnpl.collections import lateness, reminders, services
from bnpl.collections.models import HardshipRequest
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.models import Event
from bnpl.core.services import clock_advance
from bnpl.ledger.models import AccountCode
from bnpl.ledger.selectors import account_balance
from bnpl.payments.models import Charge
from bnpl.payments.services import installments_waiting_for_card, payment_method_add, payment_method_make_default
from bnpl.plans.models import Plan
from bnpl.servicing import actions
from bnpl.servicing import selectors as servicing_selectors
from bnpl.servicing import services as servicing
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session
from tests.helpers import ledger_ok
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

NEEDS_AUTHENTICATION = "4000 0025 0000 3155"


def test_a_new_card_re_arms_collection_of_what_had_stopped(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, card=NEEDS_AUTHENTICATION).plan
    clock_advance(by=dt.timedelta(days=14))
    assert services.collections_run().failed == 1  # not retried: the consumer must act
    assert services.collections_run().claimed == 0

    old_card = plan.consumer.payment_methods.get()
    assert installments_waiting_for_card(consumer=plan.consumer, livemode=False).count() == 1
    payment_method_add(
        consumer=plan.consumer,
        livemode=plan.livemode,
        number="4242424242424242",
        exp_month=12,
        exp_year=2035,
        cvc="123",
    )  # saving it makes it the default, which re-arms

    assert services.collections_run().succeeded == 1
    assert plan.installments.get(sequence=2).status == "paid"
    changed = Event.objects.filter(type="consumer.payment_method_changed").latest("id")
    assert changed.data["rearmed"] == 1
    assert payment_method_make_default(consumer=plan.consumer, payment_method=old_card) == 0  # nothing waits now


def test_a_card_typed_in_at_another_checkout_re_arms_collections_too(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, card=NEEDS_AUTHENTICATION).plan
    clock_advance(by=dt.timedelta(days=14))
    assert services.collections_run().failed == 1
    assert services.collections_run().claimed == 0

    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    checkout_card_add(
        session=session, consumer=plan.consumer, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )

    assert services.collections_run().succeeded == 1
    assert plan.installments.get(sequence=2).status == "paid"


def test_a_card_of_the_other_mode_re_arms_nothing(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, card=NEEDS_AUTHENTICATION).plan
    clock_advance(by=dt.timedelta(days=14))
    assert services.collections_run().failed == 1

    payment_method_add(
        consumer=plan.consumer, livemode=True, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )

    assert services.collections_run().claimed == 0
    assert installments_waiting_for_card(consumer=plan.consumer, livemode=False).count() == 1


def test_one_due_date_may_move_up_to_14_days_once(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False).plan
    second = plan.installments.get(sequence=2)

    with pytest.raises(InvalidRequestError) as too_far:
        actions.installment_move_due_date(plan=plan, sequence=2, due_date=second.due_date + dt.timedelta(days=15))
    assert too_far.value.param == "due_date"
    with pytest.raises(InvalidRequestError):
        actions.installment_move_due_date(plan=plan, sequence=1, due_date=second.due_date)  # already paid

    moved = actions.installment_move_due_date(plan=plan, sequence=2, due_date=second.due_date + dt.timedelta(days=7))

    assert moved.due_date == moved.collect_on == second.due_date + dt.timedelta(days=7)
    with pytest.raises(StateError) as again:
        actions.installment_move_due_date(plan=plan, sequence=3, due_date=moved.due_date + dt.timedelta(days=20))
    assert again.value.code == "due_date_already_moved"
    clock_advance(by=dt.timedelta(days=14))
    assert services.collections_run().claimed == 0  # not due on the old date any more


def test_hardship_pauses_collections_and_fees_until_an_operator_decides(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, card=NEEDS_AUTHENTICATION).plan
    request = actions.hardship_request(plan=plan, reason="I lost my job last week.")
    with pytest.raises(StateError):
        actions.hardship_request(plan=plan, reason="Again")

    clock_advance(by=dt.timedelta(days=30))
    assert services.collections_run().claimed == 0
    assessed = lateness.plans_assess_lateness()
    assert assessed.fees == 0

    actions.hardship_decide(request=request, grant=False, note="Income restored per call.")

    plan.refresh_from_db()
    assert not plan.collections_paused
    assert HardshipRequest.objects.get().status == "declined"
    assert services.collections_run().claimed == 2  # installments 2 and 3, collected from today
    with pytest.raises(StateError):
        actions.hardship_decide(request=request, grant=True, note="changed my mind")


def test_a_granted_hardship_keeps_collections_paused(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False).plan
    request = actions.hardship_request(plan=plan, reason="Medical bills.")

    actions.hardship_decide(request=request, grant=True, note="Three months' pause agreed.")

    assert Plan.objects.get(pk=plan.pk).collections_paused
    with pytest.raises(InvalidRequestError):
        actions.hardship_decide(request=request, grant=True, note=" ")


# --- Paying early ---------------------------------------------------------------------------------


def test_paying_early_goes_to_the_next_installments(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000).plan

    charge = servicing.plan_pay_early(plan=plan, amount=4_000)

    assert charge.amount == 4_000
    rows = {row.sequence: (row.status, row.paid_amount) for row in plan.installments.all()}
    assert rows == {1: ("paid", 2_500), 2: ("paid", 2_500), 3: ("scheduled", 1_500), 4: ("scheduled", 0)}
    assert ledger_ok()


def test_paying_off_an_interest_free_plan(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_001).plan

    assert servicing_selectors.plan_payoff_amount(plan=plan) == 7_500  # 2,501 was paid at checkout
    servicing.plan_pay_early(plan=plan)

    assert Plan.objects.get(pk=plan.pk).status == Plan.Status.PAID
    event = Event.objects.filter(type="plan.payment_succeeded", object_id=plan.public_id).latest("id")
    assert event.data["status"] == "paid"  # the event says what the database says


def test_paying_off_financing_early_charges_only_the_interest_earned(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=60_000, kind="financing", count=12)
    plan = order.plan
    scheduled_interest = sum(row.interest_amount for row in plan.installments.all())
    clock_advance(by=dt.timedelta(days=10))

    earned = round(60_000 * 0.1499 * 10 / 365)  # 246: simple daily interest for the 10 days lived
    assert servicing_selectors.plan_payoff_amount(plan=plan) == 60_000 + earned
    charge = servicing.plan_pay_early(plan=plan)

    plan.refresh_from_db()
    assert charge.amount == 60_000 + earned and plan.status == Plan.Status.PAID
    assert sum(row.interest_amount for row in plan.installments.all()) == earned < scheduled_interest
    interest = account_balance(code=AccountCode.INTEREST_INCOME, currency="USD", livemode=False)
    assert interest == -earned  # income is a credit
    assert ledger_ok()


def test_early_payments_that_make_no_sense_are_refused(tenant: Tenant) -> None:
    interest_free = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000).plan
    financing = make_authorized_order(
        merchant=tenant.merchant, livemode=False, amount=60_000, kind="financing", count=12
    ).plan

    for plan, amount in ((interest_free, 0), (interest_free, 7_501), (financing, 10_000)):
        with pytest.raises(InvalidRequestError) as refused:
            servicing.plan_pay_early(plan=plan, amount=amount)
        assert refused.value.param == "amount"
    assert not Charge.objects.filter(idempotency_key__contains=":early:").exists()


def test_a_plan_paused_for_hardship_gets_no_payment_reminders(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False).plan
    actions.hardship_request(plan=plan, reason="Medical bills.")
    clock_advance(by=dt.timedelta(days=12))  # installment 2 is due in two days

    assert reminders.reminders_send_upcoming() == 0


def test_an_installment_collections_is_charging_right_now_is_not_re_armed_by_a_new_card(tenant: Tenant) -> None:
    """Claiming an installment clears its collect_on too: a card saved meanwhile (at another shop's
    checkout, say) must not make it due again, or it would be charged twice."""
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False).plan
    clock_advance(by=dt.timedelta(days=14))
    claimed = services.collections_claim(limit=10)
    assert claimed  # an attempt in processing, its charge not sent yet

    payment_method_add(
        consumer=plan.consumer, livemode=False, number="4242424242424242", exp_month=12, exp_year=2035, cvc="123"
    )

    assert installments_waiting_for_card(consumer=plan.consumer, livemode=False).count() == 0
    assert plan.installments.get(sequence=2).collect_on is None
