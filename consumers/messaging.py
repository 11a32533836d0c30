"""On-site messaging: the line a merchant shows next to a price ("or 4 interest-free payments of
$24.75"), computed here from the merchant's enabled products and the exact schedule we would offer,
never by the browser. Public: called from the merchant's pages with the publishable key
(``pk_…``), so it answers any origin (CORS) and carries no personal data.

``GET /messaging/v1/placement?key=pk_…&amount=9900&currency=USD``
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from bnpl.core.errors import ApplicationError, AuthenticationError, InvalidRequestError, PermissionDeniedError
from bnpl.core.money import MAX_AMOUNT, format_amount, normalize_currency
from bnpl.plans import services as plan_services
from bnpl.plans.models import ProductKind
from bnpl.tenancy.keys import dangerously_api_key_get_by_token
from merchants.models import ApiKey, Merchant


def placement_text(offer: plan_services.Offer, currency: str) -> str:
    """One offer in a line, exact to the cent."""
    product = offer.product
    later = [payment.amount for payment in offer.schedule]
    if product.kind == ProductKind.PAY_IN_4:
        first, rest = later[0], later[1:]
        text = f"or {len(later)} interest-free payments of {format_amount(rest[0] if rest else first, currency)}"
        return (
            text if all(amount == first for amount in later) else f"{text} (the first {format_amount(first, currency)})"
        )
    if product.kind == ProductKind.PAY_IN_30:
        return f"or pay {format_amount(offer.total_amount, currency)} in 30 days, interest-free"
    level = later[0]
    apr = offer.disclosure.terms.apr_text
    return f"or {format_amount(level, currency)}/month for {len(later)} months at {apr}% APR"


def placement(*, merchant: Merchant, livemode: bool, amount: int, currency: str) -> dict[str, Any]:
    offers = plan_services.offers_for(merchant=merchant, livemode=livemode, currency=currency, amount=amount)
    rows = [
        {
            "product": offer.product.public_id,
            "kind": offer.product.kind,
            "installment_count": len(offer.schedule),
            "payments": [payment.amount for payment in offer.schedule],
            "total_amount": offer.total_amount,
            "apr": offer.disclosure.terms.apr_text,
            "text": placement_text(offer, currency),
        }
        for offer in offers
    ]
    return {
        "object": "placement",
        "livemode": livemode,
        "amount": amount,
        "currency": currency,
        "merchant_name": merchant.name,
        "headline": rows[0]["text"] if rows else "",
        "offers": rows,
    }


def _publishable_key(token: str) -> ApiKey:
    if not token.startswith("pk_"):
        raise AuthenticationError(
            "Use your publishable key (pk_…) in web pages; never put a secret key in a page.",
            code="publishable_key_required",
            param="key",
        )
    api_key = dangerously_api_key_get_by_token(token=token) if len(token) <= 200 else None
    if api_key is None or api_key.is_revoked or api_key.kind != ApiKey.Kind.PUBLISHABLE:
        raise AuthenticationError("Invalid publishable key.", param="key")
    merchant = api_key.merchant
    if merchant.status == Merchant.Status.SUSPENDED or (api_key.livemode and not merchant.is_active):
        raise PermissionDeniedError("This merchant cannot take payments right now.", code="merchant_unavailable")
    return api_key


def _amount(raw: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) <= MAX_AMOUNT:
        raise InvalidRequestError(
            f"amount must be a whole number of minor units from 1 to {MAX_AMOUNT}.", param="amount"
        )
    return int(raw)


@require_GET
def placement_view(request: HttpRequest) -> JsonResponse:
    try:
        api_key = _publishable_key(request.GET.get("key", ""))
        amount = _amount(request.GET.get("amount", ""))
        currency = normalize_currency(
            request.GET.get("currency") or api_key.merchant.default_currency, param="currency"
        )
        body = placement(merchant=api_key.merchant, livemode=api_key.livemode, amount=amount, currency=currency)
        response = JsonResponse(body)
        response["Cache-Control"] = "public, max-age=60"
    except ApplicationError as error:
        response = JsonResponse({"error": error.as_dict()}, status=error.status_code)
    response["Access-Control-Allow-Origin"] = "*"  # public data, no cookies
    return response
