"""Security review, issue 13 item 1 (its last part): every address-keyed limit reads the client
address through ``TRUSTED_PROXY_COUNT`` (``bnpl.core.net.client_ip``). Behind one load balancer a
client cannot choose its own address by sending X-Forwarded-For, and two clients are told apart
instead of sharing the balancer's address."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from bnpl.core.net import client_ip, client_key

BALANCER = "10.0.0.5"
CDN_EDGE = "10.0.9.9"


def _request(remote: str, forwarded_for: str | None = None) -> Any:
    extra: dict[str, Any] = {"REMOTE_ADDR": remote}
    if forwarded_for is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded_for
    return RequestFactory().get("/", **extra)


def test_without_proxies_the_peer_is_the_client_and_forwarded_for_is_ignored(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 0

    assert client_ip(_request("203.0.113.7")) == "203.0.113.7"
    assert client_ip(_request("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


def test_behind_one_balancer_the_entry_it_appended_is_the_client(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1

    # The balancer appends the address it received the connection from.
    assert client_ip(_request(BALANCER, "203.0.113.7")) == "203.0.113.7"


@pytest.mark.parametrize("written_by_the_client", ["198.51.100.1", "198.51.100.1, 192.0.2.44", "127.0.0.1", "junk"])
def test_a_client_cannot_choose_its_address_by_sending_forwarded_for(settings: Any, written_by_the_client: str) -> None:
    settings.TRUSTED_PROXY_COUNT = 1

    # The client's own X-Forwarded-For arrives with the balancer's entry appended after it.
    request = _request(BALANCER, f"{written_by_the_client}, 203.0.113.7")

    assert client_ip(request) == "203.0.113.7"


def test_two_clients_behind_one_balancer_are_told_apart(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1

    first = client_ip(_request(BALANCER, "203.0.113.7"))
    second = client_ip(_request(BALANCER, "198.51.100.20"))

    assert (first, second) == ("203.0.113.7", "198.51.100.20")
    assert BALANCER not in (first, second)


def test_behind_a_cdn_and_a_balancer_the_second_entry_from_the_right_is_the_client(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 2

    request = _request(BALANCER, f"198.51.100.1, 203.0.113.7, {CDN_EDGE}")

    assert client_ip(request) == "203.0.113.7"


def test_a_request_that_bypassed_the_balancer_falls_back_to_what_is_known(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 2

    # Shorter than the proxy count: the nearest proxy wrote the leftmost entry.
    assert client_ip(_request(BALANCER, "203.0.113.7")) == "203.0.113.7"
    # No header at all, or an entry that is not an address: the peer.
    assert client_ip(_request(BALANCER)) == BALANCER
    assert client_ip(_request(BALANCER, "not-an-address, also-not")) == BALANCER


def test_an_ipv6_client_is_counted_by_its_whole_64_network(settings: Any) -> None:
    """A subscriber picks any of its /64's 2^64 addresses at will: counted by address, it would
    escape every limit by changing address. Limits count the /64; audit keeps the address."""
    settings.TRUSTED_PROXY_COUNT = 0
    one = _request("2001:db8:abcd:12::1")
    same_subscriber = _request("2001:db8:abcd:12:ffff:ffff:ffff:fffe")
    neighbour = _request("2001:db8:abcd:13::1")

    assert client_key(one) == client_key(same_subscriber) == "2001:db8:abcd:12::/64"
    assert client_key(neighbour) != client_key(one)
    assert client_ip(same_subscriber) == "2001:db8:abcd:12:ffff:ffff:ffff:fffe"
    assert client_key(_request("203.0.113.9")) == "203.0.113.9"
    assert client_key(_request("::ffff:203.0.113.9")) == "203.0.113.9"


@pytest.mark.django_db
def test_api_key_guessing_from_one_64_is_one_client(settings: Any) -> None:
    from django.test import Client

    settings.TRUSTED_PROXY_COUNT = 0
    settings.API_AUTH_FAILURES_PER_MINUTE = 3
    answers = [
        Client(REMOTE_ADDR=f"2001:db8:abcd:12::{index + 1:x}")
        .get("/api/v1/account", headers={"Authorization": "Bearer sk_test_guess"})
        .status_code
        for index in range(5)
    ]
    assert answers == [401, 401, 401, 429, 429]
