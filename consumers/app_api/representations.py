"""What the consumer app is shown: the consumer's own plans, payments, cards, decisions, receipts,
disputes, hardship requests and bank-data consents. Amounts are integers in the currency's minor
units beside the currency code; ids are the public, prefixed ones; words meant for the shopper are
the portal's own (``consumers.history``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bnpl.checkout.models import Dispute
from bnpl.collections.models import HardshipRequest
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.plans.models import Installment, Plan
from bnpl.plans.representations import PlanRepresentation
from consumers import selectors
from consumers.history import decision_verdict
from consumers.models import Consumer
from decisioning.models import BankDataConsent, CreditDecision

AGREEMENT_PATH = "/api/consumer/v1/plans/{id}/agreement"
RECEIPT_PATH = "/api/consumer/v1/receipts/{id}/pdf"


class IdentityRepresentation(serializers.Serializer[Any]):
    legal_name = serializers.CharField()
    address_line1 = serializers.CharField()
    address_line2 = serializers.CharField()
    city = serializers.CharField()
    region = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField(help_text="ISO 3166-1 alpha-2")
    verified = serializers.SerializerMethodField()

    def get_verified(self, identity: Any) -> bool:
        return identity.verified_at is not None


class ProfileRepresentation(serializers.Serializer[Consumer]):
    """The portal's Profile page: who the consumer is to us. Nothing here is changed from the app
    (or the portal): identity is confirmed at checkout, and the address signed in with is the account."""

    id = serializers.CharField(source="public_id", help_text="The account number (con_…)")
    object = serializers.SerializerMethodField()
    email = serializers.CharField(allow_null=True)
    email_verified = serializers.SerializerMethodField()
    phone = serializers.CharField(allow_null=True, help_text="E.164")
    phone_verified = serializers.SerializerMethodField()
    identity = serializers.SerializerMethodField(help_text="Null until identity is confirmed at a checkout")
    notify_by_email = serializers.BooleanField()
    notify_by_sms = serializers.BooleanField()
    created_at = serializers.DateTimeField(help_text="Member since")

    def get_object(self, consumer: Consumer) -> str:
        return "profile"

    def get_email_verified(self, consumer: Consumer) -> bool:
        return consumer.email_verified_at is not None

    def get_phone_verified(self, consumer: Consumer) -> bool:
        return consumer.phone_verified_at is not None

    @extend_schema_field(IdentityRepresentation(allow_null=True))
    def get_identity(self, consumer: Consumer) -> dict[str, Any] | None:
        identity = getattr(consumer, "identity", None)
        return None if identity is None else dict(IdentityRepresentation(identity).data)


class PreferencesRepresentation(serializers.Serializer[Consumer]):
    object = serializers.SerializerMethodField()
    notify_by_email = serializers.BooleanField(help_text="Reminders and notices by email")
    notify_by_sms = serializers.BooleanField(help_text="Reminders and notices by text message")

    def get_object(self, consumer: Consumer) -> str:
        return "notification_preferences"


class NextPaymentRepresentation(serializers.Serializer[Any]):
    sequence = serializers.IntegerField()
    due_date = serializers.DateField()
    amount = serializers.IntegerField(help_text="Minor units still due on it")


class AppPlanRepresentation(PlanRepresentation):
    """The partner API's plan (its schedule included), with what the portal shows beside it: the shop,
    what is left, the next payment, an open return or dispute, and the credit agreement's address.
    Read from rows prefetched with the plan (``installments``, ``order__disputes``): no query per plan."""

    shop = serializers.SerializerMethodField(help_text="The shop's name as shoppers know it")
    remaining_amount = serializers.SerializerMethodField(help_text="Minor units left to pay")
    next_payment = serializers.SerializerMethodField()
    open_dispute = serializers.SerializerMethodField(help_text="The open return or dispute (dp_…), or null")
    agreement_url = serializers.SerializerMethodField(help_text="The credit agreement (PDF)")

    def to_representation(self, instance: Plan) -> Any:
        self.context["installments"] = list(instance.installments.all())
        return super().to_representation(instance)

    def get_shop(self, instance: Plan) -> str:
        return selectors.shop_name(instance.merchant)

    def get_remaining_amount(self, instance: Plan) -> int:
        return sum(row.amount - row.paid_amount for row in self._rows if row.status != Installment.Status.CANCELED)

    @extend_schema_field(NextPaymentRepresentation(allow_null=True))
    def get_next_payment(self, instance: Plan) -> dict[str, Any] | None:
        upcoming = sorted(
            (row for row in self._rows if row.status == Installment.Status.SCHEDULED and row.amount > row.paid_amount),
            key=lambda row: (row.due_date, row.sequence),
        )
        if not upcoming:
            return None
        row = upcoming[0]
        return {"sequence": row.sequence, "due_date": row.due_date.isoformat(), "amount": row.amount - row.paid_amount}

    def get_open_dispute(self, instance: Plan) -> str | None:
        return next((row.public_id for row in instance.order.disputes.all() if row.is_open), None)

    def get_agreement_url(self, instance: Plan) -> str:
        return AGREEMENT_PATH.format(id=instance.public_id)


class HistoryRowRepresentation(serializers.Serializer[Any]):
    at = serializers.DateTimeField()
    text = serializers.CharField(help_text="What happened, in plain words")


class PlanDetailRepresentation(AppPlanRepresentation):
    """A plan with what its page shows besides: what paying it off costs now, whether a due date may
    still be moved, and its history in plain words (``context``: ``payoff_amount``, ``history``)."""

    payoff_amount = serializers.SerializerMethodField(
        help_text="Minor units that pay the plan off today (financing owes only the interest earned so far); "
        "0 when nothing can be paid"
    )
    can_move_due_date = serializers.SerializerMethodField()
    history = serializers.SerializerMethodField()

    def get_payoff_amount(self, instance: Plan) -> int:
        return int(self.context.get("payoff_amount", 0))

    def get_can_move_due_date(self, instance: Plan) -> bool:
        return bool(self.context.get("can_move_due_date", False))

    @extend_schema_field(HistoryRowRepresentation(many=True))
    def get_history(self, instance: Plan) -> list[dict[str, Any]]:
        return [dict(HistoryRowRepresentation(row).data) for row in self.context.get("history", [])]


class PaymentRepresentation(serializers.Serializer[Charge]):
    """A payment the consumer made (or a refund sent back to their card)."""

    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=Charge.Kind.choices)
    plan = serializers.SerializerMethodField()
    amount = serializers.IntegerField(help_text="Minor units")
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=Charge.Status.choices)
    card = serializers.SerializerMethodField(help_text="The card (pm_…)")
    livemode = serializers.BooleanField()
    receipt_url = serializers.SerializerMethodField(help_text="The receipt (PDF), once the payment succeeded")
    created_at = serializers.DateTimeField()

    def get_object(self, charge: Charge) -> str:
        return "payment"

    def get_plan(self, charge: Charge) -> str | None:
        return charge.plan.public_id if charge.plan_id and charge.plan else None

    def get_card(self, charge: Charge) -> str:
        return charge.payment_method.public_id

    def get_receipt_url(self, charge: Charge) -> str | None:
        return RECEIPT_PATH.format(id=charge.public_id) if charge.status == Charge.Status.SUCCEEDED else None


class CardRepresentation(serializers.Serializer[PaymentMethod]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    brand = serializers.CharField()
    last4 = serializers.CharField()
    exp_month = serializers.IntegerField()
    exp_year = serializers.IntegerField()
    is_default = serializers.BooleanField(help_text="Payments of its mode are collected from it")
    livemode = serializers.BooleanField(help_text="False: a test-mode card, that pays test plans only")
    created_at = serializers.DateTimeField()

    def get_object(self, card: PaymentMethod) -> str:
        return "card"


class CardDefaultRepresentation(CardRepresentation):
    payments_resumed = serializers.SerializerMethodField(
        help_text="Payments that had stopped for want of a working card and are now collected from this one"
    )

    def get_payments_resumed(self, card: PaymentMethod) -> int:
        return int(self.context.get("payments_resumed", 0))


class CardSetupRepresentation(serializers.Serializer[Any]):
    """What the app needs to collect a card with the gateway's own SDK (Stripe's): the card number
    goes from the phone to the gateway, never through us."""

    object = serializers.CharField(default="card_setup")
    livemode = serializers.BooleanField()
    publishable_key = serializers.CharField(help_text="The gateway's publishable key of this mode")
    client_secret = serializers.CharField(help_text="Confirm the card setup with it (Stripe: a SetupIntent)")
    setup_intent = serializers.CharField(help_text="Send it to POST /cards once the SDK confirmed the card")


class ReasonRepresentation(serializers.Serializer[Any]):
    code = serializers.CharField()
    text = serializers.CharField(help_text="The reason in plain words")


class DecisionRepresentation(serializers.Serializer[CreditDecision]):
    """The decision on one purchase, as the portal's Decisions page shows it (``context``:
    ``adverse``, the ids of the decisions that carry a notice of action taken)."""

    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    shop = serializers.SerializerMethodField()
    outcome = serializers.ChoiceField(choices=CreditDecision.Outcome.choices)
    verdict = serializers.SerializerMethodField(help_text="What we decided, in plain words")
    amount = serializers.IntegerField(help_text="Minor units applied for")
    approved_amount = serializers.IntegerField(allow_null=True, help_text="Minor units lent; null unless approved")
    currency = serializers.CharField()
    adverse_action = serializers.SerializerMethodField(
        help_text="A decline, or a counteroffer not taken: the reasons are the principal reasons of the notice"
    )
    reasons = serializers.SerializerMethodField(help_text="What counted most, principal reasons first")
    livemode = serializers.BooleanField()
    created_at = serializers.DateTimeField()

    def get_object(self, decision: CreditDecision) -> str:
        return "decision"

    def get_shop(self, decision: CreditDecision) -> str:
        return selectors.shop_name(decision.merchant)

    def get_verdict(self, decision: CreditDecision) -> str:
        return decision_verdict(decision)

    def get_adverse_action(self, decision: CreditDecision) -> bool:
        return decision.pk in self.context.get("adverse", set())

    @extend_schema_field(ReasonRepresentation(many=True))
    def get_reasons(self, decision: CreditDecision) -> list[dict[str, str]]:
        return [
            {"code": str(reason.get("code", "")), "text": str(reason.get("text", ""))}
            for reason in decision.reasons or []
            if isinstance(reason, dict)
        ]


class DisputeRepresentation(serializers.Serializer[Dispute]):
    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    plan = serializers.SerializerMethodField()
    shop = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=Dispute.Kind.choices)
    reason = serializers.ChoiceField(choices=Dispute.Reason.choices)
    amount = serializers.IntegerField(help_text="Minor units in question")
    currency = serializers.SerializerMethodField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=Dispute.Status.choices)
    respond_by = serializers.DateTimeField(help_text="The shop answers by then")
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_object(self, dispute: Dispute) -> str:
        return "dispute"

    def get_plan(self, dispute: Dispute) -> str:
        return dispute.order.plan.public_id

    def get_shop(self, dispute: Dispute) -> str:
        return selectors.shop_name(dispute.merchant)

    def get_currency(self, dispute: Dispute) -> str:
        return dispute.order.currency


class HardshipRequestRepresentation(serializers.Serializer[HardshipRequest]):
    object = serializers.SerializerMethodField()
    plan = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=HardshipRequest.Status.choices)
    reason = serializers.CharField()
    decided_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_object(self, request: HardshipRequest) -> str:
        return "hardship_request"

    def get_plan(self, request: HardshipRequest) -> str:
        return str(self.context["plan"].public_id)


class SharedRepresentation(serializers.Serializer[Any]):
    transactions = serializers.IntegerField()
    accounts = serializers.IntegerField()
    first_booked_on = serializers.DateField(allow_null=True)
    latest_booked_on = serializers.DateField(allow_null=True)


class BankDataConsentRepresentation(serializers.Serializer[BankDataConsent]):
    """A consent to share the consumer's bank data, as the portal's data-sharing page shows it
    (``context``: ``shared``, what was shared under each consent by its id)."""

    id = serializers.CharField(source="public_id")
    object = serializers.SerializerMethodField()
    shared_by = serializers.CharField(source="source.name", help_text="Who shares the data (the shop or partner)")
    scope = serializers.ChoiceField(
        choices=BankDataConsent.Scope.choices,
        help_text="source: only decisions at the source; all_decisions: any decision about you",
    )
    current = serializers.SerializerMethodField(help_text="In force now")
    livemode = serializers.BooleanField()
    granted_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_by = serializers.CharField(allow_null=True, help_text="source or consumer; null unless revoked")
    shared = serializers.SerializerMethodField()

    def get_object(self, consent: BankDataConsent) -> str:
        return "bank_data_consent"

    def get_current(self, consent: BankDataConsent) -> bool:
        return consent.is_current(self.context["now"])

    def to_representation(self, consent: BankDataConsent) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(consent)
        data["revoked_by"] = consent.revoked_by or None
        return data

    @extend_schema_field(SharedRepresentation())
    def get_shared(self, consent: BankDataConsent) -> dict[str, Any]:
        return dict(SharedRepresentation(self.context["shared"][consent.pk]).data)
