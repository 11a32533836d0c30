"""The API reference is served from local assets: no CDN, works offline."""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from django.test import Client

from bnpl.api.views import INTERNAL_BASES
from bnpl.core.representations import Representation

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/api/v1/docs", "/api/consumer/v1/docs", "/api/partners/v1/docs"])
def test_the_docs_pages_load_only_local_assets(path: str) -> None:
    response = Client().get(path)
    html = response.content.decode()

    assert response.status_code == 200
    assert not re.search(r"""(?:src|href)=["']https?://""", html), "an asset is loaded from another host"
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert assets
    for asset in assets:
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a local static file"


def test_the_schema_is_openapi_3_and_documents_the_conventions() -> None:
    response = Client().get("/api/v1/schema", {"format": "json"})
    schema = response.json()

    assert response.status_code == 200
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["SecretKey"]["scheme"] == "bearer"
    create = schema["paths"]["/api/v1/webhook_endpoints"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" and p["required"] for p in create["parameters"])
    key = next(p for p in create["parameters"] if p["name"] == "Idempotency-Key")
    assert (key["schema"]["minLength"], key["schema"]["maxLength"]) == (1, 255)
    assert {"201", "400", "401", "403", "409", "413", "415", "422", "429"} <= set(create["responses"])
    assert "404" not in create["responses"]  # no object named in the path: nothing to be not found
    detail = schema["paths"]["/api/v1/webhook_endpoints/{id}"]["get"]
    assert "resource_missing" in detail["responses"]["404"]["description"]
    listing = schema["paths"]["/api/v1/events"]["get"]
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 100)


def _descriptions(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "description" and isinstance(value, str):
                yield value
            else:
                yield from _descriptions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _descriptions(value)


@pytest.mark.parametrize("path", ["/api/v1/schema", "/api/consumer/v1/schema", "/api/partners/v1/schema"])
def test_no_endpoint_or_shape_is_described_by_an_internal_base(path: str) -> None:
    """An endpoint or a shape without a docstring of its own took its base's: every partner
    endpoint showed the notes on IdempotentPostApi, and shapes the Representation base's."""
    schema = Client().get(path, {"format": "json"}).json()
    internal = [inspect.cleandoc(base.__doc__ or "") for base in (*INTERNAL_BASES, Representation)]

    described = list(_descriptions(schema))

    assert len(INTERNAL_BASES) >= 5
    assert described
    leaked = [text for text in described if any(doc and doc.splitlines()[0] in text for doc in internal)]
    assert not leaked
