"""How a query budget is measured and what it allows.

A request is counted with Django's own query capture (``CaptureQueriesContext``, the mechanism of
``django_assert_max_num_queries``), after the client has made one request already, so that what
every request reads once per process or per session (the API key, the signed-in user, the clock
offset) is not counted against one page and not another. Counts are deterministic: no timing. The
reads cached for a length of time rather than per request are left out of the count: whether a
request makes them depends on the wall clock, not on the rows. They are the sandbox clock's offset
(``bnpl.core.clock.CACHE_SECONDS``), the API key's lookup by token (``bnpl.tenancy.keys``: a
per-process memo of half a second, refilled after the key's use is recorded once a minute), that
once-a-minute record itself (``merchants.services``: ``last_used_at`` is written when the last write
is a minute old, so a slow run can make it inside either world's measured request), and the webhook
listener's read of which modes a merchant has enabled endpoints in (``merchants.webhooks``: a
per-process memo of half a second).

The budget of a page has two parts:

* **It does not grow with rows.** The same request against the small world and the large one (the
  same shape, ``world.LARGE`` rows of everything instead of ``world.SMALL``) costs the same number of
  queries, give or take ``allowance`` (0 unless the page's entry says why).
* **A ceiling**, whatever the rows: the most queries the page may make at all.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern


@dataclass(frozen=True)
class Cost:
    status: int
    queries: list[str]

    @property
    def count(self) -> int:
        return len(self.queries)


# The queries made once per length of time (see above): the sandbox clock's offset, the API key by
# token, the record of the key's last use, a merchant's webhook endpoint modes.
TIMED_QUERIES = (
    'FROM "core_clockstate"',
    'WHERE "merchants_apikey"."token_hash" IN (',
    'UPDATE "merchants_apikey" SET "last_used_at" = ',
    'SELECT DISTINCT "merchants_webhookendpoint"."livemode"',
)


def cost(call: Callable[[], Any]) -> Cost:
    """The queries ``call`` (one request through a test client) makes, and the status it answers."""
    with CaptureQueriesContext(connection) as captured:
        response = call()
    queries = [query["sql"] for query in captured.captured_queries]
    queries = [sql for sql in queries if not any(read in sql for read in TIMED_QUERIES)]
    return Cost(status=response.status_code, queries=queries)


def assert_within_budget(
    label: str, small: Cost, large: Cost, *, ceiling: int, allowance: int = 0, statuses: frozenset[int]
) -> None:
    assert small.status in statuses and large.status in statuses, (label, small.status, large.status)
    assert large.count <= small.count + allowance, (
        f"{label}: {small.count} queries with the small world, {large.count} with the large one: a query per row "
        f"(an N+1). The large world's queries:\n" + "\n".join(large.queries)
    )
    assert large.count <= ceiling, f"{label}: {large.count} queries, above its ceiling of {ceiling}:\n" + "\n".join(
        large.queries
    )


def growth_marks(reason: str | None) -> list[Any]:
    """A request whose growth is known (``reason``: the code at fault, owned elsewhere) is a strict
    xfail naming it: it fails once that code is fixed, so the entry is removed with the fix."""
    return [pytest.mark.xfail(strict=True, reason=reason)] if reason else []


def assert_every_page_has_a_request(
    pages: list[URLPattern], requests: Collection[str], *exceptions: Collection[str], module: str
) -> None:
    """The walk covers every page of a URLconf: a page added later without a request fails here."""
    names = {str(pattern.name) for pattern in pages}
    assert names == set(requests), (
        f"pages without a request in {module}.REQUESTS: {sorted(names - set(requests))}; "
        f"requests for no page: {sorted(set(requests) - names)}"
    )
    for listed in exceptions:
        assert set(listed) <= names, sorted(set(listed) - names)
