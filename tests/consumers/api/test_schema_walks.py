"""The consumer app API in its own OpenAPI document, walked as the partner API's is: every operation
whose path names an object answers another consumer 404 (and the owner 200); every list shows only
the caller's rows; every write operation refuses bad input naming the field and writing nothing.
Endpoints added later are covered without editing this file: a new object type named in a path
needs a factory in ``CONSUMER_OWNED_FACTORIES``."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.settings import patched_settings

from bnpl.checkout.models import Dispute
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.plans.models import Plan
from consumers.app_api.schema import SCHEMA_SETTINGS
from consumers.devices import device_register
from consumers.models import Consumer, Device
from decisioning.models import BankDataConsent, CreditDecision
from tests.bnpl.api.test_bad_input import _cases
from tests.consumers.api.conftest import AppClient, SignIn
from tests.consumers.api.factories import (
    make_app_card,
    make_app_consent,
    make_app_decision,
    make_app_dispute,
    make_app_plan,
    make_app_receipt,
)
from tests.helpers import row_counts

with patched_settings(SCHEMA_SETTINGS):
    SCHEMA = SchemaGenerator().get_schema(request=None, public=True)

PATH_PARAMETER = re.compile(r"\{(\w+)\}")
SAMPLE_ID = "x_000000000000000000000000"
OPERATIONS = [
    (path, method, operation)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
    if method in {"get", "post", "delete", "patch", "put"}
]
DETAIL_OPERATIONS = [op for op in OPERATIONS if PATH_PARAMETER.search(op[0])]


def _view_class(path: str) -> Any:
    return resolve(PATH_PARAMETER.sub(SAMPLE_ID, path)).func.view_class  # type: ignore[attr-defined]


LIST_OPERATIONS = [
    op
    for op in OPERATIONS
    if op[1] == "get" and not PATH_PARAMETER.search(op[0]) and getattr(_view_class(op[0]), "pagination_class", None)
]
WRITE_OPERATIONS = [op for op in OPERATIONS if op[1] == "post" and "requestBody" in op[2]]


def _device(consumer: Consumer) -> Device:
    with transaction.atomic():
        device, _ = device_register(consumer=consumer, name="Walked device", platform="android")
    return device


# Model named in a consumer API path -> a factory of one owned by the given consumer.
CONSUMER_OWNED_FACTORIES: dict[type[Any], Callable[[Consumer], Any]] = {
    Device: _device,
    Plan: make_app_plan,
    PaymentMethod: make_app_card,
    Charge: make_app_receipt,
    Dispute: make_app_dispute,
    CreditDecision: make_app_decision,
    BankDataConsent: make_app_consent,
}


def _make(model: type[Any], consumer: Consumer) -> Any:
    factory = CONSUMER_OWNED_FACTORIES.get(model)
    assert factory is not None, f"add a factory for {model.__name__} to CONSUMER_OWNED_FACTORIES"
    return factory(consumer)


def _fill(path: str, objects: dict[str, Any]) -> str:
    return PATH_PARAMETER.sub(lambda match: objects[match.group(1)].public_id, path)


def test_the_consumer_api_has_its_own_document_and_security_scheme() -> None:
    served = Client().get("/api/consumer/v1/schema", {"format": "json"}).json()
    partner = Client().get("/api/v1/schema", {"format": "json"}).json()

    assert served["info"]["title"] == "BNPL consumer app API"
    assert served["components"]["securitySchemes"] == {
        "ConsumerAccessToken": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from POST /api/consumer/v1/auth/sign-in or /auth/refresh (15 minutes).",
        }
    }
    assert set(served["paths"]) == set(SCHEMA["paths"])
    assert not [path for path in partner["paths"] if path.startswith("/api/consumer/")]
    assert "ConsumerAccessToken" not in partner["components"]["securitySchemes"]
    anonymous = {"/api/consumer/v1/auth/codes", "/api/consumer/v1/auth/sign-in", "/api/consumer/v1/auth/refresh"}
    for path, method, operation in OPERATIONS:
        expected: list[dict[str, list[str]]] | None = None if path in anonymous else [{"ConsumerAccessToken": []}]
        assert operation.get("security") == expected, (method, path)
        if method == "post":
            key = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
            assert key["in"] == "header" and key["required"], path
    devices = served["paths"]["/api/consumer/v1/devices/{id}/approve"]["post"]["responses"]
    assert "resource_missing" in devices["404"]["description"]
    assert "device_not_pending" in devices["409"]["description"]


def test_there_are_operations_to_walk() -> None:
    assert len(DETAIL_OPERATIONS) >= 4
    assert len(LIST_OPERATIONS) >= 1
    assert len(WRITE_OPERATIONS) >= 4


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "operation"), DETAIL_OPERATIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_another_consumers_object_is_not_found(
    path: str, method: str, operation: dict[str, Any], sign_in: SignIn
) -> None:
    ada, bob = sign_in("ada@example.com"), sign_in("bob@example.com")
    path_models = _view_class(path).path_models
    assert set(PATH_PARAMETER.findall(path)) <= set(path_models), f"{path}: declare path_models"
    theirs = {name: _make(model, Consumer.objects.get(email="bob@example.com")) for name, model in path_models.items()}
    mine = {name: _make(model, Consumer.objects.get(email="ada@example.com")) for name, model in path_models.items()}
    before = row_counts()

    response = ada.client.request(method, _fill(path, theirs))

    assert response.status_code == 404, (method, path, response.content)
    assert response.json()["error"]["code"] == "resource_missing"
    assert row_counts() == before
    if method == "get":  # the owner's own call works, so the 404 above is not vacuous
        assert ada.client.get(_fill(path, mine)).status_code == 200
    assert bob.client.get("device").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "operation"), LIST_OPERATIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_lists_never_return_another_consumers_rows(
    path: str, method: str, operation: dict[str, Any], sign_in: SignIn
) -> None:
    ada, bob = sign_in("ada@example.com"), sign_in("bob@example.com")
    model = _view_class(path).listed_model
    assert model is not None, f"{path}: a list says which model it lists (listed_model)"
    mine = {_make(model, Consumer.objects.get(email="ada@example.com")).public_id}
    theirs = {_make(model, Consumer.objects.get(email="bob@example.com")).public_id}
    if model is Device:
        mine, theirs = mine | {ada.device_id}, theirs | {bob.device_id}

    seen: set[str] = set()
    url: str | None = path
    while url:
        response = ada.client.get(url, {"limit": 1} if url == path else None)
        assert response.status_code == 200, response.content
        seen |= {row["id"] for row in response.json()["results"]}
        url = response.json()["next"]

    assert not seen & theirs
    assert mine <= seen


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "method", "operation"), WRITE_OPERATIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    path: str, method: str, operation: dict[str, Any], sign_in: SignIn
) -> None:
    content = operation["requestBody"]["content"]["application/json"]
    examples = content.get("examples")
    assert examples, f"POST {path}: document a request example (OpenApiExample, request_only=True)"
    example = next(iter(examples.values()))["value"]
    body_schema = content["schema"]
    while "$ref" in body_schema:
        body_schema = SCHEMA["components"]["schemas"][body_schema["$ref"].rsplit("/", 1)[-1]]
    app = sign_in("ada@example.com")
    objects = {name: _make(model, Consumer.objects.get()) for name, model in _view_class(path).path_models.items()}
    client = app.client if operation.get("security") else AppClient()

    for label, field, body in [*_cases(body_schema, example, SCHEMA), ("not an object", None, ["a", "list"])]:
        before = row_counts()
        response = client.post(_fill(path, objects), body)
        assert response.status_code == 400, (label, response.content[:300])
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error", label
        if field is not None:
            assert error["param"] == field or re.match(rf"^{field}[.\[]", error["param"] or ""), (label, error)
        assert row_counts() == before, f"{label}: a rejected request wrote rows"

    response = client.post(_fill(path, objects), "{not json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "body_invalid"
