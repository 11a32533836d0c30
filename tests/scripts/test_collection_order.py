"""The slow tests are collected first (tests/conftest.py), so that pytest-xdist never leaves one
for last, run alone while the other workers stand idle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MONEY = "tests/bnpl/core/test_money.py"  # fast tests only
DEMO = "tests/test_demo.py"  # one slow test (the demo's history) among fast ones
HISTORY = f"{DEMO}::test_the_demo_merchant_has_a_history_that_agrees_with_the_ledger"


def test_a_slow_test_is_collected_before_every_other() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", MONEY, DEMO],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "bnpl.settings.test"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    collected = [line for line in result.stdout.splitlines() if "::" in line]
    assert collected[0] == HISTORY  # neither file's first test: in any order of the two, only the sort puts it there
    assert collected.count(HISTORY) == 1
    assert any(test.startswith(MONEY) for test in collected) and len(collected) > 10
