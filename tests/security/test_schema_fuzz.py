"""Schemathesis against the live test server, for every operation of the partner API.

Each operation gets its documented examples, schemathesis's coverage cases (boundaries, missing and
wrong-typed values, undeclared methods) and a bounded number of generated ones, positive and negative,
without shrinking. Every request is authenticated with a merchant's test key; POSTs carry a fresh
Idempotency-Key (unless the case is testing a bad one). A run fails on any 5xx, any response that does
not match its schema, any undocumented status code or content type, and any schema-violating request
that is accepted; GETs also fail when a schema-valid request is refused. (POST bodies can be
schema-valid and still break a business rule, a currency the merchant does not take, line items that
do not add up, so a refused valid POST is not counted.)

Operations are collected from the schema the code generates; the live server must serve exactly that
schema (checked first), so what is fuzzed is what clients download.

Path ids are replaced by the merchant's own objects in positive cases, so handlers run on real data
rather than stopping at 404; a positive cursor is one the list itself handed out (any other is a 400 by
design: see tests/security/test_crafted_cursors.py).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok

from tests.merchants.factories import Tenant
from tests.security.fuzzing import fuzzed, positive_at, send
from tests.tenancy.test_isolation import _make, _view_path_models

SCHEMA_URL = "/api/v1/schema?format=json"
EXAMPLES_PER_OPERATION = 8  # generated cases per operation and mode, besides examples and coverage cases


def _local_schema() -> dict[str, Any]:
    rendered = OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True))
    return dict(json.loads(rendered))


LOCAL_SCHEMA = _local_schema()
schema = fuzzed(LOCAL_SCHEMA, examples_per_operation=EXAMPLES_PER_OPERATION)


@pytest.fixture(scope="module")
def served_schema(live_server: Any) -> dict[str, Any]:
    served = requests.get(f"{live_server.url}{SCHEMA_URL}", timeout=30).json()
    assert served == LOCAL_SCHEMA, "the live server serves another schema than the one the code generates"
    return dict(served)


class World:
    """The merchant's own objects each path names, made once per operation."""

    def __init__(self, tenant: Tenant, base_url: str) -> None:
        self.tenant = tenant
        self.base_url = base_url
        self.objects: dict[str, dict[str, str]] = {}

    def path_ids(self, path: str) -> dict[str, str]:
        if path not in self.objects:
            self.objects[path] = {
                name: _make(model, self.tenant, livemode=False).public_id
                for name, model in _view_path_models(path).items()
            }
        return self.objects[path]

    def cursor(self, path: str) -> str | None:
        """A cursor the list handed out (its second page), or None when it has one page."""
        page = requests.get(f"{self.base_url}{path}", params={"limit": 1}, headers=self.headers(), timeout=30).json()
        if not page.get("next"):
            return None
        return parse_qs(urlsplit(page["next"]).query)["cursor"][0]

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tenant.test_key}"}


@pytest.fixture
def world(live_server: Any, tenant: Tenant, served_schema: dict[str, Any], settings: Any) -> World:
    # Schemathesis also sends bad keys (is authentication enforced?): not so many that the address
    # lockout (a documented 429) answers the rest of the operation's cases.
    settings.API_AUTH_FAILURES_PER_MINUTE = 10_000
    return World(tenant, live_server.url)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=False)
def test_every_operation_answers_as_documented(case: Any, world: World) -> None:
    if case.path_parameters and positive_at(case, ParameterLocation.PATH):
        case.path_parameters = {**case.path_parameters, **world.path_ids(case.path)}
    if case.query and "cursor" in case.query and positive_at(case, ParameterLocation.QUERY):
        real = world.cursor(case.formatted_path)
        case.query = {key: value for key, value in case.query.items() if key != "cursor"} | (
            {"cursor": real} if real else {}
        )
    send(case, base_url=world.base_url, headers=world.headers())


def _operations() -> list[Any]:
    loaded = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in loaded), [result for result in loaded if not isinstance(result, Ok)]
    return [result.ok() for result in loaded if isinstance(result, Ok)]


def test_every_operation_is_fuzzed() -> None:
    operations = {
        (method.upper(), path)
        for path, item in LOCAL_SCHEMA["paths"].items()
        for method in item
        if method in {"get", "post", "delete", "put", "patch"}
    }
    fuzzed = {(operation.method.upper(), operation.path) for operation in _operations()}
    assert len(operations) >= 25
    assert fuzzed == operations
