"""One error shape everywhere: {"error": {type, code, message, param}}."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.conftest import ApiClient

pytestmark = pytest.mark.django_db


def _assert_shape(body: dict) -> dict:  # type: ignore[type-arg]
    assert set(body) == {"error"}
    assert set(body["error"]) == {"type", "code", "message", "param"}
    return body["error"]


def test_unknown_api_paths_answer_json_404() -> None:
    response = Client().get("/api/v1/no-such-thing")
    assert response.status_code == 404
    error = _assert_shape(response.json())
    assert error["code"] == "resource_missing"


def test_a_malformed_id_is_a_404_not_a_500(api: ApiClient) -> None:
    for path in ("/api/v1/events/%00%01", "/api/v1/webhook_endpoints/" + "x" * 5000, "/api/v1/events/evt_' OR 1=1 --"):
        response = api.get(path)
        assert response.status_code == 404, path
        _assert_shape(response.json())


def test_a_method_the_endpoint_lacks_is_405_in_the_error_shape(api: ApiClient) -> None:
    response = api.delete("/api/v1/account")
    assert response.status_code == 405
    assert _assert_shape(response.json())["code"] == "method_not_allowed"


def test_validation_errors_name_the_nested_field(api: ApiClient) -> None:
    response = api.post(
        "/api/v1/webhook_endpoints", {"url": "https://a.example.com", "enabled_events": ["*", 5 * "x" * 30]}
    )
    error = _assert_shape(response.json())
    assert response.status_code == 400
    assert error["param"] == "enabled_events[1]"
    assert error["type"] == "invalid_request_error"


def test_a_non_json_content_type_is_refused_cleanly(api: ApiClient) -> None:
    response = api.client.post(
        "/api/v1/webhook_endpoints",
        "url=x",
        content_type="application/x-www-form-urlencoded",
        headers={"Authorization": f"Bearer {api.token}", "Idempotency-Key": "k"},
    )
    assert response.status_code == 415
    assert _assert_shape(response.json())["code"] == "unsupported_media_type"


def test_every_response_carries_a_request_id() -> None:
    response = Client().get("/healthz", headers={"X-Request-Id": "req_from_client_1"})
    assert response["X-Request-Id"] == "req_from_client_1"
    generated = Client().get("/healthz", headers={"X-Request-Id": "bad id with spaces"})
    assert generated["X-Request-Id"].startswith("req_")


def test_query_parameters_are_validated_too(api: ApiClient) -> None:
    for params, param in (
        ({"type": "no.such.type"}, "type"),
        ({"type": "a\x00b"}, "type"),
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ):
        response = api.get("/api/v1/events", params)
        assert response.status_code == 400, params
        assert _assert_shape(response.json())["param"] == param


def test_every_list_validates_its_page_parameters(api: ApiClient) -> None:
    for path in ("/api/v1/events", "/api/v1/webhook_endpoints"):
        for limit in ("0", "101", "ten"):
            response = api.get(path, {"limit": limit})
            assert response.status_code == 400, (path, limit)
            assert _assert_shape(response.json())["param"] == "limit"
