"""Outbox listeners hear once per committed transaction, with every event it wrote, and never about
work that rolled back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from bnpl.core import outbox
from bnpl.core.models import Event
from merchants.services import merchant_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def heard() -> Iterator[list[list[int]]]:
    calls: list[list[int]] = []

    def listener(event_ids: list[int]) -> None:
        calls.append(event_ids)

    outbox.register_listener(listener)
    try:
        yield calls
    finally:
        outbox._listeners.remove(listener)


def test_one_call_per_transaction_with_all_its_events(heard: list[list[int]]) -> None:
    with transaction.atomic():
        first = merchant_create(name="One")
        second = merchant_create(name="Two")

    events = list(
        Event.objects.filter(object_id__in=[first.public_id, second.public_id])
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert len(events) == 2
    assert heard == [events]


def test_a_rolled_back_transaction_is_not_heard_and_the_next_one_is(heard: list[list[int]]) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        merchant_create(name="Gone")
        raise RuntimeError("roll back")
    with transaction.atomic():
        kept = merchant_create(name="Kept")

    assert heard == [[Event.objects.get(object_id=kept.public_id).pk]]
