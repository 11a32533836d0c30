"""Saving a card (the checkout's typed card on every purchase): the mode's default is cleared and
the new card written as the default, what waited for a card is re-armed -- by statements compiled
once per process (``bnpl.core.compiled``), which change the rows the ORM's queries name."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models.sql.compiler import SQLUpdateCompiler

from bnpl.collections import services as collections
from bnpl.core.models import AuditLogEntry, Event
from bnpl.core.services import clock_advance
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.payments.services import installments_waiting_for_card, payment_method_add
from bnpl.plans.models import Installment
from tests.bnpl.checkout.factories import make_authorized_order
from tests.consumers.factories import make_verified_consumer
from tests.helpers import compilations
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

NEEDS_AUTHENTICATION = "4000 0025 0000 3155"


def _add(consumer, number: str = "4242424242424242") -> PaymentMethod:  # type: ignore[no-untyped-def]
    return payment_method_add(consumer=consumer, livemode=False, number=number, exp_month=12, exp_year=2035, cvc="123")


def test_the_re_arming_changes_exactly_the_installments_waiting_for_a_card(tenant: Tenant) -> None:
    consumer = make_verified_consumer()
    first = make_authorized_order(
        merchant=tenant.merchant, livemode=False, consumer=consumer, card=NEEDS_AUTHENTICATION
    )
    second = make_authorized_order(
        merchant=tenant.merchant, livemode=False, consumer=consumer, card=NEEDS_AUTHENTICATION
    )
    other = make_authorized_order(merchant=tenant.merchant, livemode=False, card=NEEDS_AUTHENTICATION)
    clock_advance(by=dt.timedelta(days=14))
    assert collections.collections_run().failed == 3  # each plan's second installment stops for the consumer
    card = PaymentMethod.objects.filter(consumer=consumer).latest("id")
    Charge.objects.create(  # a payment in flight on the second plan may cover it: not re-armed
        consumer=consumer,
        payment_method=card,
        plan=second.plan,
        kind=Charge.Kind.PAYMENT,
        amount=100,
        currency="USD",
        livemode=False,
        status=Charge.Status.PENDING,
        idempotency_key="in-flight",
    )
    waiting = set(installments_waiting_for_card(consumer=consumer, livemode=False).values_list("pk", flat=True))
    stopped = set(Installment.objects.filter(collect_on__isnull=True).values_list("pk", flat=True))

    _add(consumer)

    rearmed = stopped - set(Installment.objects.filter(collect_on__isnull=True).values_list("pk", flat=True))
    assert rearmed == waiting == {first.plan.installments.get(sequence=2).pk}
    assert Installment.objects.get(plan=other.plan, sequence=2).collect_on is None  # another shopper's
    assert Event.objects.filter(type="consumer.payment_method_changed").latest("id").data["rearmed"] == 1


def test_a_new_card_is_its_mode_s_only_default_and_is_written_with_its_record(tenant: Tenant) -> None:
    consumer = make_verified_consumer()
    old = _add(consumer)

    new = _add(consumer, "4242424242424242")

    defaults = PaymentMethod.objects.filter(consumer=consumer, livemode=False, is_default=True)
    assert [card.pk for card in defaults] == [new.pk] and new.is_default
    changed = AuditLogEntry.objects.filter(action="consumer.payment_method_changed").latest("id")
    assert changed.after is not None and changed.after["payment_method"] == new.public_id != old.public_id
    assert PaymentMethod.objects.get(public_id=new.public_id).pk == new.pk


def test_saving_a_card_compiles_no_update(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    consumer = make_verified_consumer()
    _add(consumer)  # the first save compiles this process's statements
    compiled = compilations(monkeypatch, SQLUpdateCompiler)

    _add(consumer, "4242424242424242")

    assert compiled == []  # before: three UPDATEs compiled on every save (two defaults, the re-arming)
