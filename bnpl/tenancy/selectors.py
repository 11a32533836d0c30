"""Reads of merchant-owned rows, scoped by tenant and mode: the rows a merchant may see, by list
or by id alike. Another merchant's object is simply not found (404, never 403). Anything that must
read across tenants lives beside its caller and is named ``dangerously_…``."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from django.db.models import Count, Max, Model, OuterRef, Prefetch, QuerySet, Subquery

from bnpl.core.compiled import CompiledSelect
from bnpl.core.errors import NotFoundError
from bnpl.core.event_types import merchant_visible_types
from bnpl.core.ids import is_well_formed
from bnpl.core.models import Event
from consumers.models import Consumer, MerchantConsumer
from decisioning.models import BankDataConsent, BankTransaction
from merchants.models import Merchant

OwnedModel = TypeVar("OwnedModel", bound=Model)


def scoped_queryset(model: type[OwnedModel], *, merchant: Merchant, livemode: bool) -> QuerySet[OwnedModel]:
    """The one place merchant-owned rows are filtered by tenant and mode. ``model`` has
    ``merchant`` and ``livemode`` fields (``MerchantOwnedModel`` or the outbox ``Event``). Deleted
    rows are hidden, and so are events of types not registered as merchant-visible (credit
    decisions, collections, consumers' and operators' actions carry the merchant for routing, not
    for the merchant to read)."""
    return _scoped(model, merchant_id=merchant.pk, livemode=livemode)


def _scoped(model: type[OwnedModel], *, merchant_id: int, livemode: bool) -> QuerySet[OwnedModel]:
    queryset = model._default_manager.filter(merchant_id=merchant_id, livemode=livemode)
    if any(field.name == "deleted_at" for field in model._meta.get_fields()):
        queryset = queryset.filter(deleted_at__isnull=True)
    if model is Event:
        queryset = queryset.filter(type__in=merchant_visible_types())
    return queryset


class Loading(Protocol):
    """What a read of one object adds to its query and then does to the object read, so that what
    its handler renders is read with it (``bnpl.checkout.loading.ORDER_REPRESENTATION``). Kept for
    the process: ``scoped_get`` compiles one statement per loading."""

    def shape(self, queryset: QuerySet[Any]) -> QuerySet[Any]: ...

    def finish(self, instance: Any) -> Any: ...

    def __hash__(self) -> int: ...  # one kept for the process: the compiled statements are by loading


def scoped_get(
    model: type[OwnedModel], *, merchant: Merchant, livemode: bool, public_id: str, loading: Loading | None = None
) -> OwnedModel:
    """The merchant's object in that mode with that public id, or NotFoundError. ``loading``: what
    else to read with it, in the same statement."""
    if not is_well_formed(public_id):
        raise NotFoundError(f"No such {model._meta.verbose_name}.", param="id")
    found = _scoped_get_statement(model, livemode=livemode, loading=loading).rows(merchant.pk, public_id)
    if not found:
        raise NotFoundError(f"No such {model._meta.verbose_name}: {public_id!r}.", param="id")
    if len(found) > 1:
        raise model.MultipleObjectsReturned(f"{len(found)} {model._meta.verbose_name_plural} are {public_id!r}")  # type: ignore[attr-defined]
    return found[0] if loading is None else loading.finish(found[0])


def _scoped_get_statement(
    model: type[OwnedModel], *, livemode: bool, loading: Loading | None
) -> CompiledSelect[OwnedModel]:
    """``scoped_get``'s SELECT, compiled once per shape: the model, the mode, the loading and, for
    events, the types registered as merchant-visible (a type registered later makes a new statement)."""
    return _scoped_get_compiled(model, livemode, tuple(merchant_visible_types()) if model is Event else (), loading)


@functools.cache  # every partner request naming an object runs one of these
def _scoped_get_compiled(
    model: type[OwnedModel], livemode: bool, event_types: tuple[str, ...], loading: Loading | None
) -> CompiledSelect[OwnedModel]:
    def build(merchant_id: Any, public_id: Any) -> QuerySet[OwnedModel]:
        queryset = _scoped(model, merchant_id=merchant_id, livemode=livemode)
        if loading is not None:
            queryset = loading.shape(queryset)
        return queryset.filter(public_id=public_id).order_by()[:2]

    return CompiledSelect(build, arity=2)


def merchant_consumer_id(*, merchant_id: int, livemode: bool, consumer_id: int | None) -> str | None:
    """The merchant's own id (``cus_…``) for a consumer: None until that consumer has confirmed a
    purchase at the merchant in this mode (``merchant_consumer_ensure`` makes the link then)."""
    if consumer_id is None:
        return None
    return (
        MerchantConsumer.objects.filter(merchant_id=merchant_id, livemode=livemode, consumer_id=consumer_id)
        .values_list("public_id", flat=True)
        .first()
    )


def merchant_consumer_id_subquery(*, merchant_id: str = "merchant_id") -> Subquery:
    """``merchant_consumer_id`` for every row of a list in the list's own query: annotate the list with
    it instead of asking once per row. The rows have ``livemode`` and ``consumer_id``; ``merchant_id``
    is the lookup path to their merchant's id."""
    return Subquery(
        MerchantConsumer.objects.filter(
            merchant_id=OuterRef(merchant_id), livemode=OuterRef("livemode"), consumer_id=OuterRef("consumer_id")
        ).values("public_id")[:1]
    )


