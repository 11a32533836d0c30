from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command

from bnpl.core import clock
from bnpl.core.errors import InvalidRequestError
from bnpl.core.models import AuditLogEntry, ClockState, Event
from bnpl.core.services import clock_advance
from tests.merchants.factories import make_merchant

pytestmark = pytest.mark.django_db

FROZEN = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def test_now_is_aware_utc() -> None:
    now = clock.now()
    assert now.tzinfo is dt.UTC
    assert abs(now - dt.datetime.now(tz=dt.UTC)) < dt.timedelta(seconds=5)


def test_the_clock_follows_frozen_time_in_tests() -> None:
    with time_machine.travel(FROZEN, tick=False):
        assert clock.now() == FROZEN
        assert clock.today() == dt.date(2026, 3, 1)


def test_advance_clock_command_moves_time_for_everyone_and_is_audited() -> None:
    out = StringIO()
    with time_machine.travel(FROZEN, tick=False):
        call_command("advance_clock", "--days", "14", stdout=out)
        clock.forget_cached_offset()  # as another process would see it, reading the database
        assert clock.now() == FROZEN + dt.timedelta(days=14)
        assert clock.today() == dt.date(2026, 3, 15)
        merchant = make_merchant()
        assert merchant.created_at == FROZEN + dt.timedelta(days=14)  # timestamps follow the clock
    assert ClockState.objects.get().offset_seconds == 14 * 86400
    assert "total offset 14 days" in out.getvalue()
    entry = AuditLogEntry.objects.get(action="clock.advanced")
    assert entry.before == {"offset_seconds": 0}
    assert entry.after is not None
    assert entry.after["offset_seconds"] == 14 * 86400
    assert entry.actor_kind == "operator"
    assert Event.objects.filter(type="clock.advanced", merchant__isnull=True).count() == 1


def test_offsets_accumulate() -> None:
    clock_advance(by=dt.timedelta(days=1))
    clock_advance(by=dt.timedelta(hours=6))
    assert clock.offset() == dt.timedelta(days=1, hours=6)


def test_the_clock_never_moves_backwards() -> None:
    with pytest.raises(InvalidRequestError) as raised:
        clock_advance(by=dt.timedelta(days=-1))
    assert raised.value.code == "clock_backwards"
    with pytest.raises(CommandError):
        call_command("advance_clock", "--days", "0")
    assert not ClockState.objects.exists()
    assert not AuditLogEntry.objects.filter(action="clock.advanced").exists()


def test_the_clock_moves_only_in_sandbox_mode(settings) -> None:  # type: ignore[no-untyped-def]
    settings.BNPL_SANDBOX = False
    with pytest.raises(InvalidRequestError) as raised:
        clock_advance(by=dt.timedelta(days=1))
    assert raised.value.code == "sandbox_only"
    assert clock.offset() == dt.timedelta(0)
