"""Tenant isolation, walked from the OpenAPI schema so that every endpoint added later is covered
without editing this file.

For every operation whose path names an object: merchant A's key gets 404 for merchant B's object
(and for A's own object in the other mode), and 2xx for its own. For every list operation: A never
sees B's rows, and does see its own.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator

from tests.conftest import ApiClient
from tests.merchants.factories import Tenant
from tests.tenancy.owned_objects import OWNED_OBJECT_FACTORIES

PATH_PARAMETER = re.compile(r"\{(\w+)\}")
SAMPLE_ID = "x_000000000000000000000000"


def _operations() -> list[tuple[str, str, dict[str, Any]]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "delete", "patch", "put"}
    ]


OPERATIONS = _operations()
DETAIL_OPERATIONS = [op for op in OPERATIONS if PATH_PARAMETER.search(op[0])]


def _view_class(path: str) -> Any:
    return resolve(PATH_PARAMETER.sub(SAMPLE_ID, path)).func.view_class  # type: ignore[attr-defined]


LIST_OPERATIONS = [
    op
    for op in OPERATIONS
    if op[1] == "get" and not PATH_PARAMETER.search(op[0]) and getattr(_view_class(op[0]), "pagination_class", None)
]


def _view_path_models(path: str) -> dict[str, Any]:
    view_class = _view_class(path)
    path_models = getattr(view_class, "path_models", None)
    assert path_models is not None, f"{path}: its view must inherit MerchantScopedApi"
    missing = set(PATH_PARAMETER.findall(path)) - set(path_models)
    assert not missing, f"{path}: the view must declare path_models for {missing} so the base resolves them per tenant"
    return path_models


def _make(model: Any, tenant: Tenant, livemode: bool) -> Any:
    factory = OWNED_OBJECT_FACTORIES.get(model)
    assert factory is not None, (
        f"add a factory for {model.__name__} to OWNED_OBJECT_FACTORIES in tests/tenancy/owned_objects.py"
    )
    return factory(merchant=tenant.merchant, livemode=livemode)


def _fill(path: str, objects: dict[str, Any]) -> str:
    return PATH_PARAMETER.sub(lambda match: objects[match.group(1)].public_id, path)


def test_the_schema_has_operations_to_walk() -> None:
    assert len(DETAIL_OPERATIONS) >= 4
    assert len(LIST_OPERATIONS) >= 2


@pytest.mark.parametrize(
    ("path", "method", "operation"), DETAIL_OPERATIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_another_merchants_object_is_not_found(
    path: str, method: str, operation: dict[str, Any], tenant: Tenant, other_tenant: Tenant
) -> None:
    path_models = _view_path_models(path)
    theirs = {name: _make(model, other_tenant, livemode=False) for name, model in path_models.items()}
    own_other_mode = {name: _make(model, tenant, livemode=True) for name, model in path_models.items()}
    mine = {name: _make(model, tenant, livemode=False) for name, model in path_models.items()}
    api = ApiClient(tenant.test_key)
    body: dict[str, object] = {}

    for objects in (theirs, own_other_mode):
        response = api.request(method, _fill(path, objects), body)
        assert response.status_code == 404, (method, path, response.content)
        assert response.json()["error"]["code"] == "resource_missing"

    if method == "get":  # the same call on A's own object works, so the 404 above is not vacuous
        response = api.request(method, _fill(path, mine), body)
        assert response.status_code == 200, (method, path, response.content)


@pytest.mark.parametrize(
    ("path", "method", "operation"), LIST_OPERATIONS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_lists_never_return_another_merchants_rows(
    path: str, method: str, operation: dict[str, Any], tenant: Tenant, other_tenant: Tenant
) -> None:
    mine, theirs = set(), set()
    for model in OWNED_OBJECT_FACTORIES:
        mine.add(_make(model, tenant, livemode=False).public_id)
        theirs.add(_make(model, other_tenant, livemode=False).public_id)
        theirs.add(_make(model, other_tenant, livemode=True).public_id)
        theirs.add(_make(model, tenant, livemode=True).public_id)  # A's live rows are not in A's test list

    seen = set()
    api = ApiClient(tenant.test_key)
    url: str | None = path
    while url:
        response = api.get(url, {"limit": 100} if url == path else None)
        assert response.status_code == 200, response.content
        page = response.json()
        seen |= {row["id"] for row in page["results"]}
        url = page["next"]
    assert not seen & theirs
    assert seen & mine, f"{path} listed none of merchant A's own rows: the isolation check would be vacuous"
