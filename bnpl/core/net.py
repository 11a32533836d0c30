"""Outbound-request safety: live-mode webhooks must not reach the lender's own network (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


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
    if address is not None and not address.is_global:
        return f"{host} is not a public internet address"
    return None


def non_public_target(url: str) -> str | None:
    """Like ``non_public_host``, and also resolves the name: any non-public address refuses it.
    (The connection resolves again; a rebinding name could still slip between the two, which an
    egress proxy closes in production.)"""
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
        if not address.is_global:
            return f"{parts.hostname} resolves to {address}, which is not a public internet address"
    return None
