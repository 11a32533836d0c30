"""The migration that gives existing cards and gateway customers a mode (payments 0006), run on rows
written as the schema before it had them: a card that ever paid live is live, one that paid in test
mode only is a test card, a card never charged is a test card from the sandbox and (the safe side)
live from Stripe; each consumer ends with one default card per mode."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from bnpl.payments.models import GatewayCustomer, PaymentMethod

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("payments", "0005_stripe")]
AFTER = [("payments", "0007_per_mode_required")]
_ids = itertools.count(1)


def _migrate(targets: list[tuple[str, str]]) -> Any:
    """Migrate payments to ``targets``; the models as they stand then (every other app at its newest)."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    others = [node for node in executor.loader.graph.leaf_nodes() if node[0] != "payments"]
    return executor.loader.project_state([*others, *targets]).apps


@pytest.fixture
def old_schema() -> Any:
    apps = _migrate(BEFORE)
    yield apps
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())  # every app back at its newest


def test_existing_cards_and_customers_get_an_honest_mode(old_schema: Any) -> None:
    Consumer = old_schema.get_model("consumers", "Consumer")
    Card = old_schema.get_model("payments", "PaymentMethod")
    Charge = old_schema.get_model("payments", "Charge")
    Customer = old_schema.get_model("payments", "GatewayCustomer")
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def consumer() -> Any:
        number = next(_ids)
        return Consumer.objects.create(public_id=f"con_m{number}", email=f"m{number}@example.com")

    def card(owner: Any, gateway: str, *, default: bool, modes: tuple[bool, ...] = ()) -> Any:
        number = next(_ids)
        made = Card.objects.create(
            public_id=f"pm_m{number}",
            consumer=owner,
            gateway=gateway,
            gateway_token=f"tok_{number}",
            brand="visa",
            last4="4242",
            exp_month=12,
            exp_year=2035,
            is_default=default,
            created_at=start + dt.timedelta(minutes=number),
        )
        for livemode in modes:
            Charge.objects.create(
                public_id=f"ch_m{next(_ids)}",
                consumer=owner,
                payment_method=made,
                amount=2_500,
                currency="USD",
                livemode=livemode,
                status="succeeded",
                idempotency_key=f"key-{next(_ids)}",
            )
        return made

    ada, bo, cy = consumer(), consumer(), consumer()
    test_only = card(ada, "sandbox", default=False, modes=(False,))
    both_modes = card(ada, "sandbox", default=True, modes=(False, True))  # the old code's harm: paid in both
    stripe_never = card(bo, "stripe", default=True)
    sandbox_never = card(bo, "sandbox", default=False)
    stripe_test = card(cy, "stripe", default=True, modes=(False,))
    Customer.objects.create(gateway="stripe", holder=bo.public_id, reference="cus_bo")
    Customer.objects.create(gateway="stripe", holder=cy.public_id, reference="cus_cy")
    Customer.objects.create(gateway="stripe", holder="con_nocards", reference="cus_none")

    _migrate(AFTER)

    modes = dict(PaymentMethod.objects.values_list("public_id", "livemode"))
    assert modes == {
        test_only.public_id: False,
        both_modes.public_id: True,  # it took real money once: never test mode again
        stripe_never.public_id: True,  # the key it was saved with is unknown: kept out of test mode
        sandbox_never.public_id: False,
        stripe_test.public_id: False,
    }
    defaults = set(PaymentMethod.objects.filter(is_default=True).values_list("public_id", flat=True))
    assert defaults == {
        both_modes.public_id,
        test_only.public_id,
        stripe_never.public_id,
        sandbox_never.public_id,
        stripe_test.public_id,
    }
    customers = dict(GatewayCustomer.objects.values_list("reference", "livemode"))
    assert customers == {"cus_bo": True, "cus_cy": False, "cus_none": True}
