"""Query budgets of the consumer app API's lists: every list endpoint in its OpenAPI document
(walked, so a list added later is measured without editing this file) costs the same number of
queries for one row of the caller's as for several, under a ceiling: nothing is read per row."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.models import Consumer
from tests.consumers.api.conftest import AppClient, SignIn
from tests.consumers.api.test_schema_walks import LIST_OPERATIONS, _make, _view_class
from tests.performance.budget import cost

CEILING = 20  # queries: the token, the device, the consumer's throttle, a page and what it shows
MORE = 3  # rows added between the two measures


def _queries(client: AppClient, path: str) -> list[str]:
    """The request's queries, as the performance budgets count them (``tests.performance.budget``:
    warm first, and without the reads cached for a length of time, such as the sandbox clock's)."""
    client.get(path)
    measured = cost(lambda: client.get(path))
    assert measured.status == 200
    return [sql[:300] for sql in measured.queries]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "operation"), LIST_OPERATIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_a_list_costs_the_same_queries_whatever_the_rows(
    path: str, method: str, operation: dict[str, Any], sign_in: SignIn
) -> None:
    ada = sign_in("ada@example.com")
    model = _view_class(path).listed_model
    consumer = Consumer.objects.get(email="ada@example.com")
    _make(model, consumer)
    one = _queries(ada.client, path)

    for _ in range(MORE):
        _make(model, consumer)
    several = _queries(ada.client, path)

    assert len(ada.client.get(path).json()["results"]) >= 1 + MORE
    assert len(several) == len(one), (
        f"GET {path}: {len(one)} queries for one row, {len(several)} for {1 + MORE}: " + "\n".join(several)
    )
    assert len(one) <= CEILING, f"GET {path}: {len(one)} queries"
