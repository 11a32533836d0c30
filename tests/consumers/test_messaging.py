"""On-site messaging: the line next to a price is computed by the server, exact to the cent, from the
merchant's enabled products, for the publishable key's merchant and mode only; any origin may ask."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from bnpl.plans.models import PaymentProduct
from merchants import services
from merchants.models import ApiKey
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def _publishable(tenant: Tenant, livemode: bool = False) -> str:
    return services.api_key_create(merchant=tenant.merchant, kind=ApiKey.Kind.PUBLISHABLE, livemode=livemode).token


def _get(**params: Any) -> Any:
    return Client().get("/messaging/v1/placement", params, headers={"Origin": "https://shop.example.com"})


def test_the_headline_is_the_exact_pay_in_4_split(tenant: Tenant) -> None:
    key = _publishable(tenant)

    even = _get(key=key, amount=9900, currency="USD")
    uneven = _get(key=key, amount=10001)

    assert even.status_code == 200 and even["Access-Control-Allow-Origin"] == "*"
    assert even.json()["headline"] == "or 4 interest-free payments of $24.75"
    assert uneven.json()["headline"] == "or 4 interest-free payments of $25.00 (the first $25.01)"
    offers = {row["kind"]: row for row in uneven.json()["offers"]}
    assert offers["pay_in_4"]["payments"] == [2501, 2500, 2500, 2500]
    assert sum(offers["pay_in_4"]["payments"]) == 10001
    assert offers["pay_in_30"]["text"] == "or pay $100.01 in 30 days, interest-free"


def test_only_enabled_products_that_take_the_amount_are_shown(tenant: Tenant) -> None:
    key = _publishable(tenant)
    PaymentProduct.objects.filter(merchant=tenant.merchant, kind="pay_in_4").update(is_enabled=False)

    body = _get(key=key, amount=9900).json()

    assert "pay_in_4" not in {row["kind"] for row in body["offers"]}
    assert body["headline"] == body["offers"][0]["text"]
    too_big = _get(key=key, amount=99_999_999).json()
    assert too_big["offers"] == [] and too_big["headline"] == ""


@pytest.mark.parametrize(
    ("params", "status", "code", "param"),
    [
        ({"amount": 9900}, 401, "publishable_key_required", "key"),
        ({"key": "pk_test_nope", "amount": 9900}, 401, "invalid_api_key", "key"),
        ({"amount": "99.00"}, 400, "invalid_request", "amount"),
        ({"amount": 0}, 400, "invalid_request", "amount"),
        ({"amount": 9900, "currency": "XYZ"}, 400, "currency_invalid", "currency"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    tenant: Tenant, params: dict[str, Any], status: int, code: str, param: str
) -> None:
    if "key" not in params and code != "publishable_key_required":
        params = {**params, "key": _publishable(tenant)}

    response = _get(**params)

    assert response.status_code == status and response["Access-Control-Allow-Origin"] == "*"
    assert (response.json()["error"]["code"], response.json()["error"]["param"]) == (code, param)


def test_a_secret_key_is_refused_in_a_web_page(tenant: Tenant) -> None:
    response = _get(key=tenant.test_key, amount=9900)

    assert response.status_code == 401 and response.json()["error"]["code"] == "publishable_key_required"


def test_a_revoked_key_shows_nothing(tenant: Tenant) -> None:
    key = _publishable(tenant)
    services.api_key_revoke(api_key=ApiKey.objects.get(kind="publishable", merchant=tenant.merchant))

    assert _get(key=key, amount=9900).status_code == 401
