"""How CI splits the suite between a direct connection and PgBouncer (.ci/run, docs/scaling.md).

``pytest --unwrapped-only`` (``make test-pooled-unwrapped``) keeps exactly the tests that commit to
the test database -- ``django_db(transaction=True)``, ``transactional_db``, live servers -- and
leaves out those wrapped in one transaction and those that use no database, which a
transaction-mode pooler cannot change. ``--skip-unwrapped`` (the direct pass) keeps the rest, and
of the tests that commit only those marked ``direct_connection``."""

from __future__ import annotations

from tests.helpers import collected_tests

MONEY = "tests/bnpl/core/test_money.py"  # no database
IDEMPOTENCY = "tests/bnpl/api/test_idempotency.py"  # wrapped, and one test with transaction=True
INBOX = "tests/e2e/test_sandbox_inbox.py"  # a live server, at two widths
DECIDE = "tests/decisioning/test_decide_queries.py"  # wrapped, and two prepared-statement tests marked
PARALLEL = f"{IDEMPOTENCY}::test_fifty_parallel_requests_with_one_key_create_exactly_one_object"
PREPARED = {
    f"{DECIDE}::test_as_a_checkout_decides_outside_a_transaction_it_runs_two_prepared_statements",
    f"{DECIDE}::test_with_its_statements_gone_from_the_server_a_decision_is_still_written_once",
}


def _collected(option: str) -> set[str]:
    return set(collected_tests(option, MONEY, IDEMPOTENCY, INBOX, DECIDE))


def test_the_pooled_pass_keeps_only_the_tests_that_commit() -> None:
    kept = _collected("--unwrapped-only")
    assert {test.split("::")[0] for test in kept} == {IDEMPOTENCY, INBOX, DECIDE}
    assert {test for test in kept if test.startswith(IDEMPOTENCY)} == {PARALLEL}
    assert {test for test in kept if test.startswith(DECIDE)} == PREPARED
    assert len([test for test in kept if test.startswith(INBOX)]) == 2


def test_the_direct_pass_keeps_the_rest_and_the_tests_marked_direct_connection() -> None:
    kept = _collected("--skip-unwrapped")
    assert {test.split("::")[0] for test in kept} == {MONEY, IDEMPOTENCY, DECIDE}
    assert PARALLEL not in kept and kept >= PREPARED
    assert len([test for test in kept if test.startswith(IDEMPOTENCY)]) > 5
