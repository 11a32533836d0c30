from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import TestCase

from tests.performance.world import LARGE, SMALL, World, build_world


@pytest.fixture(scope="package")
def worlds(django_db_setup: None, django_db_blocker: Any) -> Iterator[tuple[World, World]]:
    """The small and the large world, built once for the package inside a transaction that is rolled
    back after its last test (as ``TestCase.setUpTestData`` does for a class): each test runs in a
    savepoint of its own on top, so a write one test makes is gone before the next."""
    with django_db_blocker.unblock():
        atomics = TestCase._enter_atomics()  # type: ignore[attr-defined]  # setUpTestData's own mechanism
        try:
            yield build_world(SMALL), build_world(LARGE)
        finally:
            TestCase._rollback_atomics(atomics)  # type: ignore[attr-defined]
