"""What the confirmation records, it records without reading it twice: the session's audit row and
event after a change reuse its decision and order as read before the change, the order's record
takes its empty captures and refunds and the merchant's id for the shopper from the authorization,
and the plan's takes the installments just written. Each record must still be exactly what reading
everything again gives."""

from __future__ import annotations

import pytest
from django.test import Client

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout import prequalification
from bnpl.checkout.models import CheckoutSession, Order, Prequalification
from bnpl.checkout.representations import checkout_session_data, order_data
from bnpl.checkout.selectors import checkout_session_offers
from bnpl.core.models import AuditLogEntry, Event
from bnpl.plans.models import ProductKind
from bnpl.plans.representations import plan_data
from consumers.selectors import SESSION_KEY
from decisioning import Application, Decision, decide, decide_many
from decisioning.models import CreditDecision, ModelVersion
from tests.bnpl.checkout.factories import TEST_CARD, make_authorized_order, make_checkout_session
from tests.conftest import ApiClient
from tests.consumers.factories import make_verified_consumer
from tests.decisioning.conftest import champion, credit_model  # noqa: F401  (the model that decides)
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def _event(type: str, object_id: str) -> Event:
    return Event.objects.get(type=type, object_id=object_id)


@pytest.mark.parametrize("kind", [ProductKind.PAY_IN_4, ProductKind.PAY_IN_30, ProductKind.FINANCING])
def test_the_records_of_a_confirm_are_what_reading_everything_again_gives(tenant: Tenant, kind: str) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=12000, kind=kind)

    order = Order.objects.get(pk=order.pk)  # everything read again
    session = CheckoutSession.objects.get(pk=order.checkout_session_id)
    assert _event("order.authorized", order.public_id).data == order_data(order)
    created = _event("plan.created", order.plan.public_id).data
    if kind == ProductKind.PAY_IN_4:  # its first payment, taken today, was applied after the plan was made
        assert (created["paid_amount"], plan_data(order.plan)["paid_amount"]) == (0, 3000)
        assert {**created, "paid_amount": 3000, "installments": []} == {**plan_data(order.plan), "installments": []}
    else:
        assert created == plan_data(order.plan)
    completed = _event("checkout_session.completed", session.public_id).data
    assert completed == checkout_session_data(session)
    assert (completed["status"], completed["outcome"], completed["approved_amount"]) == ("complete", "approved", 12000)
    assert completed["order"] == order.public_id and completed["consumer"] == order_data(order)["consumer"]
    audit = AuditLogEntry.objects.get(action="checkout_session.completed", object_id=session.public_id)
    assert audit.after == completed
    assert audit.before == {**completed, "status": "open", "consumer": None}
    api_order = ApiClient(tenant.test_key).get(f"/api/v1/orders/{order.public_id}").json()
    assert _event("order.authorized", order.public_id).data == {**api_order, "status": "authorized"}


def test_a_new_session_is_recorded_with_no_decision_and_no_order(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)

    created = _event("checkout_session.created", session.public_id).data
    assert created == checkout_session_data(CheckoutSession.objects.get(pk=session.pk))
    assert (created["outcome"], created["approved_amount"], created["order"], created["consumer"]) == (
        None,
        None,
        None,
        None,
    )


def test_a_declined_session_is_recorded_with_the_decline_it_was_closed_on(
    tenant: Tenant,
    champion: ModelVersion,  # noqa: F811
) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    consumer = make_verified_consumer(email="bo+risky@example.com")

    prequalified = checkout_confirmation.checkout_session_prequalify(session=session, consumer=consumer)

    assert prequalified.declined
    declined = _event("checkout_session.declined", session.public_id).data
    assert declined == checkout_session_data(CheckoutSession.objects.get(pk=session.pk))
    assert (declined["status"], declined["outcome"], declined["order"]) == ("declined", "declined", None)


def test_a_card_typed_at_the_confirm_is_the_default_recorded_once_and_pays(tenant: Tenant) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=12000)
    consumer = make_verified_consumer(email="ann+clean@example.com")  # the sandbox approves a clean file
    shopper = Client()
    browser_session = shopper.session
    browser_session[SESSION_KEY] = consumer.public_id
    browser_session.save()
    path = f"/checkout/{session.public_id}"
    page = shopper.get(path).content.decode()
    product = page.split('name="product" value="', 1)[1].split('"', 1)[0]

    confirmed = shopper.post(
        f"{path}/confirm",
        {"product": product, "card_number": TEST_CARD, "exp_month": "12", "exp_year": "2035", "cvc": "123"},
    )

    assert (confirmed.status_code, confirmed["Location"]) == (302, f"{path}/approved")
    card = consumer.payment_methods.get()
    assert card.is_default
    changed = AuditLogEntry.objects.filter(action="consumer.payment_method_changed", object_id=consumer.public_id)
    assert [entry.after for entry in changed] == [
        {"consumer": consumer.public_id, "payment_method": card.public_id, "rearmed": 0}
    ]


def test_an_option_a_parallel_page_kept_first_is_governed_by_that_decision(
    tenant: Tenant,
    champion: ModelVersion,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=12000)
    consumer = make_verified_consumer(email="ann+clean@example.com")  # every option approved
    first_product = checkout_session_offers(session)[0].product
    parallel: list[CreditDecision] = []

    def decide_while_another_page_keeps_the_first_option(*, applications: list[Application]) -> list[Decision]:
        decisions = decide_many(applications=applications)
        first = next(application for application in applications if application.product == first_product)
        other = decide(application=first)  # the other page decides the first option and keeps it first
        parallel.append(CreditDecision.objects.get(public_id=other.decision_id))
        Prequalification.objects.create(
            checkout_session=session, consumer=consumer, product=first_product, decision=parallel[0]
        )
        return decisions

    monkeypatch.setattr(prequalification, "decide_many", decide_while_another_page_keeps_the_first_option)

    prequalified = checkout_confirmation.checkout_session_prequalify(session=session, consumer=consumer)

    assert prequalified.approved[0].decision.decision_id == parallel[0].public_id
    kept = Prequalification.objects.filter(checkout_session=session, consumer=consumer)
    assert kept.count() == len(checkout_session_offers(session))
    assert kept.get(product=first_product).decision == parallel[0]
    assert set(kept.values_list("decision__public_id", flat=True)) == {
        option.decision.decision_id for option in prequalified.approved
    }
