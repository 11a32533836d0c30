"""Network addresses: who a request came from (behind a known number of proxies), and
outbound-request safety (live-mode webhooks must not reach the lender's own network: SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def client_ip(request: HttpRequest) -> str:
    """The address of the client that sent ``request``: the one place every address-keyed limit
    (API-key guessing, sign-in and code limits, dashboard and admin lockout) reads it from.

    Behind ``TRUSTED_PROXY_COUNT`` proxies (a load balancer, a CDN) each proxy appends the address it
    received the request from to ``X-Forwarded-For``, so the client is the entry that many places
    from the right; anything further left was written by the client and is not believed. With no
    proxy (the default) ``REMOTE_ADDR`` is the client. A header shorter than the proxy count means
    the request bypassed a proxy: its leftmost entry is the best we know, since the nearest proxy
    wrote it."""
    remote = str(request.META.get("REMOTE_ADDR") or "unknown")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in str(request.META.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    forwarded = [part for part in forwarded if part]
    if not forwarded:
        return remote
    candidate = forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
    return candidate if _literal_address(candidate) is not None else remote


IPV6_CLIENT_PREFIX = 64


def client_key(request: HttpRequest) -> str:
    """Who to count a request against in an address-keyed limit: the client's IPv4 address, or the
    /64 network of its IPv6 address. One subscriber usually gets a whole /64 and can pick any of its
    2^64 addresses at will, so counting single IPv6 addresses would let one client escape every
    limit (the API-key guessing counter, the sign-in lockout and spraying cap, the one-time-code
    limits) by changing address. Audit rows keep the full address (``client_ip``)."""
    address = client_ip(request)
    parsed = _literal_address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.IPv6Network(f"{parsed}/{IPV6_CLIENT_PREFIX}", strict=False))
    return str(parsed.ipv4_mapped) if isinstance(parsed, ipaddress.IPv6Address) else address


def _literal_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def non_public_host(url: str) -> str | None:
    """Why ``url`` obviously targets a private network (a private/loopback literal or a local name),
    or None. Cheap: no DNS lookup, for validating input."""
    host = (urlsplit(url).hostname or "").lower()
    if not host or host in LOCAL_NAMES or host.endswith((".localhost", ".local", ".internal")):
        return f"{host or 'the host'} is not a public internet host"
    address = _literal_address(host)
    if address is not None and not _public(address):
        return f"{host} is not a public internet address"
    return None


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """An address on the public internet (an IPv4-mapped IPv6 address is judged as its IPv4 one)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global


def non_public_target(url: str) -> str | None:
    """Like ``non_public_host``, and also resolves the name: any non-public address refuses it,
    with a reason a merchant can read. The connection resolves the name again, and a rebinding
    name could answer differently then: ``PublicOnlyAdapter`` checks the address actually
    connected to."""
    reason = non_public_host(url)
    if reason:
        return reason
    parts = urlsplit(url)
    try:
        answers = socket.getaddrinfo(parts.hostname or "", parts.port or 443, proto=socket.IPPROTO_TCP)
    except OSError as error:
        return f"cannot resolve {parts.hostname}: {error}"
    for answer in answers:
        address = ipaddress.ip_address(answer[4][0])
        if not _public(address):
            return f"{parts.hostname} resolves to {address}, which is not a public internet address"
    return None


class NonPublicPeerError(NewConnectionError):
    """A connection reached an address that is not public (the name resolved differently than
    when it was checked: DNS rebinding). The socket is closed before a byte is sent."""


def _refuse_non_public_peer(connection: HTTPConnection, sock: socket.socket) -> None:
    address = ipaddress.ip_address(sock.getpeername()[0])
    if not _public(address):
        sock.close()
        raise NonPublicPeerError(
            connection, f"{connection.host} connected to {address}, which is not a public internet address"
        )


class _PublicOnlyHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        _refuse_non_public_peer(self, sock)
        return sock


class _PublicOnlyHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()  # before the TLS handshake: nothing is sent to a refused peer
        _refuse_non_public_peer(self, sock)
        return sock


class _PublicOnlyHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PublicOnlyHTTPConnection


class _PublicOnlyHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PublicOnlyHTTPSConnection


class PublicOnlyAdapter(HTTPAdapter):
    """A requests transport that connects only to public addresses: it checks the address each
    new connection actually reached, after the name was resolved for it, so a name that passed
    ``non_public_target`` and then resolves to a private address (DNS rebinding) is refused before
    anything is sent. Requests through an egress proxy (``HTTPS_PROXY``) go through the proxy
    manager requests builds for it (``proxy_manager_for``), which is left as it is: the connection
    is to the proxy, and the proxy decides where requests may go."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicOnlyHTTPPool, "https": _PublicOnlyHTTPSPool}
