"""``pytest --unwrapped-only`` (``make test-pooled-unwrapped``, CI's pass through PgBouncer) keeps
exactly the tests that commit to the test database -- ``django_db(transaction=True)``,
``transactional_db``, live servers -- and leaves out those wrapped in one transaction and those that
use no database, which a transaction-mode pooler cannot change."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = [
    "tests/bnpl/core/test_money.py",  # no database
    "tests/bnpl/api/test_idempotency.py",  # wrapped, and one test with transaction=True
    "tests/e2e/test_sandbox_inbox.py",  # a live server
]


def test_only_the_tests_that_commit_are_kept() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "--unwrapped-only", *FILES],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    kept = {line for line in result.stdout.splitlines() if "::" in line}
    assert {test.split("::")[0] for test in kept} == {"tests/bnpl/api/test_idempotency.py", FILES[2]}
    assert {test for test in kept if test.startswith("tests/bnpl/api/")} == {
        "tests/bnpl/api/test_idempotency.py::test_fifty_parallel_requests_with_one_key_create_exactly_one_object"
    }
    assert len([test for test in kept if test.startswith(FILES[2])]) >= 2  # the inbox at two widths
