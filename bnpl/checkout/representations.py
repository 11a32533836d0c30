"""Public shapes of checkout objects: API responses and event payloads share them (and the OpenAPI
schema documents them from these serializers)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bnpl.checkout.models import Capture, CheckoutSession, Dispute, Order, Refund
from bnpl.checkout.selectors import (
    checkout_session_is_open,
    checkout_session_offers,
    checkout_session_order_id,
    merchant_consumer_id,
)
from bnpl.core.links import public_url
from bnpl.core.representations import Representation
from bnpl.plans.representations import OfferRepresentation
from decisioning import checkout_outcome
from decisioning.selectors import OUTCOMES, CheckoutOutcome


def hosted_url(session: CheckoutSession) -> str:
    return public_url(f"/checkout/{session.public_id}")


class LineItemRepresentation(serializers.Serializer[Any]):
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_amount = serializers.IntegerField(help_text="Minor units")
    total_amount = serializers.IntegerField(help_text="quantity * unit_amount")
    sku = serializers.CharField(required=False)


class CheckoutSessionRepresentation(serializers.Serializer[CheckoutSession]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    status = serializers.ChoiceField(choices=CheckoutSession.Status.choices)
    amount = serializers.IntegerField(help_text="Minor units")
    currency = serializers.CharField()
    line_items = LineItemRepresentation(many=True)
    merchant_reference = serializers.CharField()
    customer_email = serializers.CharField()
    customer_phone = serializers.CharField()
    product_kinds = serializers.ListField(child=serializers.CharField())
    return_url = serializers.CharField()
    cancel_url = serializers.CharField()
    url = serializers.SerializerMethodField(help_text="Send the shopper here")
    consumer = serializers.SerializerMethodField(
        help_text="Your id for the shopper (cus_…) once they have confirmed a purchase with you; null before "
        "(opening your checkout does not identify them to you)"
    )
    order = serializers.SerializerMethodField()
    outcome = serializers.SerializerMethodField(
        help_text="The credit decision on this checkout, null until there is one: approved (for the whole "
        "amount), counteroffered (approved for approved_amount, the rest due today as a down payment: the "
        "session completes if the shopper accepts), declined, or referred (a person is reviewing it; the "
        "session is in_review). The latest decision counts. The reasons are the shopper's and are never "
        "given to you."
    )
    approved_amount = serializers.SerializerMethodField(
        help_text="Minor units the decision lends: the amount when approved, less when counteroffered; null otherwise"
    )
    offers = serializers.SerializerMethodField(
        help_text="What the hosted checkout offers the shopper, computed now as the page computes it: one "
        "per eligible product, with its payments and Truth in Lending disclosure. Empty once the session is "
        "no longer open (the plan bought keeps its own disclosure). In API responses only, not in events."
    )
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()

    def _outcome_of(self, instance: CheckoutSession) -> CheckoutOutcome | None:
        """The session's decision as the merchant sees it, read once per session for the two fields
        below (a rendering given both of them reads nothing)."""
        if getattr(self, "_outcome_session", None) is not instance:
            self._outcome = checkout_outcome(checkout_session=instance)
            self._outcome_session = instance
        return self._outcome

    def get_object(self, instance: CheckoutSession) -> str:
        return "checkout.session"

    @extend_schema_field(serializers.ChoiceField(choices=OUTCOMES, allow_null=True))
    def get_outcome(self, instance: CheckoutSession) -> str | None:
        outcome = self._outcome_of(instance)
        return outcome.outcome if outcome else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_approved_amount(self, instance: CheckoutSession) -> int | None:
        outcome = self._outcome_of(instance)
        return outcome.approved_amount if outcome else None

    @extend_schema_field(OfferRepresentation(many=True))
    def get_offers(self, instance: CheckoutSession) -> list[dict[str, Any]]:
        if not checkout_session_is_open(instance):
            return []
        return [dict(offer) for offer in OfferRepresentation(checkout_session_offers(instance), many=True).data]

    def get_url(self, instance: CheckoutSession) -> str:
        return hosted_url(instance)

    def get_consumer(self, instance: CheckoutSession) -> str | None:
        return merchant_consumer_id(instance)

    def get_order(self, instance: CheckoutSession) -> str | None:
        return checkout_session_order_id(instance)


class CaptureRepresentation(Representation[Capture]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    order = serializers.CharField(source="order.public_id")
    amount = serializers.IntegerField()
    merchant_fee_amount = serializers.IntegerField()
    merchant_reference = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_object(self, instance: Capture) -> str:
        return "capture"


class RefundRepresentation(Representation[Refund]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    order = serializers.CharField(source="order.public_id")
    amount = serializers.IntegerField()
    merchant_fee_refunded_amount = serializers.IntegerField()
    applied_to_plan_amount = serializers.IntegerField(help_text="Taken off installments still to pay")
    returned_to_card_amount = serializers.IntegerField(help_text="Already paid, so sent back to the card")
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_object(self, instance: Refund) -> str:
        return "refund"


class OrderRepresentation(Representation[Order]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    status = serializers.ChoiceField(choices=Order.Status.choices)
    currency = serializers.CharField()
    authorized_amount = serializers.IntegerField()
    captured_amount = serializers.IntegerField()
    voided_amount = serializers.IntegerField()
    refunded_amount = serializers.IntegerField()
    open_amount = serializers.IntegerField(help_text="Still capturable")
    merchant_fee_amount = serializers.IntegerField()
    merchant_reference = serializers.CharField()
    checkout_session = serializers.CharField(source="checkout_session.public_id")
    consumer = serializers.SerializerMethodField(help_text="Your id for the consumer (cus_…)")
    plan = serializers.CharField(source="plan.public_id")
    captures = CaptureRepresentation(many=True)
    refunds = RefundRepresentation(many=True)
    authorization_expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()

    def get_object(self, instance: Order) -> str:
        return "order"

    def get_consumer(self, instance: Order) -> str | None:
        return merchant_consumer_id(instance)


class DisputeRepresentation(serializers.Serializer[Dispute]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    livemode = serializers.BooleanField()
    order = serializers.CharField(source="order.public_id")
    kind = serializers.ChoiceField(choices=Dispute.Kind.choices, help_text="return or dispute")
    source = serializers.ChoiceField(  # type: ignore[assignment]  # a field (the metaclass takes it), not Field.source
        choices=Dispute.Source.choices,
        help_text="consumer (opened in our portal) or card_network (a chargeback with the shopper's card bank)",
    )
    reason = serializers.ChoiceField(choices=Dispute.Reason.choices)
    amount = serializers.IntegerField(help_text="What is in question, in minor units")
    currency = serializers.CharField(source="order.currency")
    description = serializers.CharField(help_text="The consumer's words")
    status = serializers.ChoiceField(
        choices=Dispute.Status.choices,
        help_text="needs_response (answer by respond_by), under_review (our team decides), "
        "refunded, won, lost, withdrawn",
    )
    respond_by = serializers.DateTimeField(help_text="Refund or contest before this, or our team decides")
    refunded_since_opened = serializers.SerializerMethodField(help_text="Refunds on the order since it opened")
    evidence = serializers.CharField(help_text="Your answer, when you contested it")
    decision_note = serializers.CharField(help_text="Our team's note, when it decided")
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)

    def get_object(self, instance: Dispute) -> str:
        return "dispute"

    def get_refunded_since_opened(self, instance: Dispute) -> int:
        return instance.order.refunded_amount - instance.refunded_at_open


# The contact details a merchant sent stay out of events and audit rows: both are kept for good (the
# audit log is append-only) and go to webhooks and the lake, and an erasure must be able to remove
# them. The API's session still shows them to the merchant that sent them.
CONTACT_FIELDS = ("customer_email", "customer_phone")
# The offers are a quote computed when asked (their dates move with the day), not the session's
# state: an event records what changed, so they stay in API responses only.
QUOTE_FIELDS = ("offers",)


class CheckoutSessionListItemRepresentation(CheckoutSessionRepresentation):
    """A session in a list: without the offers, a quote computed per session (schedules and
    disclosures of every eligible product) that a page of 100 sessions should not pay for; retrieve
    the session for them."""

    omitted: tuple[str, ...] = QUOTE_FIELDS

    def get_fields(self) -> Any:
        fields = super().get_fields()
        for name in self.omitted:
            del fields[name]
        return fields


class _CheckoutSessionRecordRepresentation(Representation[CheckoutSession], CheckoutSessionListItemRepresentation):
    """The session as recorded: without the fields events and the audit log leave out (so nothing is
    computed for them), its fields read once per process (``bnpl.core.representations``)."""

    omitted = (*CONTACT_FIELDS, *QUOTE_FIELDS)


# What a session's record reads from other rows than the session's own: its governing decision and
# its order. Changing the session's status (``checkout_session_transition``) changes neither.
SESSION_RELATED_FIELDS = ("outcome", "approved_amount", "order")
# A session just made has no decision and no order yet.
NEW_SESSION_RELATED = dict.fromkeys(SESSION_RELATED_FIELDS)


def checkout_session_data(session: CheckoutSession, *, reused: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The session as events and the audit log record it: its representation without contact details
    and without the offers. The fields named in ``reused`` take their value from there instead of
    being read again (a caller that knows them: ``Representation.render``)."""
    return _CheckoutSessionRecordRepresentation().render(session, reused=reused)


