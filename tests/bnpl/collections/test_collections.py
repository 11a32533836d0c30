"""Collections: due installments charged off-session exactly once, retries on a schedule for the
failures a retry can cure, and whatever a dead worker leaves behind finished by the sweeper without
moving money twice (the sandbox gateway keeps its own record, keyed by the idempotency key)."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, transaction

from bnpl.checkout import orders as checkout_orders
from bnpl.collections import reminders, services
from bnpl.collections.models import CollectionAttempt
from bnpl.core.services import clock_advance
from bnpl.payments.gateways import SandboxGateway
from bnpl.payments.models import Charge, SandboxGatewayCharge
from bnpl.plans.models import Installment, Plan
from bnpl.servicing import services as servicing
from consumers.models import Consumer, SandboxMessage
from tests.bnpl.checkout.factories import make_authorized_order
from tests.helpers import ledger_ok
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

INSUFFICIENT_FUNDS = "4000 0000 0000 9995"
NEEDS_AUTHENTICATION = "4000 0025 0000 3155"
DECLINED_AFTER_SAVING = "4000 0000 0000 0341"


def _gateway_charges(plan: Plan, sequence: int) -> list[SandboxGatewayCharge]:
    return list(
        SandboxGatewayCharge.objects.filter(idempotency_key__startswith=f"collect:{plan.public_id}:{sequence}:")
    )


def _installment(plan: Plan, sequence: int) -> Installment:
    return plan.installments.get(sequence=sequence)


def test_nothing_is_collected_before_the_due_date(tenant: Tenant) -> None:
    make_authorized_order(merchant=tenant.merchant, livemode=False)

    assert services.collections_run().claimed == 0
    assert not CollectionAttempt.objects.exists()


def test_a_due_installment_is_charged_once_and_applied(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000).plan
    clock_advance(by=dt.timedelta(days=14))

    first = services.collections_run()
    again = services.collections_run()

    assert (first.claimed, first.succeeded, again.claimed) == (1, 1, 0)
    second = _installment(plan, 2)
    assert (second.status, second.paid_amount) == ("paid", 2_500)
    assert _installment(plan, 3).status == "scheduled"  # not due yet
    attempt = CollectionAttempt.objects.get()
    assert (attempt.number, attempt.status, attempt.amount) == (1, "succeeded", 2_500)
    assert attempt.charge.applied_at is not None
    assert [row.succeeded for row in _gateway_charges(plan, 2)] == [True]
    assert ledger_ok()


def test_the_whole_plan_is_collected_as_time_passes(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_001).plan

    for _ in range(3):
        clock_advance(by=dt.timedelta(days=14))
        services.collections_run()

    plan.refresh_from_db()
    assert plan.status == Plan.Status.PAID
    assert sum(charge.amount for charge in Charge.objects.filter(plan=plan, status="succeeded")) == 10_001
    assert ledger_ok()


def test_a_retryable_failure_is_retried_after_1_3_and_7_days_then_stops(tenant: Tenant) -> None:
    plan = make_authorized_order(
        merchant=tenant.merchant, livemode=False, kind="pay_in_30", card=INSUFFICIENT_FUNDS
    ).plan  # nothing charged at checkout: the card is only verified
    clock_advance(by=dt.timedelta(days=30))

    retries = []
    for wait in (0, 1, 3, 7):
        if wait:
            clock_advance(by=dt.timedelta(days=wait))
        assert services.collections_run(batch_size=10).failed == 1
        retries.append(_installment(plan, 1).collect_on)
        assert services.collections_run().claimed == 0  # not again until the retry date

    attempts = list(CollectionAttempt.objects.order_by("number"))
    assert [attempt.failure_code for attempt in attempts] == ["insufficient_funds"] * 4
    assert [attempt.retry_on for attempt in attempts] == retries
    assert [(retry - attempts[0].created_at.date()).days if retry else None for retry in retries] == [1, 4, 11, None]
    clock_advance(by=dt.timedelta(days=30))
    assert services.collections_run().claimed == 0  # retries used up: the consumer acts
    assert _installment(plan, 1).status == "scheduled"


def test_a_failure_no_retry_can_cure_is_not_retried(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, card=NEEDS_AUTHENTICATION).plan
    clock_advance(by=dt.timedelta(days=14))

    result = services.collections_run()

    assert result.failed == 1
    attempt = CollectionAttempt.objects.get()
    assert (attempt.failure_code, attempt.retry_on) == ("authentication_required", None)
    assert _installment(plan, 2).collect_on is None


def test_an_attempt_a_dead_worker_left_before_charging_is_finished_by_the_sweeper(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False).plan
    clock_advance(by=dt.timedelta(days=14))
    services.collections_claim(limit=10)  # ... and the worker dies here

    assert services.collections_run().claimed == 0  # in flight: nobody else may take it
    assert services.collections_sweep(stuck_after=dt.timedelta(minutes=5)).claimed == 0  # not stuck yet
    swept = services.collections_sweep(stuck_after=dt.timedelta(0))

    assert (swept.claimed, swept.succeeded) == (1, 1)
    assert _installment(plan, 2).status == "paid"
    assert [row.succeeded for row in _gateway_charges(plan, 2)] == [True]


def test_a_charge_the_gateway_took_before_the_worker_died_is_not_taken_again(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False).plan
    clock_advance(by=dt.timedelta(days=14))
    claimed = services.collections_claim(limit=10)
    assert claimed is not None and len(claimed) == 1
    attempt_id = claimed[0]
    charge = CollectionAttempt.objects.get(pk=attempt_id).charge
    SandboxGateway(livemode=charge.livemode).charge(  # the gateway moved the money; the worker died before recording it
        token=charge.payment_method.gateway_token,
        amount=charge.amount,
        currency=charge.currency,
        idempotency_key=charge.idempotency_key,
        off_session=True,
    )

    services.collections_sweep(stuck_after=dt.timedelta(0))
    services.collections_sweep(stuck_after=dt.timedelta(0))

    assert len(_gateway_charges(plan, 2)) == 1
    assert _installment(plan, 2).paid_amount == 2_500
    assert Charge.objects.get(pk=charge.pk).status == "succeeded"
    assert ledger_ok()


def test_run_collections_command_reports_what_it_did(tenant: Tenant) -> None:
    make_authorized_order(merchant=tenant.merchant, livemode=False, kind="pay_in_30")
    make_authorized_order(merchant=tenant.merchant, livemode=False, kind="pay_in_30", card=DECLINED_AFTER_SAVING)
    clock_advance(by=dt.timedelta(days=30))
    out = StringIO()

    call_command("run_collections", stdout=out)

    assert "collected 2 installment(s): 1 succeeded, 1 failed, 0 pending" in out.getvalue()


def test_an_installment_is_never_in_flight_twice(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False).plan
    installment = _installment(plan, 2)
    clock_advance(by=dt.timedelta(days=14))
    services.collections_claim(limit=1)
    charge = CollectionAttempt.objects.get().charge

    with pytest.raises(IntegrityError), transaction.atomic():
        CollectionAttempt.objects.create(installment=installment, number=2, charge=charge, amount=1)


def test_after_a_refund_re_amortizes_financing_the_new_installments_are_collected(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=60_000, kind="financing", count=6)
    checkout_orders.order_capture(order=order, amount=60_000)
    checkout_orders.order_refund(order=order, amount=10_000)
    plan = Plan.objects.get(pk=order.plan.pk)
    scheduled = plan.installments.filter(status="scheduled")
    assert scheduled.exists() and not scheduled.filter(collect_on=None).exists()

    clock_advance(by=dt.timedelta(days=32))
    result = services.collections_run()

    assert result.succeeded == 1
    assert ledger_ok()


def test_pay_now_while_a_collection_is_in_flight_charges_once(tenant: Tenant) -> None:
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False).plan
    clock_advance(by=dt.timedelta(days=14))
    services.collections_claim(limit=10)  # the worker is about to charge installment 2

    paid = servicing.plan_pay_next_installment(plan=plan)  # the consumer presses "pay now"
    services.collections_sweep(stuck_after=dt.timedelta(0))

    attempt = CollectionAttempt.objects.get()
    assert paid.pk == attempt.charge_id  # pay-now took the charge already in flight
    assert attempt.status == "succeeded"
    assert [row.succeeded for row in _gateway_charges(plan, 2)] == [True]
    assert _installment(plan, 2).status == "paid" and _installment(plan, 3).paid_amount == 0
    assert ledger_ok()


# --- Reminders and notices ------------------------------------------------------------------------


def _inbox(destination: str) -> list[str]:
    return list(SandboxMessage.objects.filter(destination=destination).order_by("id").values_list("subject", flat=True))


def test_a_reminder_goes_out_three_days_before_each_due_date_once(
    tenant: Tenant, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000).plan
    email = plan.consumer.email or ""
    clock_advance(by=dt.timedelta(days=10))  # installment 2 is due on day 14

    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.reminders_send_upcoming() == 0
        clock_advance(by=dt.timedelta(days=1))
        assert reminders.reminders_send_upcoming() == 1
        assert reminders.reminders_send_upcoming() == 0  # once

    due = _installment(plan, 2).due_date
    assert [subject for subject in _inbox(email) if " due " in subject] == [
        f"$25.00 due {due:%-d %b} for your {plan.merchant.name} purchase"
    ]


def test_a_failed_charge_sends_a_notice_saying_what_happens_next(
    tenant: Tenant, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    plan = make_authorized_order(
        merchant=tenant.merchant, livemode=False, kind="pay_in_30", card=INSUFFICIENT_FUNDS
    ).plan
    email = plan.consumer.email or ""
    clock_advance(by=dt.timedelta(days=30))

    with django_capture_on_commit_callbacks(execute=True):
        services.collections_run()

    notice = SandboxMessage.objects.filter(destination=email, subject__startswith="We could not take").get()
    assert "insufficient funds" in notice.body and "We will try again on" in notice.body


def test_a_consumer_who_opted_out_gets_no_email(tenant: Tenant, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    plan = make_authorized_order(merchant=tenant.merchant, livemode=False).plan
    Consumer.objects.filter(pk=plan.consumer_id).update(notify_by_email=False)
    clock_advance(by=dt.timedelta(days=12))

    with django_capture_on_commit_callbacks(execute=True):
        assert reminders.reminders_send_upcoming() == 1  # recorded, sent on no channel

    assert _inbox(plan.consumer.email or "") == [] or all(
        "due" not in subject for subject in _inbox(plan.consumer.email or "")
    )
