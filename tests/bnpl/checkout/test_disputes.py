"""Returns and disputes: an open one pauses the plan's collections, late fees and standing; the
merchant refunds or contests; an operator decides contested or unanswered ones; closing it resumes
collections with the paused days added to what fell due meanwhile."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings

from bnpl.checkout import dispute_holds, disputes
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Dispute, Order
from bnpl.collections import lateness, services
from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError, StateError
from bnpl.core.models import Event
from bnpl.core.services import clock_advance
from bnpl.plans.models import Plan
from bnpl.servicing import actions
from tests.bnpl.checkout.factories import make_authorized_order
from tests.conftest import ApiClient
from tests.consumers.factories import make_verified_consumer
from tests.helpers import ledger_ok, row_counts
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def _captured_order(tenant: Tenant, amount: int = 10_000) -> Order:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=amount)
    checkout_orders.order_capture(order=order, amount=amount)
    order.refresh_from_db()
    return order


def _open(order: Order, kind: str = Dispute.Kind.RETURN, **fields: object) -> Dispute:
    return disputes.dispute_open(order=order, consumer=order.consumer, kind=kind, **fields)  # type: ignore[arg-type]


def _due_dates(plan: Plan) -> dict[int, dt.date]:
    return dict(plan.installments.filter(status="scheduled").values_list("sequence", "due_date"))


def _held(order: Order) -> list[int]:
    return [row.sequence for row in dispute_holds.held_installments(Plan.objects.get(order=order))]


def test_an_open_return_holds_only_its_share_of_the_plan(tenant: Tenant) -> None:
    order = _captured_order(tenant)  # 2,500 paid at purchase; 2,500 due on days 14, 28 and 42
    _open(order, amount=2_500)
    plan = Plan.objects.get(order=order)
    assert _held(order) == [4] and not plan.collections_paused  # the last payment covers what is in question

    clock_advance(by=dt.timedelta(days=50))  # every payment falls due
    collected = services.collections_run()
    assessed = lateness.plans_assess_lateness()

    plan.refresh_from_db()
    assert (collected.claimed, collected.succeeded) == (2, 2)  # 2 and 3: not in question
    assert (assessed.fees, plan.standing) == (0, Plan.Standing.CURRENT)  # 4 is held: no fee, not late
    assert plan.installments.get(sequence=4).status == "scheduled"
    assert not plan.installments.exclude(fee_for=None).exists()


def test_a_dispute_about_everything_owed_holds_every_payment(tenant: Tenant) -> None:
    order = _captured_order(tenant)
    _open(order, kind=Dispute.Kind.DISPUTE, reason="not_received")  # the whole refundable amount
    assert _held(order) == [2, 3, 4]

    clock_advance(by=dt.timedelta(days=50))
    assert services.collections_run().claimed == 0
    assert lateness.plans_assess_lateness().fees == 0
    assert Plan.objects.get(order=order).standing == Plan.Standing.CURRENT


def test_refunds_that_reach_the_amount_close_it_and_move_the_held_payments_on(tenant: Tenant) -> None:
    order = _captured_order(tenant)
    dispute = _open(order, amount=2_000)
    plan = Plan.objects.get(order=order)
    before = _due_dates(plan)
    clock_advance(by=dt.timedelta(days=45))  # installment 4 (day 42) fell due while it was held
    assert services.collections_run().succeeded == 2  # 2 and 3 were collected meanwhile

    checkout_orders.order_refund(order=order, amount=1_500)  # last first: 4 now owes 1,000
    assert Dispute.objects.get(pk=dispute.pk).status == Dispute.Status.NEEDS_RESPONSE  # 500 still in question
    assert _held(order) == [4]
    checkout_orders.order_refund(order=order, amount=500)

    dispute.refresh_from_db()
    plan.refresh_from_db()
    assert dispute.status == Dispute.Status.REFUNDED and dispute.closed_at.date() == clock.today()  # type: ignore[union-attr]
    assert _held(order) == []
    assert (_due_dates(plan)[4] - before[4]).days == 45  # moved on by the days it was open
    assert services.collections_run().claimed == 0  # nothing is due today any more
    assert lateness.plans_assess_lateness().fees == 0
    assert [event.type for event in Event.objects.filter(object_id=dispute.public_id).order_by("id")] == [
        "dispute.created",
        "dispute.closed",
    ]
    assert [event.type for event in Event.objects.filter(object_id=plan.public_id, type__startswith="plan.held")] == [
        "plan.held"
    ]
    assert Event.objects.filter(object_id=plan.public_id, type="plan.released").count() == 1
    assert ledger_ok()


def test_a_contested_dispute_decided_for_the_merchant_resumes_collections(tenant: Tenant) -> None:
    order = _captured_order(tenant)
    dispute = _open(order, kind=Dispute.Kind.DISPUTE, reason="not_received", description="Never arrived.")
    clock_advance(by=dt.timedelta(days=3))

    disputes.dispute_contest(dispute=dispute, evidence="Delivered 2 Dec, signed for.")
    with pytest.raises(StateError):
        disputes.dispute_contest(dispute=dispute, evidence="again")
    with pytest.raises(InvalidRequestError) as no_note:
        disputes.dispute_decide(dispute=dispute, for_consumer=False, note=" ")
    assert no_note.value.param == "decision_note"
    decided = disputes.dispute_decide(dispute=dispute, for_consumer=False, note="Carrier proof of delivery.")

    plan = Plan.objects.get(order=order)
    assert decided.status == Dispute.Status.WON and not plan.collections_paused
    assert Order.objects.get(pk=order.pk).refunded_amount == 0
    clock_advance(by=dt.timedelta(days=14))
    assert services.collections_run().succeeded == 1  # installment 2, due on day 14 + 3
    with pytest.raises(StateError) as closed:
        disputes.dispute_decide(dispute=dispute, for_consumer=True, note="changed our mind")
    assert closed.value.code == "dispute_closed"


def test_a_dispute_decided_for_the_consumer_refunds_the_rest(tenant: Tenant) -> None:
    order = _captured_order(tenant)
    dispute = _open(order, kind=Dispute.Kind.DISPUTE, reason="not_as_described", amount=6_000)
    checkout_orders.order_refund(order=order, amount=1_000)  # a goodwill partial refund first

    decided = disputes.dispute_decide(dispute=dispute, for_consumer=True, note="Item differs from listing.")

    order.refresh_from_db()
    assert decided.status == Dispute.Status.LOST
    assert order.refunded_amount == 6_000  # 1,000 + the 5,000 still in question
    assert order.refunds.latest("id").reason == f"dispute {dispute.public_id} decided"
    assert not Plan.objects.get(order=order).collections_paused
    assert ledger_ok()


def test_unanswered_disputes_go_to_an_operator_and_what_they_hold_stays_held(tenant: Tenant) -> None:
    order = _captured_order(tenant)
    dispute = _open(order, kind=Dispute.Kind.DISPUTE, reason="not_received")

    clock_advance(by=disputes.RESPONSE_WINDOW - dt.timedelta(hours=1))
    assert disputes.disputes_escalate_unanswered() == 0
    clock_advance(by=dt.timedelta(hours=2))
    work = services.collections_daily_work()

    dispute.refresh_from_db()
    assert work.escalated == 1 and dispute.status == Dispute.Status.UNDER_REVIEW
    assert work.collected.claimed == 0 and _held(order) == [2, 3, 4]
    assert disputes.disputes_escalate_unanswered() == 0
    with pytest.raises(StateError):
        disputes.dispute_contest(dispute=dispute, evidence="Too late, but here it is.")


def test_the_consumer_may_withdraw_it(tenant: Tenant) -> None:
    order = _captured_order(tenant)
    dispute = _open(order, kind=Dispute.Kind.DISPUTE, reason="not_received")
    with pytest.raises(InvalidRequestError):
        disputes.dispute_withdraw(dispute=dispute, consumer=make_verified_consumer())

    plan = Plan.objects.get(order=order)
    before = _due_dates(plan)
    clock_advance(by=dt.timedelta(days=20))

    assert disputes.dispute_withdraw(dispute=dispute, consumer=order.consumer).status == Dispute.Status.WITHDRAWN
    assert _held(order) == [] and _due_dates(plan) == before  # withdrawn: nothing moves
    assert services.collections_run().succeeded == 1  # installment 2 (day 14) is collected at once


def test_a_hardship_pause_and_a_dispute_hold_are_independent(tenant: Tenant) -> None:
    order = _captured_order(tenant)
    dispute = _open(order, amount=1_000)
    plan = Plan.objects.get(order=order)
    request = actions.hardship_request(plan=plan, reason="Reduced hours.")

    checkout_orders.order_refund(order=order, amount=1_000)
    assert Dispute.objects.get(pk=dispute.pk).status == Dispute.Status.REFUNDED
    assert Plan.objects.get(pk=plan.pk).collections_paused  # the hardship request still holds it

    _open(order, kind=Dispute.Kind.DISPUTE, reason="incorrect_amount", amount=500)
    actions.hardship_decide(request=request, grant=False, note="Back to full hours.")
    assert not Plan.objects.get(pk=plan.pk).collections_paused  # the plan resumes...
    assert _held(order) == [4]  # ...but the new dispute still holds its share


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"kind": "chargeback"}, "kind"),
        ({"kind": "dispute", "reason": "bored"}, "reason"),
        ({"kind": "return", "amount": 10_001}, "amount"),
        ({"kind": "return", "amount": 0}, "amount"),
        ({"kind": "return", "description": "x" * 5_001}, "description"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(tenant: Tenant, fields: dict[str, object], param: str) -> None:
    order = _captured_order(tenant)
    before = row_counts()

    with pytest.raises(InvalidRequestError) as error:
        disputes.dispute_open(order=order, consumer=order.consumer, **fields)  # type: ignore[arg-type]

    assert error.value.param == param
    assert row_counts() == before


def test_one_open_at_a_time_and_only_on_what_was_captured(tenant: Tenant) -> None:
    order = _captured_order(tenant)
    _open(order)
    with pytest.raises(StateError) as twice:
        _open(order, kind=Dispute.Kind.DISPUTE, reason="other")
    assert twice.value.code == "dispute_already_open"
    with pytest.raises(InvalidRequestError):
        disputes.dispute_open(order=order, consumer=make_verified_consumer(), kind="return")

    uncaptured = make_authorized_order(merchant=tenant.merchant, livemode=False)
    with pytest.raises(StateError) as nothing:
        _open(uncaptured)
    assert nothing.value.code == "nothing_to_dispute"


@override_settings(DISPUTE_MAX_PER_CONSUMER=2, DISPUTE_CONSUMER_WINDOW_DAYS=30)
def test_a_consumer_opens_at_most_so_many_disputes_a_window(tenant: Tenant) -> None:
    consumer = make_verified_consumer()
    orders = []
    for _ in range(3):
        order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=5_000, consumer=consumer)
        checkout_orders.order_capture(order=order, amount=5_000)
        orders.append(Order.objects.get(pk=order.pk))
    _open(orders[0])
    _open(orders[1])
    before = row_counts()

    with pytest.raises(StateError) as refused:
        _open(orders[2])
    assert (refused.value.code, refused.value.param) == ("dispute_rate_limited", "order")
    assert row_counts() == before

    clock_advance(by=dt.timedelta(days=31))
    assert _open(orders[2]).is_open  # the window has passed


def test_a_void_while_a_dispute_is_open_holds_the_share_of_the_smaller_plan(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    checkout_orders.order_capture(order=order, amount=6_000)
    _open(Order.objects.get(pk=order.pk), amount=6_000)
    assert _held(order) == [2, 3, 4]

    checkout_orders.order_void(order=Order.objects.get(pk=order.pk))  # 4,000 off, last payments first

    plan = Plan.objects.get(order=order)
    remaining = {row.sequence: row.remaining_amount for row in plan.installments.filter(status="scheduled")}
    assert remaining == {2: 2_500, 3: 1_000}
    assert _held(order) == [2, 3]  # 3,500 left to pay, all of it in question


# --- The merchant's API ---------------------------------------------------------------------------


def test_the_merchant_lists_contests_and_accepts_through_the_api(tenant: Tenant) -> None:
    api = ApiClient(tenant.test_key)
    contested = _open(_captured_order(tenant), kind=Dispute.Kind.DISPUTE, reason="not_received")
    accepted_order = _captured_order(tenant)
    accepted = _open(accepted_order, amount=3_000)

    listed = api.get("/api/v1/disputes", {"status": "needs_response"}).json()
    assert {row["id"] for row in listed["results"]} == {contested.public_id, accepted.public_id}
    by_order = api.get("/api/v1/disputes", {"order": accepted_order.public_id}).json()["results"]
    assert [row["id"] for row in by_order] == [accepted.public_id]
    assert api.get("/api/v1/disputes", {"status": "nope"}).json()["error"]["param"] == "status"

    missing = api.post(f"/api/v1/disputes/{contested.public_id}/contest", {})
    assert (missing.status_code, missing.json()["error"]["param"]) == (400, "evidence")
    response = api.post(f"/api/v1/disputes/{contested.public_id}/contest", {"evidence": "Tracking 1Z999"})
    assert response.status_code == 200 and response.json()["status"] == "under_review"

    response = api.post(f"/api/v1/disputes/{accepted.public_id}/accept", {}, idempotency_key="accept-1")
    replay = api.post(f"/api/v1/disputes/{accepted.public_id}/accept", {}, idempotency_key="accept-1")
    body = response.json()
    assert (body["status"], body["refunded_since_opened"], body["currency"]) == ("refunded", 3_000, "USD")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert Order.objects.get(pk=accepted_order.pk).refunded_amount == 3_000  # refunded once
    again = api.post(f"/api/v1/disputes/{accepted.public_id}/accept", {})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "dispute_closed")
    assert api.get(f"/api/v1/disputes/{accepted.public_id}").json()["status"] == "refunded"


def test_disputes_of_other_merchants_are_not_found(tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = _open(_captured_order(other_tenant))

    api = ApiClient(tenant.test_key)
    assert api.get(f"/api/v1/disputes/{theirs.public_id}").status_code == 404
    assert api.post(f"/api/v1/disputes/{theirs.public_id}/accept", {}).status_code == 404
    assert Dispute.objects.get(pk=theirs.pk).status == Dispute.Status.NEEDS_RESPONSE
