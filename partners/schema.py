"""The data-partner API in OpenAPI: a document of its own (``/api/partners/v1/schema``) with its own
security scheme (``partners.apis.PartnerKeyScheme``), left out of the merchants' document."""

from __future__ import annotations

from typing import Any

PREFIX = "/api/partners/v1/"


def partner_api_only(endpoints: list[tuple[str, Any, str, Any]], **kwargs: Any) -> list[tuple[str, Any, str, Any]]:
    """Preprocessing hook of this API's document: its own paths only."""
    return [endpoint for endpoint in endpoints if endpoint[0].startswith(PREFIX)]


def without_partner_api(endpoints: list[tuple[str, Any, str, Any]], **kwargs: Any) -> list[tuple[str, Any, str, Any]]:
    """Preprocessing hook of the merchants' document: the data partners' paths are not in it."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith(PREFIX)]


SCHEMA_SETTINGS = {
    "TITLE": "BNPL data-partner API",
    "DESCRIPTION": (
        "For data partners (open-banking aggregators) that send consumers' bank transactions under the consent "
        "each consumer granted them in their account. Authenticate with `Authorization: Bearer dpk_test_…`. Every "
        "POST needs an `Idempotency-Key` header. Amounts are integers in the currency's minor units."
    ),
    "SCHEMA_PATH_PREFIX": "/api/partners/v1",
    "PREPROCESSING_HOOKS": ["partners.schema.partner_api_only"],
}
