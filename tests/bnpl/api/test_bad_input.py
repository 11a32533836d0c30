"""Bad input on every partner endpoint, walked from the OpenAPI schema: each write operation's
documented example is the valid base, and one field at a time is broken. Every case must answer
400 naming the field, and write nothing. New endpoints are covered without editing this file; an
operation without a request example fails here, asking for one."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

from tests.conftest import ApiClient
from tests.helpers import row_counts
from tests.merchants.factories import Tenant
from tests.tenancy.owned_objects import OWNED_OBJECT_FACTORIES
from tests.tenancy.test_isolation import PATH_PARAMETER, _view_path_models

HUGE = "x" * 100_000
SCHEMA = SchemaGenerator().get_schema(request=None, public=True)


def _resolve(node: dict[str, Any], schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _write_operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in SCHEMA["paths"].items()
        for method, operation in item.items()
        if method in {"post", "put", "patch"} and "requestBody" in operation
    ]


def _wrong_type(prop: dict[str, Any], schema: dict[str, Any] = SCHEMA) -> Any:
    kind = str(_resolve(prop, schema).get("type"))
    if "enum" in _resolve(prop, schema):
        return "not-one-of-the-choices"
    return {
        "string": {"not": "a string"},
        "integer": "not-a-number",
        "number": "not-a-number",
        "boolean": "perhaps",
        "array": "not-a-list",
        "object": ["not", "an", "object"],
    }.get(kind, {"x": 1})


def _cases(
    body_schema: dict[str, Any], example: dict[str, Any], schema: dict[str, Any] = SCHEMA
) -> list[tuple[str, str, dict[str, Any]]]:
    """The broken bodies for one operation: (label, the field at fault, body). ``schema`` is the
    document the body's references resolve in (the consumer app API has its own)."""
    properties = body_schema.get("properties", {})
    cases = []
    for field in body_schema.get("required", []):
        cases.append((f"missing {field}", field, {k: v for k, v in example.items() if k != field}))
    for field, prop in properties.items():
        prop = _resolve(prop, schema)
        cases.append((f"wrong type {field}", field, {**example, field: _wrong_type(prop, schema)}))
        if prop.get("type") == "string":
            cases.append((f"huge {field}", field, {**example, field: HUGE}))
        if prop.get("type") == "array" and _resolve(prop.get("items", {}), schema).get("type") == "string":
            cases.append((f"huge item {field}", field, {**example, field: [HUGE]}))
        if prop.get("type") == "integer" and (field == "amount" or field.endswith("_amount")):
            cases.append((f"negative {field}", field, {**example, field: -1}))
            cases.append((f"enormous {field}", field, {**example, field: 10**20}))
        if field == "currency" or field.endswith("_currency"):
            cases.append((f"unknown currency {field}", field, {**example, field: "XYZ"}))
    cases.append(("unknown parameter", "definitely_not_a_field", {**example, "definitely_not_a_field": 1}))
    return cases


WRITE_OPERATIONS = _write_operations()


def test_there_are_write_operations_to_walk() -> None:
    assert len(WRITE_OPERATIONS) >= 2


@pytest.mark.parametrize(
    ("path", "method", "operation"), WRITE_OPERATIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    path: str, method: str, operation: dict[str, Any], tenant: Tenant
) -> None:
    content = operation["requestBody"]["content"]["application/json"]
    examples = content.get("examples")
    assert examples, f"{method.upper()} {path}: document a request example (OpenApiExample, request_only=True)"
    example = next(iter(examples.values()))["value"]
    body_schema = _resolve(content["schema"])
    objects: dict[str, Any] = {
        name: OWNED_OBJECT_FACTORIES[model](merchant=tenant.merchant, livemode=False)
        for name, model in _view_path_models(path).items()
    }
    url = PATH_PARAMETER.sub(lambda match: objects[match.group(1)].public_id, path)
    api = ApiClient(tenant.test_key)

    for label, field, body in [*_cases(body_schema, example), ("not an object", None, ["a", "list"])]:
        before = row_counts()
        response = api.post(url, body)
        assert response.status_code == 400, (label, response.content[:300])
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error", label
        if field is not None:
            assert error["param"] == field or re.match(rf"^{field}[.\[]", error["param"] or ""), (label, error)
        assert row_counts() == before, f"{label}: a rejected request wrote rows"

    before = row_counts()
    response = api.post(url, "{not json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "body_invalid"
    assert row_counts() == before

    response = api.post(url, copy.deepcopy(example))
    assert 200 <= response.status_code < 300, ("the documented example must succeed", response.content[:300])


def test_deeply_nested_json_is_a_400(api: ApiClient) -> None:
    response = api.post("/api/v1/webhook_endpoints", '{"a":' * 5000)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "body_invalid"
