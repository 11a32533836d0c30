"""Schemathesis against the live test server, for every operation of the consumer app API, as
tests/security/test_schema_fuzz.py does for the partner API: documented examples, coverage cases and
a bounded number of generated ones, positive and negative. Every request carries the access token of
a consumer signed in on a trusted device; POSTs a fresh Idempotency-Key. A run fails on any 5xx, any
response that does not match its schema, any undocumented status code or content type, and any
schema-violating request that is accepted; GETs also fail when a schema-valid request is refused.

Path ids are replaced by the consumer's own objects in positive cases: a second device of theirs,
pending, so that approving, denying or revoking it leaves the caller's own token working; a plan, a
card, a receipt, a return, a decision or a bank-data consent of theirs for the paths that name one."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.db import transaction
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.settings import patched_settings
from hypothesis import HealthCheck, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok

from consumers.app_api.schema import SCHEMA_SETTINGS
from consumers.devices import device_register
from consumers.token_families import family_start
from tests.consumers.api.factories import (
    make_app_card,
    make_app_consent,
    make_app_decision,
    make_app_dispute,
    make_app_plan,
    make_app_receipt,
)
from tests.consumers.factories import make_consumer
from tests.security.fuzzing import fuzzed, positive_at, send

SCHEMA_URL = "/api/consumer/v1/schema?format=json"
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
    """A consumer signed in on a trusted device, with a second device of theirs that paths name."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        consumer = make_consumer()
        with transaction.atomic():
            self.device, _ = device_register(consumer=consumer, name="Fuzzing phone", platform="ios")
            self.other, _ = device_register(consumer=consumer, name="Fuzzed tablet", platform="android")
            self.access_token = family_start(consumer=consumer, device=self.device).access_token

        self.consumer = consumer
        self.objects: dict[str, str] = {}

    def path_ids(self, path: str) -> dict[str, str]:
        """The consumer's own object of the kind the path names (made once, through the services)."""
        if "{id}" not in path:
            return {}
        kind = path.removeprefix("/api/consumer/v1/").split("/")[0]
        if kind not in self.objects:
            self.objects[kind] = OWNED[kind](self) if kind in OWNED else self.other.public_id
        return {"id": self.objects[kind]}

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


# The first segment of a consumer API path naming an object -> one of the world's consumer's own.
OWNED: dict[str, Callable[[World], str]] = {
    "plans": lambda world: make_app_plan(world.consumer).public_id,
    "disputes": lambda world: make_app_dispute(world.consumer).public_id,
    "cards": lambda world: make_app_card(world.consumer).public_id,
    "receipts": lambda world: make_app_receipt(world.consumer).public_id,
    "decisions": lambda world: make_app_decision(world.consumer).public_id,
    "bank-data-consents": lambda world: make_app_consent(world.consumer).public_id,
}


@pytest.fixture
def world(live_server: Any, served_schema: dict[str, Any], db: None) -> World:
    return World(live_server.url)


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), print_blob=False)
def test_every_consumer_operation_answers_as_documented(case: Any, world: World) -> None:
    if case.path_parameters and positive_at(case, ParameterLocation.PATH):
        case.path_parameters = {**case.path_parameters, **world.path_ids(case.path)}
    if case.query and "cursor" in case.query and positive_at(case, ParameterLocation.QUERY):
        case.query = {key: value for key, value in case.query.items() if key != "cursor"}  # one page only
    send(case, base_url=world.base_url, headers=world.headers())


def test_every_consumer_operation_is_fuzzed() -> None:
    loaded = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in loaded)
    operations = {
        (method.upper(), path)
        for path, item in LOCAL_SCHEMA["paths"].items()
        for method in item
        if method in {"get", "post", "delete", "put", "patch"}
    }
    fuzzed = {(result.ok().method.upper(), result.ok().path) for result in loaded if isinstance(result, Ok)}
    assert len(operations) >= 13
    assert fuzzed == operations
