"""Schemathesis against the live test server, for every operation of the data-partner API, as
tests/security/test_schema_fuzz.py does for the merchants' API, with the same configuration
(tests/security/fuzzing.py). Every request carries the test key of a partner that a consumer
granted consent to; POSTs a fresh Idempotency-Key. A run fails on any 5xx,
any response that does not match its schema, any undocumented status code or content type, and any
schema-violating request that is accepted; GETs also fail when a schema-valid request is refused.

Path ids are replaced by that consumer's id in positive cases."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
import requests
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.settings import patched_settings
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bnpl.core.idempotency import KEY_PATTERN
from partners.schema import SCHEMA_SETTINGS
from tests.consumers.factories import make_consumer
from tests.partners.factories import grant, make_partner
from tests.security.fuzzing import fuzzed

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


def _positive_at(case: Any, location: Any) -> bool:
    return case.meta is None or not case.meta.is_negative_at(location)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=False)
def test_every_partner_operation_answers_as_documented(case: Any, world: World) -> None:
    if case.path_parameters and _positive_at(case, ParameterLocation.PATH):
        case.path_parameters = {**case.path_parameters, **world.path_ids(case.path)}
    if case.query and "cursor" in case.query and _positive_at(case, ParameterLocation.QUERY):
        case.query = {key: value for key, value in case.query.items() if key != "cursor"}  # one page only
    key = (case.headers or {}).get("Idempotency-Key")
    if case.method == "POST" and key is not None and re.fullmatch(KEY_PATTERN, str(key)):
        case.headers = {**case.headers, "Idempotency-Key": str(uuid.uuid4())}
    elif case.method == "POST" and key is None and _positive_at(case, ParameterLocation.HEADER):
        case.headers = {**(case.headers or {}), "Idempotency-Key": str(uuid.uuid4())}

    excluded = [] if case.method == "GET" else [positive_data_acceptance]
    case.call_and_validate(base_url=world.base_url, headers=world.headers(), excluded_checks=excluded)


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
