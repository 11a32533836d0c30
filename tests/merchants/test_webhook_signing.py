"""The webhook signature: ``Bnpl-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "{t}.{body}")>``,
and ``verify_signature``, the pure helper a merchant copies."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given
from hypothesis import strategies as st

from merchants.webhooks import signature_header, verify_signature

SECRET = "whsec_0123456789abcdefghijABCDEFGHIJ01"
BODY = b'{"id":"evt_1","object":"event","type":"webhook_endpoint.test"}'
T = 1_800_000_000


def test_the_header_is_hmac_sha256_of_timestamp_dot_body_in_hex() -> None:
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()

    assert signature_header(payload=BODY, secret=SECRET, timestamp=T) == f"t={T},v1={expected}"


@given(payload=st.binary(max_size=2000), secret=st.text(min_size=1, max_size=60), timestamp=st.integers(0, 2**40))
def test_any_signed_payload_verifies_at_its_own_time(payload: bytes, secret: str, timestamp: int) -> None:
    header = signature_header(payload=payload, secret=secret, timestamp=timestamp)

    assert verify_signature(payload=payload, header=header, secret=secret, now=timestamp) is True


def test_a_signature_verifies_within_the_tolerance_either_side() -> None:
    header = signature_header(payload=BODY, secret=SECRET, timestamp=T)

    assert verify_signature(payload=BODY, header=header, secret=SECRET, now=T + 300) is True
    assert verify_signature(payload=BODY, header=header, secret=SECRET, now=T - 300) is True
    assert verify_signature(payload=BODY, header=header, secret=SECRET, now=T + 59, tolerance_seconds=60) is True


def test_an_expired_or_future_timestamp_is_refused() -> None:
    header = signature_header(payload=BODY, secret=SECRET, timestamp=T)

    assert verify_signature(payload=BODY, header=header, secret=SECRET, now=T + 301) is False
    assert verify_signature(payload=BODY, header=header, secret=SECRET, now=T - 301) is False
    assert verify_signature(payload=BODY, header=header, secret=SECRET, now=T + 61, tolerance_seconds=60) is False


def test_a_tampered_body_is_refused() -> None:
    header = signature_header(payload=BODY, secret=SECRET, timestamp=T)

    assert verify_signature(payload=BODY.replace(b"test", b"tesT"), header=header, secret=SECRET, now=T) is False
    assert verify_signature(payload=BODY + b" ", header=header, secret=SECRET, now=T) is False


def test_a_changed_timestamp_is_refused_even_inside_the_tolerance() -> None:
    signature = signature_header(payload=BODY, secret=SECRET, timestamp=T).split(",")[1]

    assert verify_signature(payload=BODY, header=f"t={T + 1},{signature}", secret=SECRET, now=T) is False


def test_another_secret_is_refused() -> None:
    header = signature_header(payload=BODY, secret=SECRET, timestamp=T)

    assert verify_signature(payload=BODY, header=header, secret=SECRET + "x", now=T) is False
    assert verify_signature(payload=BODY, header=header, secret="", now=T) is False


def test_one_matching_signature_among_several_is_enough() -> None:
    good = signature_header(payload=BODY, secret=SECRET, timestamp=T).split(",")[1]
    other = signature_header(payload=BODY, secret="whsec_old", timestamp=T).split(",")[1]

    assert verify_signature(payload=BODY, header=f"t={T},{other},{good}", secret=SECRET, now=T) is True
    assert verify_signature(payload=BODY, header=f"t={T}, {good}", secret=SECRET, now=T) is True


def test_malformed_headers_are_refused_without_raising() -> None:
    signature = signature_header(payload=BODY, secret=SECRET, timestamp=T).split(",")[1].removeprefix("v1=")
    for header in (
        "",
        "garbage",
        f"v1={signature}",  # no timestamp
        f"t={T}",  # no signature
        f"t=,v1={signature}",
        f"t=-{T},v1={signature}",
        f"t={T}.5,v1={signature}",
        f"t=١٢٣,v1={signature}",  # digits, but not ASCII ones
        f"t={T},v0={signature}",  # an unknown scheme only
        f"t={T},v1=",
        f"t={T},v1=é{signature[1:]}",
        f"t={T},v1={signature.upper()}",
    ):
        assert verify_signature(payload=BODY, header=header, secret=SECRET, now=T) is False, header


def test_now_defaults_to_the_wall_clock() -> None:
    import time

    fresh = signature_header(payload=BODY, secret=SECRET, timestamp=int(time.time()))
    stale = signature_header(payload=BODY, secret=SECRET, timestamp=int(time.time()) - 3600)

    assert verify_signature(payload=BODY, header=fresh, secret=SECRET) is True
    assert verify_signature(payload=BODY, header=stale, secret=SECRET) is False


def test_the_verification_example_in_the_docs_works_as_the_helper_does() -> None:
    from pathlib import Path

    from django.conf import settings

    text = (Path(settings.BASE_DIR) / "docs" / "webhooks.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)  # the merchant's copy, as documented
    documented = namespace["verify_signature"]
    header = signature_header(payload=BODY, secret=SECRET, timestamp=T)

    for payload, secret, now in [(BODY, SECRET, T), (BODY + b" ", SECRET, T), (BODY, "x", T), (BODY, SECRET, T + 301)]:
        expected = verify_signature(payload=payload, header=header, secret=secret, now=now)
        assert documented(payload=payload, header=header, secret=secret, now=now) is expected  # type: ignore[operator]
    assert documented(payload=BODY, header=header, secret=SECRET, now=T) is True  # type: ignore[operator]
