from __future__ import annotations

import socket

import pytest

from bnpl.core.net import non_public_host, non_public_target
from tests.conftest import ApiClient
from tests.helpers import row_counts
from tests.merchants.factories import Tenant


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://192.168.0.10:8443/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://billing.internal/hook",
    ],
)
def test_private_and_local_hosts_are_named(url: str) -> None:
    assert non_public_host(url) is not None


def test_public_hosts_pass_the_cheap_check() -> None:
    assert non_public_host("https://hooks.shop.example.com/bnpl") is None
    assert non_public_host("https://93.184.216.34/bnpl") is None


def test_a_name_that_resolves_to_a_private_address_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # DNS lives outside this machine: stand in for the resolver's answer.
    def resolve(host: str, port: int, **kwargs: object) -> list[tuple[object, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    reason = non_public_target("https://rebind.shop.example.com/hook")
    assert reason == "rebind.shop.example.com resolves to 10.0.0.7, which is not a public internet address"


@pytest.mark.django_db
def test_live_webhook_endpoints_must_be_public_and_nothing_is_written(tenant: Tenant) -> None:
    before = row_counts()
    response = ApiClient(tenant.live_key).post(
        "/api/v1/webhook_endpoints", {"url": "https://169.254.169.254/latest", "enabled_events": ["*"]}
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "url"
    assert row_counts() == before
    # test mode may point at a local receiver (that is how merchants develop)
    assert (
        ApiClient(tenant.test_key)
        .post("/api/v1/webhook_endpoints", {"url": "http://127.0.0.1:9000/hook", "enabled_events": ["*"]})
        .status_code
        == 201
    )
