"""Outbox listeners hear once per committed transaction, with every event it wrote, and never about
work that rolled back."""

from __future__ import annotations

import pytest
from django.db import transaction

from bnpl.core import outbox
from bnpl.core.models import Event
from merchants.services import merchant_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_one_call_per_transaction_with_all_its_events(outbox_heard: list[list[int]]) -> None:
    with transaction.atomic():
        first = merchant_create(name="One")
        second = merchant_create(name="Two")

    events = list(
        Event.objects.filter(object_id__in=[first.public_id, second.public_id])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert len(events) == 2
    assert outbox_heard == [events]


def test_a_rolled_back_transaction_is_not_heard_and_the_next_one_is(outbox_heard: list[list[int]]) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        merchant_create(name="Gone")
        raise RuntimeError("roll back")
    with transaction.atomic():
        kept = merchant_create(name="Kept")

    assert outbox_heard == [[Event.objects.get(object_id=kept.public_id).pk]]


def test_an_event_written_outside_a_transaction_is_heard_at_once(outbox_heard: list[list[int]]) -> None:
    kept = merchant_create(name="Kept")
    event = Event.objects.create(
        type="merchant.updated", object_type="merchants.merchant", object_id=kept.public_id, data={}
    )

    outbox.notify_after_commit(event.pk)

    assert outbox_heard[-1] == [event.pk]


def test_an_event_of_a_type_no_listener_wants_is_handed_to_none() -> None:
    calls: list[list[int]] = []

    def listener(event_ids: list[int]) -> None:
        calls.append(event_ids)

    saved = list(outbox._listeners)
    outbox._listeners.clear()
    outbox.register_listener(listener, wants=lambda event_type: event_type == "merchant.updated")
    try:
        with transaction.atomic():
            outbox.notify_after_commit(1, event_type="credit_decision.approved")
        with transaction.atomic():
            outbox.notify_after_commit(2, event_type="merchant.updated")
            outbox.notify_after_commit(3)  # the writer did not say: every listener hears it
    finally:
        outbox._listeners[:] = saved
        outbox._interests.pop(listener, None)

    assert calls == [[2, 3]]