# What a listed consumer carries, read through the functions below: on the consumer, the consent the
# merchant holds (a list of at most one: one source per merchant, one consent per source, mode and
# consumer); on that consent, its transactions' count and latest date and the merchant's id for its
# consumer.
_LISTED_CONSENTS = "listed_bank_data_consents"
_LISTED_TRANSACTION_COUNT = "listed_transaction_count"
_LISTED_LATEST_BOOKED_ON = "listed_latest_booked_on"
_LISTED_MERCHANT_CONSUMER_ID = "listed_merchant_consumer_public_id"


@dataclass(frozen=True)
class BankDataSent:
    consent: BankDataConsent | None  # the merchant's, in the link's mode (any status)
    transactions: int  # kept under that consent
    latest_booked_on: dt.date | None


def merchant_consumer_list(*, merchant: Merchant, livemode: bool) -> QuerySet[MerchantConsumer]:
    """The merchant's consumers in one mode, each with the bank data the merchant sent for them, so a
    page costs the same few queries whatever its length."""
    consents = (
        BankDataConsent.objects.filter(source__merchant=merchant, livemode=livemode)
        .select_related("source")
        .annotate(
            **{
                _LISTED_TRANSACTION_COUNT: Count("transactions"),
                _LISTED_LATEST_BOOKED_ON: Max("transactions__booked_on"),
                _LISTED_MERCHANT_CONSUMER_ID: merchant_consumer_id_subquery(merchant_id="source__merchant_id"),
            }
        )
    )
    return scoped_queryset(MerchantConsumer, merchant=merchant, livemode=livemode).prefetch_related(
        Prefetch("consumer", queryset=Consumer.objects.only("id")),
        Prefetch("consumer__bank_data_consents", queryset=consents, to_attr=_LISTED_CONSENTS),
    )


def merchant_consumer_bank_data(link: MerchantConsumer) -> BankDataSent:
    """The bank data the link's merchant sent for its consumer in its mode: read from a listed link,
    asked for one that was not listed."""
    # Only a listed link has its consumer loaded already: a single one is not made to load it.
    consumer = link.consumer if MerchantConsumer.consumer.field.is_cached(link) else None
    listed: list[BankDataConsent] | None = getattr(consumer, _LISTED_CONSENTS, None)
    if listed is None:
        consent = (
            BankDataConsent.objects.select_related("source")
            .filter(source__merchant_id=link.merchant_id, livemode=link.livemode, consumer_id=link.consumer_id)
            .first()
        )
        if consent is None:
            return BankDataSent(consent=None, transactions=0, latest_booked_on=None)
        sent = BankTransaction.objects.filter(consent=consent).aggregate(count=Count("id"), latest=Max("booked_on"))
        return BankDataSent(consent=consent, transactions=sent["count"], latest_booked_on=sent["latest"])
    if not listed:
        return BankDataSent(consent=None, transactions=0, latest_booked_on=None)
    consent = listed[0]
    return BankDataSent(
        consent=consent,
        transactions=getattr(consent, _LISTED_TRANSACTION_COUNT),
        latest_booked_on=getattr(consent, _LISTED_LATEST_BOOKED_ON),
    )


def bank_data_consent_merchant_consumer_id(consent: BankDataConsent) -> str | None:
    """The id (``cus_…``) the consent's source, when a merchant, knows its consumer by."""
    if hasattr(consent, _LISTED_MERCHANT_CONSUMER_ID):
        return getattr(consent, _LISTED_MERCHANT_CONSUMER_ID)
    merchant_id = consent.source.merchant_id
    if merchant_id is None:
        return None
    return merchant_consumer_id(merchant_id=merchant_id, livemode=consent.livemode, consumer_id=consent.consumer_id)
