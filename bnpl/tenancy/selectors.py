"""Reads of merchant-owned rows, scoped by tenant and mode: the rows a merchant may see, by list
or by id alike. Another merchant's object is simply not found (404, never 403). Anything that must
read across tenants lives beside its caller and is named ``dangerously_…``."""

from __future__ import annotations

from typing import TypeVar

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, QuerySet

from bnpl.core.errors import NotFoundError
from bnpl.core.event_types import merchant_visible_types
from bnpl.core.ids import is_well_formed
from bnpl.core.models import Event
from merchants.models import Merchant

OwnedModel = TypeVar("OwnedModel", bound=Model)


def scoped_queryset(model: type[OwnedModel], *, merchant: Merchant, livemode: bool) -> QuerySet[OwnedModel]:
    """The one place merchant-owned rows are filtered by tenant and mode. ``model`` has
    ``merchant`` and ``livemode`` fields (``MerchantOwnedModel`` or the outbox ``Event``). Deleted
    rows are hidden, and so are events of types not registered as merchant-visible (credit
    decisions, collections, consumers' and operators' actions carry the merchant for routing, not
    for the merchant to read)."""
    queryset = model._default_manager.filter(merchant=merchant, livemode=livemode)
    if any(field.name == "deleted_at" for field in model._meta.get_fields()):
        queryset = queryset.filter(deleted_at__isnull=True)
    if model is Event:
        queryset = queryset.filter(type__in=merchant_visible_types())
    return queryset


def scoped_get(model: type[OwnedModel], *, merchant: Merchant, livemode: bool, public_id: str) -> OwnedModel:
    if not is_well_formed(public_id):
        raise NotFoundError(f"No such {model._meta.verbose_name}.", param="id")
    try:
        return scoped_queryset(model, merchant=merchant, livemode=livemode).get(public_id=public_id)
    except ObjectDoesNotExist:
        raise NotFoundError(f"No such {model._meta.verbose_name}: {public_id!r}.", param="id") from None
