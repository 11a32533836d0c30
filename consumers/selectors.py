from __future__ import annotations

from django.db.models import Model, Q, QuerySet

from bnpl.checkout.models import Dispute
from bnpl.core.compiled import CompiledSelect
from bnpl.core.ids import is_well_formed
from bnpl.payments.models import Charge, PaymentMethod
from bnpl.plans.models import Plan
from consumers.models import Consumer, Device, Identity, SandboxMessage
from decisioning import selectors as decisioning_selectors
from decisioning.models import BankDataConsent, CreditDecision
from merchants.models import Merchant

# Where a signed-in consumer is kept in Django's session (apart from staff and merchant users).
SESSION_KEY = "consumer_public_id"
PENDING_IDENTIFIER_KEY = "consumer_pending_identifier"  # the address a code was sent to, until verified


def consumer_for_session(*, public_id: str | None) -> Consumer | None:
    if not public_id:
        return None
    return _ACTIVE_CONSUMER.first(public_id)


def identity_is_verified(*, consumer_id: int) -> bool:
    """Whether the consumer's identity (KYC) is verified: the checkout asks on every page."""
    return bool(_VERIFIED_IDENTITY.rows(consumer_id))


_VERIFIED_IDENTITY: CompiledSelect[Identity] = CompiledSelect(
    lambda consumer_id: Identity.objects.filter(consumer_id=consumer_id, verified_at__isnull=False).only("pk")[:1]
)


# Every request of a signed-in shopper reads them: compiled once per process (``bnpl.core.compiled``).
_ACTIVE_CONSUMER: CompiledSelect[Consumer] = CompiledSelect(
    lambda public_id: Consumer.objects.filter(public_id=public_id, status=Consumer.Status.ACTIVE).order_by("pk")[:1]
)


def plan_list(*, consumer: Consumer) -> QuerySet[Plan]:
    """The consumer's own plans, across merchants and both modes, newest first, each with what the
    portal shows beside it (its shop, order and product)."""
    return (
        Plan.objects.filter(consumer=consumer)
        .select_related("merchant__branding", "order", "product")
        .order_by("-created_at", "-pk")
    )


def shop_name(merchant: Merchant) -> str:
    """The shop's name as shoppers know it: its checkout's display name, else its own (a merchant
    read with ``select_related("merchant__branding")`` costs no query)."""
    branding = getattr(merchant, "branding", None)
    return (branding.display_name if branding else "") or merchant.name


def shop_has_logo(merchant: Merchant) -> bool:
    """Whether the shop has a logo to show (served by ``merchants:branding-logo``)."""
    branding = getattr(merchant, "branding", None)
    return bool(branding and branding.logo)


def plan_get(*, consumer: Consumer, public_id: str) -> Plan | None:
    if not is_well_formed(public_id):
        return None
    return plan_list(consumer=consumer).filter(public_id=public_id).first()


def governing_decisions(queryset: QuerySet[CreditDecision]) -> QuerySet[CreditDecision]:
    """One decision per purchase: of a checkout's decisions (one per payment option prequalified, a
    re-check as the order is written, a reviewer's decision on a referral), the one that governed it
    (``decisioning.selectors.governing_first``). A decision made outside a checkout stands on its own."""
    return decisioning_selectors.governing_decisions(queryset)


def declined_decision_list(*, consumer: Consumer, limit: int = 20) -> QuerySet[CreditDecision]:
    """The consumer's adverse actions, newest first, for their notices: declines (by the model, the
    policy or a reviewer), and counteroffers (less credit than asked) the consumer walked away from."""
    from bnpl.checkout.models import CheckoutSession

    walked_away = [CheckoutSession.Status.CANCELED, CheckoutSession.Status.EXPIRED, CheckoutSession.Status.DECLINED]
    declined = (
        Q(outcome=CreditDecision.Outcome.DECLINED)
        | Q(outcome=CreditDecision.Outcome.REFERRED, review_status=CreditDecision.Review.DECLINED)
        | Q(
            outcome=CreditDecision.Outcome.APPROVED_WITH_DOWN_PAYMENT,
            checkout_session__status__in=walked_away,
        )
    )
    return (
        governing_decisions(CreditDecision.objects.filter(declined, consumer=consumer))
        .select_related("merchant__branding")
        .order_by("-created_at", "-pk")[:limit]
    )


