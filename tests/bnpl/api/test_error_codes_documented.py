"""Every endpoint's errors are in the schema with their codes: each operation lists, under each
status, every code it answers (its own ones from ``error_codes`` beside every endpoint's). The
test client (tests/conftest.py) checks every error response the suite meets against this list, so
an endpoint that learns a new code without documenting it fails the test that first meets it."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.http import JsonResponse
from django.test import Client

from bnpl.api.schema import documented_codes
from tests.conftest import error_documented


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = Client().get("/api/v1/schema")
    assert response.status_code == 200
    loaded: dict[str, Any] = yaml.safe_load(response.content)
    return loaded


@pytest.mark.parametrize(
    ("path", "status", "codes"),
    [
        ("/api/v1/orders/{id}/captures", "409", {"amount_exceeds_open", "order_expired", "order_voided"}),
        ("/api/v1/orders/{id}/void", "409", {"nothing_to_void", "order_expired"}),
        ("/api/v1/orders/{id}/refunds", "409", {"amount_exceeds_captured", "idempotency_key_in_use"}),
        ("/api/v1/checkout/sessions", "400", {"no_eligible_product", "currency_not_enabled", "body_invalid"}),
        ("/api/v1/webhook_endpoints/{id}/test", "409", {"webhook_endpoint_disabled"}),
        ("/api/v1/consumers/{id}/bank-transactions", "409", {"consent_required"}),
        ("/api/v1/orders/{id}", "404", {"resource_missing"}),
    ],
)
def test_the_schema_lists_each_operations_codes(
    schema: dict[str, Any], path: str, status: str, codes: set[str]
) -> None:
    operation = schema["paths"][path].get("post") or schema["paths"][path]["get"]
    assert codes <= documented_codes(operation["responses"][status]["description"])


@pytest.mark.django_db
def test_a_code_the_schema_does_not_list_fails_the_test_that_meets_it() -> None:
    undocumented = JsonResponse(
        {"error": {"code": "order_teleported", "type": "x", "message": "", "param": None}}, status=409
    )
    with pytest.raises(AssertionError, match=r"OrderCaptureApi\.error_codes"):
        error_documented(undocumented, "/api/v1/orders/ord_x/captures", "POST")

    documented = JsonResponse(
        {"error": {"code": "order_expired", "type": "x", "message": "", "param": None}}, status=409
    )
    assert error_documented(documented, "/api/v1/orders/ord_x/captures", "POST") is documented
