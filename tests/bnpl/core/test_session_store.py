"""The session store: Django's database sessions, read by a statement compiled once per process."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db.models.sql.compiler import SQLCompiler
from django.utils import timezone

from bnpl.core.session_store import SessionStore
from tests.helpers import compilations

pytestmark = pytest.mark.django_db


def _saved(**data: Any) -> str:
    store = SessionStore()
    store.update(data)
    store.save()
    assert store.session_key
    return store.session_key


def test_the_session_store_is_the_one_the_project_uses() -> None:
    assert settings.SESSION_ENGINE == "bnpl.core.session_store"


def test_a_saved_session_is_read_back_and_an_unknown_or_expired_one_is_empty() -> None:
    key = _saved(consumer_public_id="con_1")
    expired = _saved(consumer_public_id="con_2")
    Session.objects.filter(session_key=expired).update(expire_date=timezone.now() - dt.timedelta(seconds=1))

    read, gone, unknown = SessionStore(key), SessionStore(expired), SessionStore("x" * 32)

    assert read["consumer_public_id"] == "con_1" and read.session_key == key
    assert dict(gone.items()) == {} and gone.session_key is None  # as Django's: a new key on the next save
    assert dict(unknown.items()) == {} and unknown.session_key is None


def test_reading_a_session_compiles_no_select(monkeypatch: pytest.MonkeyPatch) -> None:
    key = _saved(consumer_public_id="con_1")
    SessionStore(key).load()  # the first read compiles this process's statement
    compiled = compilations(monkeypatch, SQLCompiler)

    assert SessionStore(key).load() == {"consumer_public_id": "con_1"}
    assert compiled == []  # Django's own store compiles its SELECT on every request
