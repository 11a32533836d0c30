"""What one ``decide()`` costs the database: one query to read what it needs (the policy's inputs,
an approved referral, the model versions in service) and one statement to write the decision with
its audit row and its event, however long the consumer's history and whatever the outcome; outside
a transaction, as a checkout decides, both are statements the connection prepared once."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bnpl.core import clock, prepared
from bnpl.core.models import AuditLogEntry, Event
from bnpl.tenancy.services import merchant_consumer_ensure
from decisioning import bank_data, decide, decide_many, registry, training
from decisioning.models import CreditDecision, ModelVersion
from decisioning.policy import Application, Decision
from decisioning.registry import ModelUnavailableError
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session, product_for
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

# PostgreSQL: the read, then the write (one WITH … INSERT statement). Elsewhere the write is three
# INSERTs in the transaction already open (the test's).
READ_AND_WRITE = 2 if connection.vendor == "postgresql" else 4


def _application(tenant: Tenant, consumer: Any, amount: int = 10000) -> Application:
    return Application(
        consumer=consumer,
        merchant=tenant.merchant,
        product=product_for(tenant.merchant, False),
        amount=amount,
        currency="USD",
        livemode=False,
        checkout_session=make_checkout_session(merchant=tenant.merchant, livemode=False),
    )


_last_queries: list[dict[str, Any]] = []  # what the last ``_counted`` decision ran


def _counted(application: Application) -> tuple[int, Decision]:
    clock.now()  # the sandbox clock's offset is read at most once a second: not part of a decision
    with CaptureQueriesContext(connection) as queries:
        decision = decide(application=application)
    _last_queries[:] = queries.captured_queries
    return len(queries), decision


def _with_bank_data(tenant: Tenant, consumer: Any) -> None:
    link = merchant_consumer_ensure(merchant=tenant.merchant, livemode=False, consumer=consumer)
    bank_data.consent_record(link=link, reference="ref", granted_at=clock.now() - dt.timedelta(days=1))
    bank_data.transactions_ingest(
        link=link,
        transactions=[
            bank_data.IncomingTransaction("in", "acc", clock.today(), 400_000, "USD", "income"),
            bank_data.IncomingTransaction("out", "acc", clock.today(), -150_000, "USD", "other"),
        ],
    )


@pytest.fixture
def with_challenger(champion: ModelVersion, credit_model: training.TrainedModel) -> ModelVersion:
    return registry.model_promote(
        model_version=registry.register_model(name="credit", trained=credit_model), to=ModelVersion.Status.CHALLENGER
    )


def test_a_decision_reads_once_and_writes_once(tenant: Tenant, with_challenger: ModelVersion) -> None:
    consumer = make_verified_consumer(email="ann+clean@example.com")
    _with_bank_data(tenant, consumer)
    decide(application=_application(tenant, make_verified_consumer()))  # loads both models once

    count, decision = _counted(_application(tenant, consumer))

    assert count == READ_AND_WRITE
    stored = CreditDecision.objects.get(public_id=decision.decision_id)
    assert decision.approved and stored.challenger_version == with_challenger and stored.cash_flow
    assert AuditLogEntry.objects.filter(object_id=stored.public_id, action="credit_decision.approved").count() == 1
    assert Event.objects.filter(object_id=stored.public_id, type="credit_decision.approved").count() == 1


def test_a_decline_with_the_models_reasons_costs_the_same(tenant: Tenant, champion: ModelVersion) -> None:
    decide(application=_application(tenant, make_verified_consumer()))

    count, decision = _counted(_application(tenant, make_verified_consumer(email="bo+risky@example.com")))

    assert count == READ_AND_WRITE
    assert not decision.approved and decision.reasons
    assert CreditDecision.objects.get(public_id=decision.decision_id).reasons == [
        {"code": reason.code, "text": reason.text} for reason in decision.reasons
    ]


def test_the_cost_does_not_grow_with_the_consumers_history(tenant: Tenant, champion: ModelVersion) -> None:
    consumer = make_verified_consumer(email="cy+clean@example.com")
    _with_bank_data(tenant, consumer)
    decide(application=_application(tenant, make_verified_consumer()))
    first, _ = _counted(_application(tenant, consumer))

    for _ in range(3):
        make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer, amount=5000)
    for _ in range(5):
        decide(application=_application(tenant, consumer))
    later, decision = _counted(_application(tenant, consumer))

    assert first == later == READ_AND_WRITE
    assert CreditDecision.objects.filter(consumer=consumer).count() == 10
    assert decision.approved


def test_the_policy_alone_costs_the_same_and_never_loads_a_model(tenant: Tenant) -> None:
    count, decision = _counted(_application(tenant, make_verified_consumer(), amount=1))

    assert count == READ_AND_WRITE
    assert [reason.code for reason in decision.reasons] == ["amount_out_of_range"]


@pytest.mark.direct_connection
@pytest.mark.django_db(transaction=True)
def test_as_a_checkout_decides_outside_a_transaction_it_runs_two_prepared_statements(
    tenant: Tenant, champion: ModelVersion, is_postgres: bool, prepares: bool
) -> None:
    decide(application=_application(tenant, make_verified_consumer()))  # the connection prepares both
    consumer = make_verified_consumer(email="dee+clean@example.com")
    _with_bank_data(tenant, consumer)

    count, decision = _counted(_application(tenant, consumer))

    stored = CreditDecision.objects.get(public_id=decision.decision_id)
    assert decision.approved and stored.cash_flow and stored.model_version == champion
    assert AuditLogEntry.objects.filter(object_id=stored.public_id, action="credit_decision.approved").count() == 1
    assert Event.objects.filter(object_id=stored.public_id, type="credit_decision.approved").count() == 1
    statements = [query["sql"].split()[0].upper() for query in _last_queries]
    if prepares:
        assert count == 2 and statements == ["EXECUTE", "EXECUTE"]
    elif is_postgres:  # behind a transaction pooler: the same two statements, unprepared
        assert count == 2 and statements == ["SELECT", "WITH"]
    else:  # the read, then the three INSERTs in a transaction of their own
        assert count == 6 and statements == ["SELECT", "BEGIN", "INSERT", "INSERT", "INSERT", "COMMIT"]


@pytest.mark.direct_connection
@pytest.mark.django_db(transaction=True)
def test_with_its_statements_gone_from_the_server_a_decision_is_still_written_once(
    tenant: Tenant, champion: ModelVersion, prepares: bool
) -> None:
    if not prepares:
        pytest.skip("statements are prepared on PostgreSQL, not behind a transaction pooler")
    decide(application=_application(tenant, make_verified_consumer()))
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's other server connection would be
    consumer = make_verified_consumer(email="eve+clean@example.com")
    try:
        first = decide(application=_application(tenant, consumer))
        count, second = _counted(_application(tenant, consumer))

        assert prepared.stopped_on_this_connection() and count == 2
        assert [query["sql"].split()[0] for query in _last_queries] == ["SELECT", "WITH"]
    finally:
        prepared.forget()  # the next tests prepare again
    for decision in (first, second):
        assert decision.approved
        assert CreditDecision.objects.filter(public_id=decision.decision_id).count() == 1
        assert AuditLogEntry.objects.filter(object_id=decision.decision_id).count() == 1
        assert Event.objects.filter(object_id=decision.decision_id).count() == 1


def test_decisions_made_together_read_each_and_write_once(tenant: Tenant, champion: ModelVersion) -> None:
    decide(application=_application(tenant, make_verified_consumer()))
    consumer = make_verified_consumer(email="fay+clean@example.com")
    _with_bank_data(tenant, consumer)
    applications = [_application(tenant, consumer, amount) for amount in (10_000, 1, 20_000)]
    alone = [decide(application=application) for application in applications]
    clock.now()

    with CaptureQueriesContext(connection) as queries:
        together = decide_many(applications=applications)

    assert len(queries) == 3 + (READ_AND_WRITE - 1) * (1 if connection.vendor == "postgresql" else 3)
    assert [(d.approved, d.reasons, d.down_payment_amount) for d in together] == [
        (d.approved, d.reasons, d.down_payment_amount) for d in alone
    ]
    assert len({d.decision_id for d in together + alone}) == 6
    for decision in together:
        stored = CreditDecision.objects.get(public_id=decision.decision_id)
        assert stored.consumer == consumer
        assert (
            AuditLogEntry.objects.filter(object_id=stored.public_id, action=f"credit_decision.{stored.outcome}").count()
            == 1
        )
        assert Event.objects.filter(object_id=stored.public_id, type=f"credit_decision.{stored.outcome}").count() == 1


def test_decisions_made_together_are_kept_all_or_none(tenant: Tenant, settings: Any) -> None:
    settings.CREDIT_MODEL_REQUIRED = True  # no champion here: an application the policy passes cannot be decided
    consumer = make_verified_consumer()
    policy_declines, needs_the_model = _application(tenant, consumer, 1), _application(tenant, consumer)

    with pytest.raises(ModelUnavailableError):
        decide_many(applications=[policy_declines, needs_the_model])

    assert not CreditDecision.objects.filter(consumer=consumer).exists()
    assert [d.reasons[0].code for d in decide_many(applications=[policy_declines])] == ["amount_out_of_range"]