def sandbox_message_list(*, destination: str | None = None, limit: int = 50) -> QuerySet[SandboxMessage]:
    queryset = SandboxMessage.objects.all()
    destination = (destination or "").replace("\x00", "")
    if destination:
        queryset = queryset.filter(destination__iexact=destination.strip())
    return queryset[:limit]


def decision_list(*, consumer: Consumer, limit: int = 100) -> QuerySet[CreditDecision]:
    """The credit decision on each of the consumer's purchases (the governing one: see
    ``governing_decisions``), newest first (reasons are theirs to see)."""
    return consumer_decisions(consumer=consumer)[:limit]


def consumer_decisions(*, consumer: Consumer) -> QuerySet[CreditDecision]:
    """``decision_list`` unsliced, for a paged list (the consumer app's)."""
    return (
        governing_decisions(CreditDecision.objects.filter(consumer=consumer))
        .select_related("merchant__branding")
        .order_by("-created_at", "-pk")
    )


def decision_get(*, consumer: Consumer, public_id: str) -> CreditDecision | None:
    """One of the decisions ``decision_list`` shows the consumer."""
    if not is_well_formed(public_id):
        return None
    return consumer_decisions(consumer=consumer).filter(public_id=public_id).first()


def has_test_mode(*, consumer: Consumer) -> bool:
    """Whether the consumer has anything in test mode (a plan or a card): the portal then shows
    the test-mode cards too."""
    return (
        Plan.objects.filter(consumer=consumer, livemode=False).exists()
        or PaymentMethod.objects.filter(consumer=consumer, livemode=False).exists()
    )


def has_live_mode(*, consumer: Consumer) -> bool:
    """Whether the consumer has a live plan or a live card."""
    return (
        Plan.objects.filter(consumer=consumer, livemode=True).exists()
        or PaymentMethod.objects.filter(consumer=consumer, livemode=True).exists()
    )


def payment_method_get(*, consumer: Consumer, public_id: str) -> PaymentMethod | None:
    """One of the consumer's cards, of either mode (acting on it stays in its mode)."""
    if not is_well_formed(public_id):
        return None
    return PaymentMethod.objects.filter(consumer=consumer, public_id=public_id).first()


def receipt_list(*, consumer: Consumer) -> QuerySet[Charge]:
    """Money that moved for the consumer: payments taken and refunds sent back, newest first."""
    return (
        Charge.objects.filter(consumer=consumer, status=Charge.Status.SUCCEEDED)
        .select_related("plan__merchant", "payment_method")
        .order_by("-created_at")
    )


def receipt_get(*, consumer: Consumer, public_id: str) -> Charge | None:
    if not is_well_formed(public_id):
        return None
    return receipt_list(consumer=consumer).filter(public_id=public_id).first()


def dispute_list(*, consumer: Consumer) -> QuerySet[Dispute]:
    """The consumer's returns and disputes on any of their orders, newest first."""
    return (
        Dispute.objects.filter(order__consumer=consumer)
        .select_related("order__plan", "merchant__branding")
        .order_by("-created_at", "-pk")
    )


def dispute_get(*, consumer: Consumer, public_id: str) -> Dispute | None:
    if not is_well_formed(public_id):
        return None
    return Dispute.objects.filter(order__consumer=consumer, public_id=public_id).select_related("order__plan").first()


def bank_data_consent_list(*, consumer: Consumer) -> QuerySet[BankDataConsent]:
    """Every consent to share the consumer's bank data, whoever recorded it (a shop) or was granted it
    (a data partner), both modes, newest first."""
    return BankDataConsent.objects.filter(consumer=consumer).select_related("source__merchant", "source__partner")


def bank_data_consent_get(*, consumer: Consumer, public_id: str) -> BankDataConsent | None:
    if not is_well_formed(public_id):
        return None
    return bank_data_consent_list(consumer=consumer).filter(public_id=public_id).first()


def device_list(*, consumer: Consumer) -> QuerySet[Device]:
    """The consumer's devices of the app, every status, newest first."""
    return Device.objects.filter(consumer=consumer).order_by("-created_at", "-pk")


def consumer_owned_get(model: type[Model], *, consumer: Consumer, public_id: str) -> Model | None:
    """A consumer's own object of ``model`` (a model with a ``consumer`` foreign key) by public id;
    None for anyone else's: the consumer app API's one lookup of the objects its paths name."""
    if not is_well_formed(public_id):
        return None
    return model._default_manager.filter(consumer=consumer, public_id=public_id).first()
