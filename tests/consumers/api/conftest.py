"""The consumer app as it calls its API: JSON, a bearer access token once signed in, an
Idempotency-Key on every POST; and signing in through the API itself (a code read from the
sandbox inbox)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from consumers.models import SandboxMessage
from tests.conftest import error_documented
from tests.consumers.conftest import latest_code

BASE = "/api/consumer/v1"
DEVICE_CODE = re.compile(r"^Your verification code is (\d{6})\. .* Enter it in the app to trust your new device, .+\.$")


def device_code(address: str) -> str:
    """The code in the newest message to ``address``: one sent to trust a new device."""
    message = SandboxMessage.objects.filter(destination=address).first()
    assert message is not None, f"no message was delivered to {address}"
    match = DEVICE_CODE.match(message.body)
    assert match is not None, message.body
    return match.group(1)


class AppClient:
    def __init__(self, access_token: str | None = None) -> None:
        self.access_token = access_token
        self.client = Client()

    def _headers(self, idempotency_key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.access_token}"} if self.access_token else {}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        url = path if path.startswith(("/", "http")) else f"{BASE}/{path}"
        return error_documented(self.client.get(url, params or {}, headers=self._headers(None)), url, "GET")

    def post(self, path: str, data: Any = None, *, idempotency_key: str | None = "auto") -> Any:
        url = path if path.startswith(("/", "http")) else f"{BASE}/{path}"
        key = str(uuid.uuid4()) if idempotency_key == "auto" else idempotency_key
        body = data if isinstance(data, (str, bytes)) else json.dumps(data if data is not None else {})
        response = self.client.post(url, body, content_type="application/json", headers=self._headers(key))
        return error_documented(response, url, "POST")

    def request(self, method: str, path: str) -> Any:
        return self.get(path) if method == "get" else self.post(path)


@dataclass
class SignedIn:
    """One app installation signed in: its client (with the access token), tokens and device."""

    client: AppClient
    body: dict[str, Any]

    @property
    def device_id(self) -> str:
        return str(self.body["device"]["id"])

    @property
    def refresh_token(self) -> str:
        return str(self.body["refresh_token"])


SignIn = Callable[..., SignedIn]


@pytest.fixture
def sign_in(db: None, django_capture_on_commit_callbacks: Any) -> SignIn:
    """Sign the app in through the API: ask for a code, read it from the sandbox inbox, enter it."""

    def run(email: str, *, device_name: str = "Ada's iPhone", **extra: str) -> SignedIn:
        client = AppClient()
        with django_capture_on_commit_callbacks(execute=True):
            asked = client.post("auth/codes", {"identifier": email})
        assert asked.status_code == 201, asked.content
        body = {
            "identifier": email,
            "code": latest_code(email),
            "sign_in_token": asked.json()["sign_in_token"],
            "device_name": device_name,
            "device_platform": "ios",
            **extra,
        }
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post("auth/sign-in", body)
        assert response.status_code == 201, response.content
        return SignedIn(client=AppClient(response.json()["access_token"]), body=response.json())

    return run
