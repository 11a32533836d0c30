"""Error pages for people are the product's own, in the look of the area the visitor was in
(shopper, merchant dashboard, operators' admin), with the right status, and say nothing of what
failed: no stack trace, no exception text, no id. API paths keep the API's JSON errors. DEBUG is
off here, as in the demo and production."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from consumers.selectors import SESSION_KEY
from tests.consumers.factories import make_verified_consumer
from tests.security.error_urls import SECRET_DETAIL

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.security.error_urls")]

# What each area's page shows: its name in the header and its way back.
AREAS = {
    "merchant": ("/merchant", "BNPL for merchants", "Back to the dashboard"),
    "operator": ("/admin", "BNPL operations", "Back to the operations admin"),
    "shopper": ("/checkout", "BNPL</a>", "Go to your plans"),
}


def _branded(body: str, area: str) -> None:
    _, brand, way_back = AREAS[area]
    assert f"area-{area}" in body and brand in body and way_back in body, body[:2000]
    assert "Traceback" not in body and "SECRETDETAIL" not in body and "secret-table-name" not in body
    assert "Django" not in body and "DEBUG" not in body


def test_debug_is_off_under_the_suite_as_in_the_demo() -> None:
    assert settings.DEBUG is False


@pytest.mark.parametrize("area", list(AREAS))
@pytest.mark.parametrize(
    ("status", "title"),
    [
        (400, "We could not read that request"),
        (403, "You cannot open this page"),
        (404, "We could not find that page"),
        (500, "Something went wrong on our side"),
    ],
)
def test_a_failing_page_answers_with_the_areas_own_page(area: str, status: int, title: str) -> None:
    prefix = AREAS[area][0]
    response = Client(raise_request_exception=False).get(f"{prefix}/_fails/{status}")

    assert response.status_code == status
    body = response.content.decode()
    assert title in body
    _branded(body, area)


@pytest.mark.parametrize(
    ("path", "area"),
    [
        ("/merchant/no-such-page", "merchant"),
        ("/merchant/branding/mer_nosuchmerchant00000/logo", "merchant"),  # Http404("No logo.") inside
        ("/account/plans/pln_nosuchplan0000000000", "shopper"),
        ("/checkout/cs_nosuchsession000000000", "shopper"),
        ("/no-such-page", "shopper"),
    ],
)
def test_a_missing_page_is_a_branded_404(path: str, area: str) -> None:
    client = Client()  # a signed-in shopper: another's plan or none at all is the same 404
    session = client.session
    session[SESSION_KEY] = make_verified_consumer().public_id
    session.save()

    response = client.get(path)

    assert response.status_code == 404
    body = response.content.decode()
    assert "We could not find that page" in body and "No logo." not in body
    _branded(body, area)
    assert "nosuch" not in body  # the address asked for is not echoed back either


def test_a_bad_host_header_is_a_branded_400() -> None:
    response = Client(HTTP_HOST="attacker.example").get("/account/sign-in")

    assert response.status_code == 400
    _branded(response.content.decode(), "shopper")


@pytest.mark.parametrize(
    ("path", "area", "data"),
    [
        ("/account/sign-in", "shopper", {"identifier": "ada@example.com"}),
        ("/merchant/login", "merchant", {"username": "owner@example.com", "password": "x"}),
        ("/admin/login/", "operator", {"username": "operator@example.com", "password": "x"}),
    ],
)
def test_a_form_refused_for_its_csrf_token_says_so_in_the_areas_page(path: str, area: str, data: dict) -> None:  # type: ignore[type-arg]
    response = Client(enforce_csrf_checks=True).post(path, data)

    assert response.status_code == 403
    body = response.content.decode()
    assert "This page had expired" in body and "reload" in body
    _branded(body, area)
    assert "CSRF" not in body and "Referer" not in body  # Django's reason stays in the log


def test_api_paths_keep_json_errors() -> None:
    client = Client(raise_request_exception=False)

    missing = client.get("/api/v1/no-such-thing")
    failing = client.get("/api/v1/_fails/500")

    assert missing.status_code == 404 and missing.json()["error"]["type"] == "invalid_request_error"
    assert failing.status_code == 500 and failing.json()["error"]["code"] == "internal_error"
    assert SECRET_DETAIL not in failing.content.decode()
