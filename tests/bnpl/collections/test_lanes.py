"""A worker's collections lanes (``COLLECTIONS_LANES``): several claim-charge-settle loops in one
process, each on its own database connection, sharing the work as separate workers do -- every
installment charged once, several payments on one plan still applied one after another.

Transactional tests: the lanes' own connections see only committed rows (as in production)."""

from __future__ import annotations

import datetime as dt
import itertools
import threading

import pytest

from bnpl.collections import services
from bnpl.collections.models import CollectionAttempt
from bnpl.core.models import AuditLogEntry
from bnpl.core.services import clock_advance
from bnpl.payments.models import SandboxGatewayCharge
from bnpl.plans.models import Plan
from tests.bnpl.checkout.factories import make_authorized_order
from tests.helpers import ledger_ok
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

PLANS = 8  # pay in 4, 60 days on: the three installments after the first are due on each


@pytest.fixture
def claims(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The thread that claimed each batch, in the order they were claimed (the claim itself runs)."""
    claimed_by: list[str] = []
    claim = services._claim

    def watched(limit: int) -> services._Batch | None:
        batch = claim(limit)
        if batch is not None:
            claimed_by.append(threading.current_thread().name)
        return batch

    monkeypatch.setattr(services, "_claim", watched)
    return claimed_by


def _plans_with_three_installments_due(tenant: Tenant) -> list[Plan]:
    plans = [make_authorized_order(merchant=tenant.merchant, livemode=False).plan for _ in range(PLANS)]
    clock_advance(by=dt.timedelta(days=60))
    assert services.due_installments().count() == 3 * PLANS
    return plans


@pytest.fixture
def two_lanes(settings) -> None:  # type: ignore[no-untyped-def]
    settings.COLLECTIONS_LANES = 2
    settings.COLLECTIONS_GATEWAY_CONCURRENCY = 4
    settings.SANDBOX_GATEWAY_LATENCY_MS = 20  # a batch in flight for a while: the other lane claims meanwhile


@pytest.mark.usefixtures("two_lanes")
def test_two_lanes_share_the_work_and_charge_each_installment_once(tenant: Tenant, claims: list[str]) -> None:
    plans = _plans_with_three_installments_due(tenant)

    result = services.collections_run(batch_size=4)

    assert (result.claimed, result.succeeded, result.failed, result.pending) == (3 * PLANS, 3 * PLANS, 0, 0)
    assert len(set(claims)) == 2, claims  # this thread and the other lane's
    for plan in plans:
        keys = SandboxGatewayCharge.objects.filter(idempotency_key__startswith=f"collect:{plan.public_id}:")
        assert sorted((row.idempotency_key, row.succeeded) for row in keys) == [
            (f"collect:{plan.public_id}:{sequence}:1", True) for sequence in (2, 3, 4)
        ]
        assert Plan.objects.get(pk=plan.pk).status == Plan.Status.PAID
        history = list(
            AuditLogEntry.objects.filter(action="plan.payment_succeeded", object_id=plan.public_id).order_by("id")
        )
        assert len(history) == 3
        for earlier, later in itertools.pairwise(history):  # one payment after another, whichever lane
            assert later.before == earlier.after
    assert not CollectionAttempt.objects.exclude(status="succeeded").exists()
    assert ledger_ok()


def test_lanes_must_be_at_least_one(settings) -> None:  # type: ignore[no-untyped-def]
    settings.COLLECTIONS_LANES = 0

    with pytest.raises(ValueError, match="COLLECTIONS_LANES"):
        services.collections_run()
