"""The app's tokens under concurrency (PostgreSQL: SQLite serialises every writer): parallel refreshes
of one refresh token rotate it once and treat the others as reuse, so no two parties ever hold live
tokens of one sign-in; parallel first sign-ins of one consumer trust exactly one device."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.db import connection, transaction

from bnpl.core.errors import ApplicationError
from consumers.devices import device_register
from consumers.models import Device, RefreshTokenFamily
from consumers.token_families import family_refresh, family_start
from tests.consumers.factories import make_consumer


def _in_parallel(count: int, call: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(count)

    def run(_: int) -> Any:
        barrier.wait()
        try:
            return call()
        except ApplicationError as error:
            return error
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_refreshes_of_one_token_rotate_once_and_revoke_the_family() -> None:
    consumer = make_consumer()
    with transaction.atomic():
        device, _ = device_register(consumer=consumer, name="Phone", platform="ios")
        pair = family_start(consumer=consumer, device=device)

    outcomes = _in_parallel(4, lambda: family_refresh(refresh_token=pair.refresh_token))

    rotated = [outcome for outcome in outcomes if getattr(outcome, "pair", None) is not None]
    reused = [outcome for outcome in outcomes if getattr(outcome, "pair", "x") is None]
    refused = [outcome.code for outcome in outcomes if isinstance(outcome, ApplicationError)]
    # One rotates; the next finds the token retired and revokes the family; any later one finds it revoked.
    assert (len(rotated), len(reused), refused) == (1, 1, ["token_revoked"] * 2)
    family = RefreshTokenFamily.objects.get()
    assert (family.generation, family.revoked_reason) == (2, "reuse_detected")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_registrations_trust_exactly_one_first_device() -> None:
    consumer = make_consumer()

    def register() -> Device:
        with transaction.atomic():
            type(consumer).objects.select_for_update().get(pk=consumer.pk)  # as the sign-in locks the consumer
            device, _ = device_register(consumer=consumer, name="Phone", platform="ios")
            return device

    _in_parallel(4, register)

    assert sorted(Device.objects.values_list("status", flat=True)) == ["pending", "pending", "pending", "trusted"]
