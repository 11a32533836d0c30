"""Public shapes of payment products and plans (API responses and event payloads)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Sequence
from functools import cache, cached_property
from typing import Any, Protocol

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from bnpl.core.models import AuditLogEntry
from bnpl.core.representations import Representation
from bnpl.plans.models import Installment, PaymentProduct, Plan, ProductKind
from bnpl.plans.schedule import DisclosedTerms

# The two rates, named so that no integrator takes one for the other (docs/api.md, "Rates").
NOMINAL_RATE_HELP = (
    "The product's NOMINAL annual interest rate in basis points (999 = 9.99% a year): each month's interest "
    "is the balance times this rate / 12. It is NOT the annual percentage rate disclosed to the shopper "
    "(disclosure.annual_percentage_rate), which the Truth in Lending Act computes from the whole schedule and "
    "can differ (9.99% nominal over 6 monthly payments is disclosed as 9.98% APR). 0 for interest-free products."
)
DEPRECATED_APR_BPS_HELP = (
    "Deprecated: read nominal_rate_bps (the same value). Despite its name this is the product's nominal "
    "interest rate, NOT the disclosed annual percentage rate (disclosure.annual_percentage_rate)."
)


class DisclosureRepresentation(Representation[DisclosedTerms]):
    """The Truth in Lending box (Regulation Z) exactly as the shopper is or was shown it."""

    annual_percentage_rate = serializers.CharField(
        source="apr_text",
        validators=[RegexValidator(r"^\d+\.\d{2}$")],  # documents the spelling in the schema (a pattern)
        help_text="The annual percentage rate (APR) disclosed to the shopper, by Regulation Z Appendix J's "
        'actuarial method: percent with two decimals, the very string the hosted checkout shows ("9.98" is '
        "9.98%). Show this as the APR, never nominal_rate_bps.",
    )
    annual_percentage_rate_bps = serializers.IntegerField(
        source="apr_basis_points", help_text="The same disclosed APR in basis points (998 = 9.98%)"
    )
    amount_financed = serializers.IntegerField(
        help_text="Minor units of credit extended: the purchase less what is paid on the purchase day "
        "(a first installment or a down payment)"
    )
    finance_charge = serializers.IntegerField(help_text="Minor units: the cost of the credit (interest)")
    total_of_payments = serializers.IntegerField(
        help_text="Minor units paid after the purchase day: amount_financed + finance_charge"
    )


@extend_schema_serializer(deprecate_fields=["apr_bps"])
class PaymentProductRepresentation(serializers.Serializer[PaymentProduct]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    kind = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    installment_count = serializers.IntegerField()
    interval_days = serializers.IntegerField(help_text="Days between payments; 0 means monthly")
    nominal_rate_bps = serializers.IntegerField(source="apr_bps", help_text=NOMINAL_RATE_HELP)
    apr_bps = serializers.IntegerField(help_text=DEPRECATED_APR_BPS_HELP)
    down_payment_bps = serializers.IntegerField()
    min_amount = serializers.IntegerField()
    max_amount = serializers.IntegerField()
    refund_policy = serializers.CharField()

    def get_object(self, instance: PaymentProduct) -> str:
        return "payment_product"


class InstallmentRepresentation(serializers.Serializer[Installment]):
    sequence = serializers.IntegerField()
    due_date = serializers.DateField()
    amount = serializers.IntegerField()
    principal_amount = serializers.IntegerField()
    interest_amount = serializers.IntegerField()
    fee_amount = serializers.IntegerField(help_text="A late fee (the row is the fee)")
    paid_amount = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Installment.Status.choices)
    on_hold = serializers.BooleanField(
        source="is_on_hold", help_text="Held by an open return or dispute: not collected until it closes"
    )


@extend_schema_serializer(deprecate_fields=["apr_bps"])
class PlanRepresentation(serializers.Serializer[Plan]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    order = serializers.CharField(source="order.public_id")
    product = PaymentProductRepresentation()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Plan.Status.choices)
    collections_paused = serializers.BooleanField()
    standing = serializers.ChoiceField(
        choices=Plan.Standing.choices, help_text="current, late, delinquent, charged_off"
    )
    nominal_rate_bps = serializers.IntegerField(
        source="apr_bps", help_text=f"{NOMINAL_RATE_HELP} Copied from the product at purchase."
    )
    apr_bps = serializers.IntegerField(help_text=DEPRECATED_APR_BPS_HELP)
    disclosure = DisclosureRepresentation(
        allow_null=True,
        help_text="The Truth in Lending box as the shopper saw it when buying this plan. Kept as disclosed: "
        "refunds, payoffs and fees change the installments, never these figures. null only for a plan bought "
        "before they were kept whose first schedule could not be read back.",
    )
    refund_policy = serializers.CharField()
    total_amount = serializers.SerializerMethodField()
    paid_amount = serializers.SerializerMethodField()
    installments = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def to_representation(self, instance: Plan) -> Any:
        given = self.context.get("installments")  # the plan's rows as the caller holds them (a batch)
        if given is not None:
            self._rows = sorted(given, key=lambda row: row.sequence)
        else:
            self._rows = list(instance.installments.order_by("sequence"))  # one query for the three fields below
        known = self.context.get("known")  # fields the caller has shown for this plan already (a batch)
        if known is None:
            return super().to_representation(instance)
        data = {}
        for name, read in self._readers:  # DRF's own loop (no field here is skipped or a related key)
            data[name] = known[name] if name in known else read(instance)
        return data

    @cached_property
    def _readers(self) -> list[tuple[str, Callable[[Any], Any]]]:
        """Each readable field's name and reader (``field_reader``), listed once per representation
        (a batch's writer reuses one): DRF lists them anew for every instance."""
        return [(str(field.field_name), field_reader(field)) for field in self._readable_fields]

    def get_object(self, instance: Plan) -> str:
        return "plan"

    def get_total_amount(self, instance: Plan) -> int:
        return sum(installment.amount for installment in self._rows)

    def get_paid_amount(self, instance: Plan) -> int:
        return sum(installment.paid_amount for installment in self._rows)

    def get_installments(self, instance: Plan) -> list[dict[str, Any]]:
        write = _installment_writer()
        shown = self.context.get("rows_shown")  # rows the caller has shown unchanged already, by id (a batch)
        if not shown:
            return [write(row) for row in self._rows if row.status != Installment.Status.CANCELED]
        return [
            shown[row.pk] if row.pk in shown else write(row)
            for row in self._rows
            if row.status != Installment.Status.CANCELED
        ]


class PlanHistoryRepresentation(serializers.Serializer[AuditLogEntry]):
    action = serializers.CharField()
    created_at = serializers.DateTimeField()
    actor_kind = serializers.CharField()
    request_id = serializers.CharField()
    installments = serializers.SerializerMethodField()

    def get_installments(self, instance: AuditLogEntry) -> Any:
        return (instance.after or {}).get("installments", [])


class PlanWithHistoryRepresentation(PlanRepresentation):
    history = serializers.SerializerMethodField()

    def get_history(self, instance: Plan) -> list[dict[str, Any]]:
        entries = AuditLogEntry.objects.filter(object_type="plans.plan", object_id=instance.public_id).order_by(
            "created_at", "id"
        )
        return [dict(PlanHistoryRepresentation(entry).data) for entry in entries]


class OfferPaymentRepresentation(Representation[Any]):
    due_date = serializers.DateField()
    amount = serializers.IntegerField(help_text="Minor units due that day")
    principal_amount = serializers.IntegerField(source="principal")
    interest_amount = serializers.IntegerField(source="interest")


@extend_schema_serializer(deprecate_fields=["apr_bps"])
class OfferRepresentation(Representation[Any]):
    """One way the shopper may pay (``bnpl.plans.services.Offer``), as the hosted checkout shows it."""

    product = serializers.CharField(source="product.public_id", help_text="The payment product (prod_…)")
    kind = serializers.ChoiceField(source="product.kind", choices=ProductKind.choices)
    name = serializers.CharField(source="product.name")
    nominal_rate_bps = serializers.IntegerField(source="product.apr_bps", help_text=NOMINAL_RATE_HELP)
    apr_bps = serializers.IntegerField(source="product.apr_bps", help_text=DEPRECATED_APR_BPS_HELP)
    due_today_amount = serializers.IntegerField(help_text="Minor units charged when the shopper confirms")
    total_amount = serializers.IntegerField(help_text="Minor units of every payment, today's included")
    payments = OfferPaymentRepresentation(many=True, source="schedule", help_text="Every payment, in due-date order")
    disclosure = DisclosureRepresentation(
        source="disclosure.terms",
        help_text="The Truth in Lending box the shopper is shown for this offer (for financing; an "
        'interest-free offer discloses "0.00" and no finance charge)',
    )


# Fields whose ``to_representation`` of an attribute is all a plain writer needs to copy.
PLAIN_FIELDS = (
    serializers.BooleanField,
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateField,
    serializers.IntegerField,
)


# Fields whose DRF ``to_representation`` gives back a value of exactly this type unchanged
# (``int(value)`` of an int; ``True`` and ``False`` of a bool): a plain writer copies such a value.
SHOWN_AS_THEMSELVES: tuple[tuple[type[serializers.Field[Any, Any, Any, Any]], type], ...] = (
    (serializers.IntegerField, int),
    (serializers.BooleanField, bool),
)


def _shown_as_itself(field: serializers.Field[Any, Any, Any, Any]) -> type | None:
    """The type of value ``field`` shows unchanged (``SHOWN_AS_THEMSELVES``), if any."""
    shows = type(field).to_representation
    return next((kind for field_class, kind in SHOWN_AS_THEMSELVES if shows is field_class.to_representation), None)


def field_reader(field: serializers.Field[Any, Any, Any, Any]) -> Callable[[Any], Any]:
    """What ``field`` shows of an instance, as DRF's ``Serializer.to_representation`` does for it
    (the attribute by its source, None as None), a value it would show unchanged copied without
    the call (``SHOWN_AS_THEMSELVES``), a nested serializer of plain fields shown by its
    ``plain_writer`` (the same dict without DRF's per-field lookups)."""
    get, itself = field.get_attribute, _shown_as_itself(field)
    show: Callable[[Any], Any] = field.to_representation
    if isinstance(field, serializers.Serializer) and not getattr(field, "many", False):
        with contextlib.suppress(TypeError):  # a nested serializer of plain fields (the disclosure)
            show = plain_writer(field)

    def read(instance: Any) -> Any:
        attribute = get(instance)
        return attribute if type(attribute) is itself else None if attribute is None else show(attribute)

    return read


def plain_writer(representation: serializers.Serializer[Any]) -> Callable[[Any], dict[str, Any]]:
    """``representation.to_representation`` for a serializer of plain fields (each an attribute
    of the instance, no method, nested or dotted source), without DRF's per-field lookups for every
    row: what each field reads and how it shows it are taken from the serializer once. The same dict,
    key for key (a value of None stays None, as DRF leaves it; a value DRF would show as itself is
    copied without the call: ``SHOWN_AS_THEMSELVES``)."""
    readers: list[tuple[str, str, Callable[[Any], Any], type | None]] = []
    for field in representation._readable_fields:
        source = field.source_attrs
        if not isinstance(field, PLAIN_FIELDS) or len(source) != 1 or field.field_name is None:
            raise TypeError(f"{type(representation).__name__}.{field.field_name} is not a plain field")
        readers.append((field.field_name, source[0], field.to_representation, _shown_as_itself(field)))

    def write(instance: Any) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, attribute, show, itself in readers:
            value = getattr(instance, attribute)
            data[name] = value if type(value) is itself else None if value is None else show(value)
        return data

    return write


@cache
def _installment_writer() -> Callable[[Installment], dict[str, Any]]:
    return plain_writer(InstallmentRepresentation())


def plan_data(plan: Plan, *, installments: Sequence[Installment] | None = None) -> dict[str, Any]:
    """The plan's public shape; with ``installments``, its rows as the caller holds them (just
    written), not read again."""
    if installments is None:
        return dict(PlanRepresentation(plan).data)
    return dict(PlanRepresentation(plan, context={"installments": installments}).data)


# What applying payments never changes in a plan's representation: a plan shown again in the same
# batch (after its payment, as it was before) takes these as first shown.
PLAN_FIXED = (
    "id",
    "object",
    "livemode",
    "order",
    "product",
    "currency",
    "nominal_rate_bps",
    "apr_bps",
    "disclosure",
    "created_at",
)


class PlanDataWriter(Protocol):
    def __call__(
        self, plan: Plan, installments: list[Installment], *, changed: Collection[Installment] | None = None
    ) -> dict[str, Any]: ...


def plan_data_writer() -> PlanDataWriter:
    """``plan_data`` for a batch (collections settling one): ``write(plan, installments)`` with all
    the plan's rows as the caller holds them (no query), one representation reused for every call
    (building one costs five times what using it does), each product shown once and each plan's
    fixed fields (``PLAN_FIXED``) once: a plan shown again -- after its payment -- shows only its
    status and installments anew, and with ``changed`` (the rows changed since this plan was last
    written) only those rows anew, the others as last shown (a payment changes one row or two of a
    plan's twelve). For one thread and one batch, in which the plans' terms and products do not
    change."""
    representation = PlanRepresentation(context={})
    products: dict[int, Any] = {}  # a product's representation, shown once per batch
    shown: dict[int, dict[str, Any]] = {}  # each plan's fields that a payment never changes, once shown
    rows_shown: dict[int, dict[int, dict[str, Any]]] = {}  # each plan's rows as last shown, by row id

    def write(
        plan: Plan, installments: list[Installment], *, changed: Collection[Installment] | None = None
    ) -> dict[str, Any]:
        known = shown.get(plan.pk)
        if known is None:
            known = {"product": products[plan.product_id]} if plan.product_id in products else {}
        unchanged: dict[int, dict[str, Any]] = {}
        if changed is not None and plan.pk in rows_shown:
            changed_ids = {row.pk for row in changed}
            unchanged = {pk: row for pk, row in rows_shown[plan.pk].items() if pk not in changed_ids}
        representation.context.update(installments=installments, known=known, rows_shown=unchanged)
        data = dict(representation.to_representation(plan))
        products[plan.product_id] = data["product"]
        shown[plan.pk] = {name: data[name] for name in PLAN_FIXED}
        visible = [row.pk for row in representation._rows if row.status != Installment.Status.CANCELED]
        rows_shown[plan.pk] = dict(zip(visible, data["installments"], strict=True))
        return data

    return write
