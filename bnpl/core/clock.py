"""The project clock: the one place code reads the time.

``now()`` is aware UTC: the real time plus a persisted sandbox offset. In sandbox mode an operator
moves the clock forward (``manage.py advance_clock --days N`` or the admin button) to watch
reminders, collections, late fees, expiry and charge-off happen. The offset lives in the database so
the web process and every Celery worker agree; each process caches it for ``CACHE_SECONDS``.
Tests freeze or move time with ``time-machine`` instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import threading
import time

from django.apps import apps
from django.conf import settings
from django.db import OperationalError, ProgrammingError

UTC = dt.UTC
CACHE_SECONDS = 1.0

_lock = threading.Lock()
_cached_offset: dt.timedelta | None = None
_cached_at = 0.0


def real_now() -> dt.datetime:
    return dt.datetime.now(tz=UTC)


def offset() -> dt.timedelta:
    """The sandbox offset; always zero outside the sandbox, whatever the database holds (a copy of
    a demo database in production must not move production's time)."""
    global _cached_offset, _cached_at
    if not settings.BNPL_SANDBOX:
        return dt.timedelta(0)
    monotonic = time.monotonic()
    with _lock:
        if _cached_offset is not None and monotonic - _cached_at < CACHE_SECONDS:
            return _cached_offset
    # By the app registry, not an import: the models take their timestamps from this clock.
    clock_state = apps.get_model("core", "ClockState")
    try:
        state = clock_state.objects.filter(pk=clock_state.SINGLETON_ID).first()
    except (OperationalError, ProgrammingError):
        return dt.timedelta(0)  # the table does not exist yet (before the first migrate)
    value = dt.timedelta(seconds=state.offset_seconds) if state else dt.timedelta(0)
    with _lock:
        _cached_offset, _cached_at = value, monotonic
    return value


def now() -> dt.datetime:
    """Aware UTC now, shifted by the sandbox offset."""
    return real_now() + offset()


def today() -> dt.date:
    """Today's date in UTC by the project clock (due dates are UTC dates)."""
    return now().date()


def forget_cached_offset() -> None:
    global _cached_offset
    with _lock:
        _cached_offset = None
