"""A decision is written as one statement (``bnpl.core.inserts.insert_rows``): the decision, its audit row and its
event, all or none; outside any transaction it commits on its own and the outbox's listeners hear of
its event at once (webhooks ignore it: credit decisions are not merchant-visible)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError

from bnpl.core import inserts
from bnpl.core.ids import generate_public_id
from bnpl.core.models import AuditLogEntry, Event
from bnpl.core.services import change_rows
from decisioning import decide
from decisioning.models import CreditDecision
from merchants import webhooks
from tests.bnpl.checkout.factories import application_for
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("durable", [True, False])
def test_a_decision_outside_any_transaction_is_committed_and_heard(
    tenant: Tenant, outbox_heard: list[list[int]], settings: object, durable: bool
) -> None:
    settings.CREDIT_DECISION_DURABLE_COMMIT = durable  # type: ignore[attr-defined]
    application = application_for(tenant, email="di@example.com")
    outbox_heard.clear()  # what making the consumer and the session wrote

    decision = decide(application=application)

    stored = CreditDecision.objects.get(public_id=decision.decision_id)
    event = Event.objects.get(object_id=stored.public_id)
    audit = AuditLogEntry.objects.get(object_id=stored.public_id)
    assert outbox_heard == [[event.pk]]
    assert event.type == audit.action == f"credit_decision.{stored.outcome}"
    assert event.data == audit.after and event.data["id"] == stored.public_id
    assert (event.merchant_id, event.livemode, audit.merchant_id) == (tenant.merchant.pk, False, tenant.merchant.pk)
    assert (audit.object_type, audit.actor_kind, audit.before) == ("decisioning.creditdecision", "system", None)
    assert stored.updated_at >= stored.created_at and event.public_id.startswith("evt_")


def test_the_rows_are_written_all_or_none(tenant: Tenant, outbox_heard: list[list[int]]) -> None:
    application = application_for(tenant, email="di@example.com")
    taken = decide(application=application)
    record = CreditDecision(
        public_id=generate_public_id(CreditDecision.PUBLIC_ID_PREFIX),
        consumer=application.consumer,
        merchant=application.merchant,
        product_kind="pay_in_4",
        amount=100,
        currency="USD",
        outcome=CreditDecision.Outcome.APPROVED,
        policy_version="test",
    )
    audit, event = change_rows(action="credit_decision.approved", instance=record, data={"id": record.public_id})
    event.public_id = Event.objects.get(object_id=taken.decision_id).public_id  # already used: the insert fails
    outbox_heard.clear()

    with pytest.raises(IntegrityError):
        inserts.insert_rows([record, audit, event])

    assert not CreditDecision.objects.filter(public_id=record.public_id).exists()
    assert not AuditLogEntry.objects.filter(object_id=record.public_id).exists()
    assert outbox_heard == []


def test_webhooks_never_hear_of_credit_decisions() -> None:
    assert not webhooks.may_want("credit_decision.approved")
    assert not webhooks.may_want("credit_decision.declined")
    assert webhooks.may_want("order.authorized") and webhooks.may_want("not.in.the.catalogue")
