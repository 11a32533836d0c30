"""Schemathesis against the live test server, for every operation of the data-partner API, as
tests/security/test_schema_fuzz.py does for the merchants' API, with the same configuration
(tests/security/fuzzing.py). Every request carries the test key of a partner that a consumer
granted consent to; POSTs a fresh Idempotency-Key. A run fails on any 5xx,
any response that does not match its schema, any undocumented status code or content type, and any
schema-violating request that is accepted; GETs also fail when a schema-valid request is refused.

Path ids are replaced by that consumer's id in positive cases."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.settings import patched_settings
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok

from partners.schema import SCHEMA_SETTINGS
from tests.consumers.factories import make_consumer
from tests.partners.factories import grant, make_partner
from tests.security.fuzzing import fuzzed, positive_at, send

SCHEMA_URL = "/api/partners/v1/schema?format=json"
EXAMPLES_PER_OPERATION = 8


def _local_schema() -> dict[str, Any]:
    with patched_settings(SCHEMA_SETTINGS):
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
    """A partner with a test key, and a consumer who granted it consent (the paths' consumer)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        partner = make_partner()
        self.consumer = make_consumer()
        grant(self.consumer, partner)
        self.token = partner.test_key

    def path_ids(self, path: str) -> dict[str, str]:
        return {"id": self.consumer.public_id} if "{id}" in path else {}

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def world(live_server: Any, served_schema: dict[str, Any], db: None) -> World:
    return World(live_server.url)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=False)
def test_every_partner_operation_answers_as_documented(case: Any, world: World) -> None:
    if case.path_parameters and positive_at(case, ParameterLocation.PATH):
        case.path_parameters = {**case.path_parameters, **world.path_ids(case.path)}
    if case.query and "cursor" in case.query and positive_at(case, ParameterLocation.QUERY):
        case.query = {key: value for key, value in case.query.items() if key != "cursor"}  # one page only
    send(case, base_url=world.base_url, headers=world.headers())


def test_every_partner_operation_is_fuzzed() -> None:
    loaded = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in loaded)
    operations = {
        (method.upper(), path)
        for path, item in LOCAL_SCHEMA["paths"].items()
        for method in item
        if method in {"get", "post", "delete", "put", "patch"}
    }
    fuzzed = {(result.ok().method.upper(), result.ok().path) for result in loaded if isinstance(result, Ok)}
    assert fuzzed == operations and len(operations) == 3
