"""Django's database sessions, with the one read every request of a signed-in browser makes (the
session by its key, unexpired) compiled once per process (``bnpl.core.compiled``) on PostgreSQL
instead of by the ORM on every request. Everything else -- writes, rotation, expiry -- is Django's
own ``django.contrib.sessions.backends.db``."""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.utils import timezone

from bnpl.core.compiled import MARKERS, MOMENT_MARKERS, CompiledSelect

_UNEXPIRED: CompiledSelect[Session] = CompiledSelect(
    lambda session_key, now: Session.objects.filter(session_key=session_key, expire_date__gt=now)[:1],
    markers=(MARKERS[0], MOMENT_MARKERS[0]),  # the session's key, and now (the expiry's bound)
)


class SessionStore(DatabaseSessionStore):
    def _get_session_from_db(self) -> Any:  # Django's own method, absent from its stubs
        if connection.vendor != "postgresql":  # the marker for a time is compiled as text elsewhere
            return super()._get_session_from_db()  # type: ignore[misc]  # Django's, unstubbed
        found = _UNEXPIRED.first(self.session_key, timezone.now())
        if found is None:
            self._session_key = None
        return found
