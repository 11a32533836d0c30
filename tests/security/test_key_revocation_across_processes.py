"""Finding: caching the API key lookup must not keep a revoked key or a suspended merchant working.

Every partner API request used to read its key and merchant from the database; they are now cached
per process (half a second at most) and, on Redis, in an entry every process shares. The rule: a
revoked key or a suspended merchant is refused within one second on *every* process. These tests
run a real second web process (tests/bnpl/api/api_process.py) with its own memory, whose clock
stands still until the test moves it, and change keys and merchants from this one.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, transaction

from bnpl.tenancy.keys import MEMO_SECONDS, api_key_hash
from merchants import services
from merchants.models import ApiKey
from tests.merchants.factories import Tenant, make_tenant

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "/api/v1/account"


class OtherProcess:
    """A second web process on this test's database and cache."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bnpl.api.api_process", str(connection.settings_dict["NAME"])],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._answer() == {"ready": True}

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the other process ended"
        return dict(json.loads(line))

    def _ask(self, command: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def get(self, token: str) -> tuple[int, int]:
        """(status, database queries) of ``GET /api/v1/account`` with ``token``."""
        answer = self._ask({"get": ACCOUNT, "token": token})
        return answer["status"], answer["queries"]

    def wait(self, seconds: float) -> None:
        """Move the other process's clock forward (no test waits for real)."""
        self._ask({"shift": seconds})

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def other_process() -> Iterator[OtherProcess]:
    process = OtherProcess()
    try:
        yield process
    finally:
        process.close()


@pytest.fixture
def shop() -> Tenant:
    return make_tenant(name="Shop")


def _serving_from_its_cache(other: OtherProcess, token: str) -> None:
    """The other process has the key in its caches: its requests read nothing from the database."""
    assert other.get(token)[0] == 200
    for _ in range(3):  # the first use stamps last_used_at, and the stamp is read back once
        status, queries = other.get(token)
        assert status == 200
    assert queries == 0


def _key(token: str) -> ApiKey:
    return ApiKey.objects.get(token_hash=api_key_hash(token))


def test_a_key_revoked_in_one_process_is_refused_by_another_within_a_second(
    shop: Tenant, other_process: OtherProcess
) -> None:
    _serving_from_its_cache(other_process, shop.test_key)

    services.api_key_revoke(api_key=_key(shop.test_key))

    # At most MEMO_SECONDS of its own memory (the test's clock stands still until moved)...
    assert other_process.get(shop.test_key)[0] == 200
    other_process.wait(MEMO_SECONDS)
    # ...then refused, well within the second.
    assert MEMO_SECONDS < 1
    assert other_process.get(shop.test_key)[0] == 401
    assert other_process.get(shop.live_key)[0] == 200  # the merchant's other key is untouched


def test_a_suspended_merchant_is_refused_by_another_process_within_a_second(
    shop: Tenant, other_process: OtherProcess
) -> None:
    _serving_from_its_cache(other_process, shop.test_key)
    _serving_from_its_cache(other_process, shop.live_key)

    services.merchant_suspend(merchant=shop.merchant)
    other_process.wait(MEMO_SECONDS)

    assert other_process.get(shop.test_key)[0] == 403
    assert other_process.get(shop.live_key)[0] == 403

    services.merchant_reinstate(merchant=shop.merchant)
    other_process.wait(MEMO_SECONDS)

    assert other_process.get(shop.test_key)[0] == 200


def test_a_rolled_key_is_refused_by_another_process_and_its_successor_accepted(
    shop: Tenant, other_process: OtherProcess
) -> None:
    _serving_from_its_cache(other_process, shop.test_key)

    successor = services.api_key_roll(api_key=_key(shop.test_key)).token
    other_process.wait(MEMO_SECONDS)

    assert other_process.get(shop.test_key)[0] == 401
    assert other_process.get(successor)[0] == 200


def test_a_read_racing_the_revocation_cannot_cache_the_key_as_valid(shop: Tenant, other_process: OtherProcess) -> None:
    _serving_from_its_cache(other_process, shop.test_key)
    other_process.wait(MEMO_SECONDS)  # its own memory of the key has lapsed

    # The other process reads the key while the revocation is written but not yet committed: it
    # sees the key still valid and caches it again. The commit then makes that copy worthless.
    with transaction.atomic():
        services.api_key_revoke(api_key=_key(shop.test_key))
        status, queries = other_process.get(shop.test_key)
        assert (status, queries) == (200, 1)  # read from the database: the cached copy was dropped
        other_process.wait(MEMO_SECONDS)
        assert other_process.get(shop.test_key)[0] == 200  # still valid: nothing committed yet

    other_process.wait(MEMO_SECONDS)

    assert other_process.get(shop.test_key)[0] == 401
