"""Factories for users (merchant team members and staff alike)."""

from __future__ import annotations

import itertools
from typing import Any

from bnpl.accounts.models import User

_sequence = itertools.count(1)


def make_user(*, email: str | None = None, password: str = "pw-for-tests-1", **flags: Any) -> User:
    return User.objects.create_user(email or f"user{next(_sequence)}@example.com", password, **flags)
