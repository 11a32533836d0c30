"""The one query a decision reads its inputs with (``decisioning.inputs``) reads what the ORM reads
it replaced read: the consumer's plans and arrears, the bank cash flow the deciding merchant may use
(``bank_data.cash_flow_for``), an approved referral of the very same application, and the model
versions in service."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django.db.models import Count, F, Q, Sum

from bnpl.core import clock, prepared
from bnpl.plans.models import Installment
from bnpl.tenancy.services import merchant_consumer_ensure
from consumers.models import Consumer, Identity
from decisioning import bank_data
from decisioning.inputs import Situation, age_on, situation_read
from decisioning.models import CreditDecision, ModelVersion
from decisioning.policy import Application
from tests.bnpl.checkout.factories import make_authorized_order, make_checkout_session, product_for
from tests.consumers.factories import make_consumer, make_verified_consumer
from tests.merchants.factories import Tenant, make_tenant

pytestmark = pytest.mark.django_db


def _application(tenant: Tenant, consumer: Consumer, *, currency: str = "USD", session: object = None) -> Application:
    return Application(
        consumer=consumer,
        merchant=tenant.merchant,
        product=product_for(tenant.merchant, False),
        amount=10000,
        currency=currency,
        livemode=False,
        checkout_session=session,
    )


def _orm_totals(consumer: Consumer, *, livemode: bool, currency: str) -> tuple[int, int, int]:
    """The installments aggregate ``policy.features_for`` ran before: owed, past due, plans in arrears."""
    overdue = Q(due_date__lt=clock.today())
    totals = Installment.objects.filter(
        plan__consumer=consumer, plan__livemode=livemode, status=Installment.Status.SCHEDULED
    ).aggregate(
        outstanding=Sum(F("amount") - F("paid_amount"), filter=Q(plan__currency=currency)),
        past_due=Count("pk", filter=overdue),
        in_arrears=Count("plan_id", filter=overdue, distinct=True),
    )
    return int(totals["outstanding"] or 0), totals["past_due"], totals["in_arrears"]


def _share(tenant: Tenant, consumer: Consumer, transactions: list[tuple[str, int, str]]) -> None:
    link = merchant_consumer_ensure(merchant=tenant.merchant, livemode=False, consumer=consumer)
    bank_data.consent_record(link=link, reference="ref", granted_at=clock.now() - dt.timedelta(days=1))
    bank_data.transactions_ingest(
        link=link,
        transactions=[
            bank_data.IncomingTransaction(external_id, "acc", clock.today(), amount, "USD", category)
            for external_id, amount, category in transactions
        ],
    )


def test_a_consumer_with_plans_in_arrears_reads_as_the_orm_reads_them(tenant: Tenant) -> None:
    consumer = make_verified_consumer(email="late@example.com")
    make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer, amount=20000)
    make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer, amount=8000)

    with time_machine.travel(clock.now() + dt.timedelta(days=40), tick=False):
        situation = situation_read(application=_application(tenant, consumer))
        expected = _orm_totals(consumer, livemode=False, currency="USD")

    assert (situation.outstanding_amount, situation.installments_past_due, situation.plans_in_arrears) == expected
    assert situation.installments_past_due >= 2 and situation.plans_in_arrears == 2
    assert situation.identity_verified and situation.age == Identity.objects.get(consumer=consumer).age_on(
        clock.today()
    )


def test_what_is_owed_is_counted_in_the_applications_currency_and_mode_only(tenant: Tenant) -> None:
    consumer = make_verified_consumer(email="owes@example.com")
    make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer, amount=20000)

    in_usd = situation_read(application=_application(tenant, consumer))
    in_eur = situation_read(application=_application(tenant, consumer, currency="EUR"))

    assert in_usd.outstanding_amount == _orm_totals(consumer, livemode=False, currency="USD")[0] > 0
    assert in_eur.outstanding_amount == 0
    assert (in_usd.installments_past_due, in_usd.plans_in_arrears) == (0, 0)


def test_a_consumer_without_identity_or_history_reads_as_unknown(tenant: Tenant) -> None:
    consumer = make_consumer(email="new@example.com")

    situation = situation_read(application=_application(tenant, consumer))

    assert situation == Situation(
        identity_verified=False,
        age=None,
        plans_in_arrears=0,
        installments_past_due=0,
        outstanding_amount=0,
        cash_flow=None,
        cash_flow_consents=(),
        reviewed_decision_id=None,
        champion_pk=None,
        challenger_pk=None,
    )


def test_the_cash_flow_is_the_one_the_deciding_merchant_may_use(tenant: Tenant) -> None:
    other = make_tenant(name="Elsewhere")
    consumer = make_verified_consumer(email="bank@example.com")
    _share(tenant, consumer, [("in", 300_000, "income"), ("out", -120_000, "other")])
    _share(other, consumer, [(f"nsf{n}", -3_500, "nsf_fee") for n in range(5)])
    situation = situation_read(application=_application(tenant, consumer))
    elsewhere = situation_read(application=_application(other, consumer))

    here = bank_data.cash_flow_for(consumer=consumer, livemode=False, currency="USD", merchant=tenant.merchant)
    there = bank_data.cash_flow_for(consumer=consumer, livemode=False, currency="USD", merchant=other.merchant)
    assert (situation.cash_flow, situation.cash_flow_consents) == (here.features, here.consents)
    assert (elsewhere.cash_flow, elsewhere.cash_flow_consents) == (there.features, there.consents)
    assert situation.cash_flow is not None and situation.cash_flow.nsf_overdraft_events == 0
    assert elsewhere.cash_flow is not None and elsewhere.cash_flow.nsf_overdraft_events == 5


def test_a_consent_widened_to_every_decision_is_read_and_a_revoked_one_is_not(tenant: Tenant) -> None:
    other = make_tenant(name="Elsewhere")
    consumer = make_verified_consumer(email="widened@example.com")
    _share(other, consumer, [("in", 250_000, "income")])
    consent = bank_data.consent_for_link(
        link=merchant_consumer_ensure(merchant=other.merchant, livemode=False, consumer=consumer)
    )
    assert consent is not None
    bank_data.consent_scope_set(consent=consent, scope="all_decisions")

    widened = situation_read(application=_application(tenant, consumer))
    bank_data.consent_revoke(consent=consent, revoked_by="consumer")
    revoked = situation_read(application=_application(tenant, consumer))

    assert widened.cash_flow_consents == (consent.public_id,) and widened.cash_flow is not None
    assert widened.cash_flow.monthly_income == 250_000
    assert (revoked.cash_flow, revoked.cash_flow_consents) == (None, ())


def test_an_approved_referral_of_the_very_same_application_is_found(tenant: Tenant) -> None:
    consumer = make_verified_consumer(email="reviewed@example.com")
    session = make_checkout_session(merchant=tenant.merchant, livemode=False)
    application = _application(tenant, consumer, session=session)

    def referral(amount: int, review_status: str) -> CreditDecision:
        return CreditDecision.objects.create(
            consumer=consumer,
            merchant=tenant.merchant,
            checkout_session=session,
            product_kind=application.product.kind,
            amount=amount,
            currency="USD",
            outcome=CreditDecision.Outcome.REFERRED,
            review_status=review_status,
            policy_version="test",
        )

    referral(application.amount, "")
    referral(application.amount + 1, CreditDecision.Review.APPROVED)
    assert situation_read(application=application).reviewed_decision_id is None

    approved = referral(application.amount, CreditDecision.Review.APPROVED)

    assert situation_read(application=application).reviewed_decision_id == approved.public_id
    assert situation_read(application=_application(tenant, consumer)).reviewed_decision_id is None


def test_the_model_versions_in_service_are_read_with_the_rest(tenant: Tenant, champion: ModelVersion) -> None:
    situation = situation_read(application=_application(tenant, make_verified_consumer(email="m@example.com")))

    assert (situation.champion_pk, situation.challenger_pk) == (champion.pk, None)


@pytest.mark.parametrize(
    ("born", "day"),
    [
        (dt.date(2000, 2, 29), dt.date(2018, 2, 28)),
        (dt.date(2000, 2, 29), dt.date(2018, 3, 1)),
        (dt.date(1990, 12, 31), dt.date(2026, 12, 30)),
        (dt.date(1990, 12, 31), dt.date(2026, 12, 31)),
    ],
)
def test_the_age_is_the_identitys_own_rule(born: dt.date, day: dt.date) -> None:
    assert age_on(born, day) == Identity(date_of_birth=born).age_on(day)


@pytest.mark.direct_connection
@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_read_is_prepared_once_per_connection_and_reads_the_same(
    tenant: Tenant, prepares: bool
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    consumer = make_verified_consumer(email="prepared@example.com")
    _share(tenant, consumer, [("in", 300_000, "income")])
    make_authorized_order(merchant=tenant.merchant, livemode=False, consumer=consumer)
    application = _application(tenant, consumer)
    with transaction.atomic():
        direct = situation_read(application=application)  # inside a transaction: never prepared
    connection.close()  # a new connection has nothing prepared yet

    with CaptureQueriesContext(connection) as first:
        first_read = situation_read(application=application)
    with CaptureQueriesContext(connection) as second:
        again = situation_read(application=application)

    assert direct == first_read == again and direct.cash_flow is not None and direct.outstanding_amount > 0
    if prepares:
        assert [query["sql"].split()[0] for query in first][-2:] == ["PREPARE", "EXECUTE"]
        assert [query["sql"].split()[0] for query in second] == ["EXECUTE"]
    else:  # SQLite, or behind a transaction pooler: the plain read each time
        assert [query["sql"].split()[0] for query in first][-1:] == ["SELECT"]
        assert [query["sql"].split()[0] for query in second] == ["SELECT"]


@pytest.mark.direct_connection
@pytest.mark.django_db(transaction=True)
def test_a_statement_gone_from_the_server_falls_back_to_the_plain_query(tenant: Tenant, prepares: bool) -> None:
    from django.db import connection

    if not prepares:
        pytest.skip("statements are prepared on PostgreSQL, not behind a transaction pooler")
    application = _application(tenant, make_verified_consumer(email="pooled@example.com"))
    expected = situation_read(application=application)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a pooler's other server connection would be
    try:
        assert situation_read(application=application) == expected
        assert situation_read(application=application) == expected
        assert prepared.stopped_on_this_connection()
    finally:
        prepared.forget()  # the next tests prepare again


@pytest.mark.django_db(transaction=True)
def test_behind_a_transaction_pooler_nothing_is_prepared(tenant: Tenant, settings: Any) -> None:
    """Outside a transaction each statement may reach another server connection through the
    pooler, so a PREPARE would be found or not depending on the pool's other clients."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.DATABASE_TRANSACTION_POOLING = True
    application = _application(tenant, make_verified_consumer(email="pooler@example.com"))
    connection.close()
    with CaptureQueriesContext(connection) as reads:
        first = situation_read(application=application)
        again = situation_read(application=application)

    assert first == again
    assert [query["sql"].split()[0] for query in reads][-2:] == ["SELECT", "SELECT"]
    assert not any(query["sql"].split()[0] in ("PREPARE", "EXECUTE") for query in reads)
