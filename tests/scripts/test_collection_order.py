"""The slow tests are collected first (tests/conftest.py), so that pytest-xdist never leaves one
for last, run alone while the other workers stand idle."""

from __future__ import annotations

from tests.helpers import collected_tests

MONEY = "tests/bnpl/core/test_money.py"  # fast tests only
DEMO = "tests/test_demo.py"  # one slow test (the demo's history) among fast ones
HISTORY = f"{DEMO}::test_the_demo_merchant_has_a_history_that_agrees_with_the_ledger"


def test_a_slow_test_is_collected_before_every_other() -> None:
    collected = collected_tests(MONEY, DEMO)
    assert collected[0] == HISTORY  # neither file's first test: in any order of the two, only the sort puts it there
    assert collected.count(HISTORY) == 1
    assert any(test.startswith(MONEY) for test in collected) and len(collected) > 10
