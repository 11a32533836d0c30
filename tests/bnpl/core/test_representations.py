"""A ``Representation`` renders exactly what DRF's own ``Serializer.to_representation`` renders
from the same declared fields (copied and bound per serializer, as DRF does), nested rows,
dotted sources, method fields and nulls included."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import pytest
from django.utils import timezone
from rest_framework import serializers

from bnpl.checkout import orders
from bnpl.checkout.loading import orders_with_representation
from bnpl.checkout.models import Order
from bnpl.checkout.representations import CaptureRepresentation, OrderRepresentation, RefundRepresentation
from bnpl.core.representations import Representation
from merchants.representations import MerchantRepresentation
from tests.bnpl.checkout.factories import make_authorized_order
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db


def _drf(representation: type[Representation[Any]], instance: Any) -> dict[str, Any]:
    """What DRF renders: its generic walk over the serializer's own bound fields, nested rows
    through the same walk."""
    data = serializers.Serializer.to_representation(representation(instance), instance)
    for name, nested in (("captures", CaptureRepresentation), ("refunds", RefundRepresentation)):
        if name in data:
            data[name] = [_drf(nested, row) for row in getattr(instance, name).all()]
    return data


def test_an_order_with_captures_and_a_refund_renders_as_drf_renders_it(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=20_000)
    orders.order_capture(order=order, amount=5_000, merchant_reference="shipment-1")
    orders.order_capture(order=order, amount=3_000)
    orders.order_refund(order=Order.objects.get(pk=order.pk), amount=1_000, reason="damaged")
    order = orders_with_representation(Order.objects.filter(pk=order.pk)).get()

    rendered = OrderRepresentation(order).data

    assert rendered == _drf(OrderRepresentation, order)
    assert [capture["amount"] for capture in rendered["captures"]] == [5_000, 3_000]
    assert [refund["reason"] for refund in rendered["refunds"]] == ["damaged"]
    assert list(rendered) == list(OrderRepresentation().fields)


def test_a_merchant_with_a_null_renders_as_drf_renders_it(tenant: Tenant) -> None:
    merchant = tenant.merchant
    merchant.approved_at = None

    rendered = MerchantRepresentation(merchant).data

    assert rendered == _drf(MerchantRepresentation, merchant)
    assert rendered["approved_at"] is None
    assert rendered["object"] == "merchant"


class _Stamped(Representation[Any]):
    at = serializers.DateTimeField()
    formatted = serializers.DateTimeField(source="at", format="%Y-%m-%d")


class _Row:
    def __init__(self, at: Any) -> None:
        self.at = at


@pytest.mark.parametrize(
    "at",
    [
        dt.datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 8, 1, 2, 3, tzinfo=dt.UTC),
        dt.datetime(2026, 7, 1, 9, 30, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
        dt.datetime(2026, 7, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=45))),
        None,
    ],
)
def test_times_render_in_utc_as_drf_renders_them_without_asking_the_current_time_zone(
    at: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _drf(_Stamped, _Row(at))
    # A plain DateTimeField no longer asks for the current time zone per value; a formatted one still does.
    asked = []
    current = timezone.get_current_timezone

    def counted() -> Any:
        asked.append(1)
        return current()

    monkeypatch.setattr(timezone, "get_current_timezone", counted)

    rendered = _Stamped().render(_Row(at))

    assert rendered == expected
    assert rendered["at"] is None or rendered["at"].endswith("Z")
    assert len(asked) == (0 if at is None else 1)  # the formatted field's one lookup
