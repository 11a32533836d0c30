"""A batch's answers (``charges_record``) are recorded by one statement whose own commit, outside a
transaction on PostgreSQL, does not wait for the disk: answers lost with the server leave their
charges pending, which the sweeper sends again under the same keys (the gateway answers a known
key with its first result). Inside a caller's transaction the commit is the caller's, left as it is."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from bnpl.payments.gateways import GatewayResult
from bnpl.payments.models import Charge
from bnpl.payments.services import charges_record
from tests.bnpl.checkout.factories import make_authorized_order
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

NOT_WAITING = "set_config('synchronous_commit', 'off', true)"


def _pending(tenant: Tenant, key: str) -> Charge:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10000)
    paid = Charge.objects.filter(kind=Charge.Kind.PAYMENT).order_by("pk").last()
    assert paid is not None
    return Charge.objects.create(
        consumer=order.consumer,
        payment_method=paid.payment_method,
        plan=order.plan,
        kind=Charge.Kind.PAYMENT,
        amount=2_500,
        currency="USD",
        status=Charge.Status.PENDING,
        idempotency_key=key,
    )


def _record(charge: Charge) -> tuple[Charge, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        answer = GatewayResult(succeeded=True, reference="ch_1")
        recorded = charges_record(charges=[charge], answers={charge.pk: answer})
    return recorded[charge.pk], [query["sql"] for query in queries.captured_queries if "UPDATE" in query["sql"]]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's synchronous_commit")
def test_answers_recorded_outside_a_transaction_do_not_wait_for_the_disk(tenant: Tenant) -> None:
    charge = _pending(tenant, "collect:answers:1")

    recorded, updates = _record(charge)

    assert [NOT_WAITING in sql for sql in updates] == [True]
    assert (recorded.status, Charge.objects.get(pk=charge.pk).status) == ("succeeded", "succeeded")
    with connection.cursor() as cursor:  # for that statement's transaction only
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)


def test_answers_recorded_in_a_callers_transaction_leave_its_commit_as_it_is(tenant: Tenant) -> None:
    charge = _pending(tenant, "collect:answers:2")

    with transaction.atomic():
        recorded, updates = _record(charge)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                assert cursor.fetchone() == ("on",)

    assert [NOT_WAITING in sql for sql in updates] == [False]
    assert Charge.objects.get(pk=charge.pk).status == recorded.status == "succeeded"
