from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from consumers.models import SandboxMessage
from consumers.services import Requester, one_time_code_request

# The shopper's browser as the code services see it (the pages build one per session).
SHOPPER = Requester(session_token="shopper-browser-session-token", address="198.51.100.7")

CODE_IN_BODY = re.compile(r"^Your verification code is (\d{6})\. It expires in 10 minutes\. Never share it\.$")


def latest_code(address: str) -> str:
    """The code in the newest message the sandbox sender delivered to ``address``."""
    message = SandboxMessage.objects.filter(destination=address).first()
    assert message is not None, f"no message was delivered to {address}"
    match = CODE_IN_BODY.match(message.body)
    assert match is not None, message.body
    return match.group(1)


def another_code(code: str) -> str:
    """A well-formed code that is certainly not ``code``."""
    return f"{(int(code) + 1) % 1_000_000:06d}"


@pytest.fixture
def request_code(db: None, django_capture_on_commit_callbacks: Any) -> Callable[..., str]:
    """Ask for a code as the service does (for the shopper's browser unless told), run the
    after-commit delivery, and read the delivered code."""

    def request(identifier: str, requester: Requester = SHOPPER) -> str:
        with django_capture_on_commit_callbacks(execute=True):
            destination = one_time_code_request(identifier=identifier, requester=requester)
        return latest_code(destination.address)

    return request
