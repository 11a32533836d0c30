"""How a query budget is measured and what it allows.

A request is counted with Django's own query capture (``CaptureQueriesContext``, the mechanism of
``django_assert_max_num_queries``), after the client has made one request already, so that what
every request reads once per process or per session (the API key, the signed-in user, the clock
offset) is not counted against one page and not another. Counts are deterministic: no timing. The
one read cached for a length of time rather than per request, the sandbox clock's offset
(``bnpl.core.clock.CACHE_SECONDS``), is left out of the count: whether a request reads it depends on
the wall clock, not on the rows.

The budget of a page has two parts:

* **It does not grow with rows.** The same request against the small world and the large one (the
  same shape, ``world.LARGE`` rows of everything instead of ``world.SMALL``) costs the same number of
  queries, give or take ``allowance`` (0 unless the page's entry says why).
* **A ceiling**, whatever the rows: the most queries the page may make at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext


@dataclass(frozen=True)
class Cost:
    status: int
    queries: list[str]

    @property
    def count(self) -> int:
        return len(self.queries)


# The read of the sandbox clock's offset, cached per process for a second (see above).
CLOCK_OFFSET_READ = 'FROM "core_clockstate"'


def cost(call: Callable[[], Any]) -> Cost:
    """The queries ``call`` (one request through a test client) makes, and the status it answers."""
    with CaptureQueriesContext(connection) as captured:
        response = call()
    queries = [query["sql"] for query in captured.captured_queries if CLOCK_OFFSET_READ not in query["sql"]]
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
