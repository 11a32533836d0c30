"""Reads of payment products, scoped to their merchant and mode (``bnpl.tenancy``)."""

from __future__ import annotations

from django.db.models import QuerySet

from bnpl.plans.models import PaymentProduct
from bnpl.tenancy.selectors import scoped_queryset
from merchants.models import Merchant


def payment_product_list(*, merchant: Merchant, livemode: bool, enabled_only: bool = False) -> QuerySet[PaymentProduct]:
    """The merchant's products in one mode (only those switched on with ``enabled_only``)."""
    products = scoped_queryset(PaymentProduct, merchant=merchant, livemode=livemode)
    return products.filter(is_enabled=True) if enabled_only else products