class _CheckoutSessionResponse(Representation[CheckoutSession], CheckoutSessionRepresentation):
    """The session as the API shows it, its fields read once per process (``bnpl.core.representations``)."""


def checkout_session_response(session: CheckoutSession, *, new: bool = False) -> dict[str, Any]:
    """``CheckoutSessionRepresentation(session).data``. ``new``: the session was just made, so it has
    no decision and no order, and neither is read."""
    return _CheckoutSessionResponse().render(session, reused=NEW_SESSION_RELATED if new else None)


def order_data(order: Order) -> dict[str, Any]:
    return dict(OrderRepresentation(order).data)


def order_data_authorized(order: Order, *, merchant_consumer_id: str) -> dict[str, Any]:
    """``order_data`` of an order just authorized, in its authorization's transaction: it has no
    captures or refunds yet, and the merchant's id for its consumer is the one the authorization
    has just ensured, so none of them is read."""
    return OrderRepresentation().render(order, reused={"captures": [], "refunds": [], "consumer": merchant_consumer_id})


def order_data_after_capture(order: Order, *, before: dict[str, Any], capture: Capture) -> dict[str, Any]:
    """``order_data`` of an order just after ``capture`` was made, from its data before: its own
    fields read again, its captures those it had (rendered in ``before``) and the new one last (as
    reading them again would list it), its refunds those it had. A capture or refund row, once
    made, renders the same whatever happens to its order later."""
    return OrderRepresentation().render(
        order,
        reused={"captures": [*before["captures"], capture_data(capture)], "refunds": before["refunds"]},
    )


def capture_data(capture: Capture) -> dict[str, Any]:
    return dict(CaptureRepresentation(capture).data)


def refund_data(refund: Refund) -> dict[str, Any]:
    return dict(RefundRepresentation(refund).data)


def dispute_data(dispute: Dispute) -> dict[str, Any]:
    return dict(DisputeRepresentation(dispute).data)
