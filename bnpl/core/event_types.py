"""The catalogue of event types. Every ``event_emit`` type is declared here with what it means, and
whether merchants see it (in ``GET /api/v1/events`` and as webhooks). Later modules add theirs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    merchant_visible: bool = True


EVENT_TYPES: dict[str, EventType] = {}


def register(name: str, description: str, *, merchant_visible: bool = True) -> None:
    EVENT_TYPES[name] = EventType(name=name, description=description, merchant_visible=merchant_visible)


def merchant_visible_types() -> list[str]:
    return sorted(name for name, event_type in EVENT_TYPES.items() if event_type.merchant_visible)


def is_merchant_visible(name: str) -> bool:
    """Whether ``name`` is a registered type merchants see (``merchant_visible_types`` without
    sorting the catalogue: asked for every type a webhook endpoint names)."""
    declared = EVENT_TYPES.get(name)
    return declared is not None and declared.merchant_visible


register("clock.advanced", "An operator moved the sandbox clock forward.", merchant_visible=False)
register(
    "retention.swept",
    "The retention sweep removed rows or partitions past retention, or made the months ahead.",
    merchant_visible=False,
)
register("merchant.created", "A merchant account was created.")
register("merchant.approved", "An operator approved the merchant: live mode is open.")
register("merchant.suspended", "An operator suspended the merchant: every key is refused.")
register("merchant.reinstated", "An operator lifted the merchant's suspension.")
register("merchant.updated", "The merchant's profile changed.")
register("membership.created", "A user joined the merchant's team.")
register("membership.updated", "A team member's role changed.")
register("membership.deleted", "A user left the merchant's team.")
register("api_key.created", "An API key was created.")
register("api_key.revoked", "An API key was revoked.")
register("webhook_endpoint.created", "A webhook endpoint was added.")
register("webhook_endpoint.updated", "A webhook endpoint was changed.")
register("webhook_endpoint.deleted", "A webhook endpoint was deleted.")
register("model_version.registered", "A trained credit model version was registered.", merchant_visible=False)
register("model_version.promoted", "A model version became champion or challenger.", merchant_visible=False)
register("model_version.rolled_back", "The champion was replaced by the one it displaced.", merchant_visible=False)
register("model_version.retired", "A model version was retired.", merchant_visible=False)
register("credit_decision.approved", "A credit decision approved an application.", merchant_visible=False)
register(
    "credit_decision.approved_with_down_payment",
    "A credit decision approved less than asked: the rest is a down payment.",
    merchant_visible=False,
)
register("credit_decision.declined", "A credit decision declined an application.", merchant_visible=False)
register("credit_decision.referred", "A credit decision referred an application to review.", merchant_visible=False)
register("credit_decision.reviewed", "An operator approved or declined a referral.", merchant_visible=False)
register("checkout_session.in_review", "The application was referred to manual review.")
register("checkout_session.review_approved", "A reviewer approved the application: the shopper may finish.")
register("checkout_session.created", "A checkout session was created.")
register(
    "checkout_session.consumer_identified",
    "No longer sent: opening your checkout does not identify a shopper to you (their id comes with the "
    "first confirmed purchase: merchant_consumer.created, checkout_session.completed).",
)
register(
    "checkout_session.card_cleared",
    "A card may pay at this checkout: typed in here, or saved and confirmed with a fresh one-time code.",
    merchant_visible=False,
)
register("checkout_session.completed", "The shopper was approved and the order authorized.")
register("checkout_session.declined", "The credit decision declined the shopper.")
register("checkout_session.canceled", "The shopper went back to the shop.")
register("checkout_session.expired", "Nobody finished the checkout in time.")
register("order.authorized", "An order was authorized: capture it as you ship.")
register("order.captured", "Part or all of an order was captured.")
register("order.voided", "The uncaptured remainder of an order was released.")
register("order.refunded", "Part or all of an order was refunded.")
register(
    "order.refund_failed",
    "The shopper's bank refused money we sent back to their card: we keep it as their balance, applied "
    "to their next installment or paid out another way. Nothing for you to do; tell the shopper if they ask.",
)
register("order.authorization_expiring", "An authorization ends within 3 days: capture or void it.")
register("order.expired", "An authorization ended; its uncaptured remainder was released.")
register("dispute.created", "A consumer reported a return or disputed an order: refund or contest it.")
register("dispute.contested", "You contested a dispute: our team decides.")
register("dispute.escalated", "A dispute was not answered in time: our team decides.")
register("dispute.closed", "A return or dispute closed (refunded, won, lost or withdrawn).")
register("plan.created", "A payment plan was created for an order.")
register("plan.reduced", "A plan shrank after a void or a refund.")
register("plan.payment_succeeded", "A consumer's payment was applied to the plan.")
register("plan.late_fee_charged", "A late fee was added to the plan (within its cap).", merchant_visible=False)
register("plan.current", "The consumer caught up: nothing is past due.", merchant_visible=False)
register("plan.late", "An installment is past due.", merchant_visible=False)
register("plan.delinquent", "An installment is 30 or more days past due.", merchant_visible=False)
register("plan.charged_off", "The plan was written off as a credit loss.", merchant_visible=False)
register(
    "plan.held",
    "An open return or dispute holds its share of the plan: those installments wait.",
    merchant_visible=False,
)
register(
    "plan.released",
    "A return or dispute closed: the installments it held are due again.",
    merchant_visible=False,
)
register("plan.due_date_moved", "The consumer moved one due date (once per plan).", merchant_visible=False)
register("plan.hardship_requested", "The consumer asked for hardship help: collections paused.", merchant_visible=False)
register("plan.hardship_granted", "An operator granted hardship help.", merchant_visible=False)
register("plan.hardship_declined", "An operator declined hardship help: collections resume.", merchant_visible=False)
register("consumer.payment_method_changed", "The consumer chose the card collections charge.", merchant_visible=False)
register(
    "plan.payment_failed",
    "Collections could not charge an installment (a retry is scheduled when one can help).",
    merchant_visible=False,
)
register(
    "consumer_balance.created",
    "A refund to the consumer's card failed for good: the money is kept as their balance.",
    merchant_visible=False,
)
register("consumer_balance.applied", "The consumer's balance paid toward an installment.", merchant_visible=False)
register(
    "consumer_balance.returned",
    "A refund or void gave back to the consumer's balance what it had paid toward the plan.",
    merchant_visible=False,
)
register(
    "consumer_balance.paid_out",
    "An operator paid the consumer's balance out another way (a transfer, a check).",
    merchant_visible=False,
)
register("payment_product.updated", "A payment product's settings changed.")
register("consumer.created", "A consumer signed up.", merchant_visible=False)
register("consumer.identity_verified", "A consumer completed the identity basics.", merchant_visible=False)
register("consumer.preferences_updated", "A consumer chose how reminders reach them.", merchant_visible=False)
register(
    "consumer.erased",
    "An operator erased a consumer's personal data; the books remain under the public id.",
    merchant_visible=False,
)
register("consumer.signed_in", "A consumer signed in with a one-time code.", merchant_visible=False)
register(
    "merchant_consumer.created", "A shopper confirmed their first purchase at your checkout: the consumer's id for you."
)
register("bank_data_consent.recorded", "You recorded a consumer's consent to share bank data.")
register(
    "bank_data_consent.revoked",
    "You or the consumer revoked the consent (`revoked_by`); the bank data shared under it was deleted.",
)
register(
    "bank_data_consent.scope_changed",
    "The consumer chose where your data on them may be used: your decisions only, or all their decisions.",
)
register("bank_data_consent.granted", "The consumer granted again, in their account, a consent they had revoked.")
register("bank_data_consent.expired", "The consent expired; the bank data shared under it was deleted.")
register("bank_transactions.received", "A batch of a consumer's bank transactions was received.")
# Data partners (open-banking aggregators): the lender's own business, never a merchant's.
register("data_partner.created", "An operator onboarded a data partner.", merchant_visible=False)
register(
    "data_partner.suspended", "An operator suspended a data partner: every key is refused.", merchant_visible=False
)
register("data_partner.reinstated", "An operator lifted a data partner's suspension.", merchant_visible=False)
register("data_partner_key.created", "An operator issued a data partner an API key.", merchant_visible=False)
register("data_partner_key.revoked", "An operator revoked a data partner's API key.", merchant_visible=False)
register(
    "data_partner_consent.granted",
    "A consumer granted (or renewed) a data partner consent to share their bank transactions.",
    merchant_visible=False,
)
register(
    "data_partner_consent.revoked",
    "A consumer revoked a data partner's consent; the bank data shared under it was deleted.",
    merchant_visible=False,
)
register(
    "data_partner_consent.expired",
    "A data partner's consent expired; the bank data shared under it was deleted.",
    merchant_visible=False,
)
register(
    "data_partner_transactions.received",
    "A data partner sent a batch of a consumer's bank transactions.",
    merchant_visible=False,
)
register("settlement.created", "A settlement batch closed: its captures and refunds, fees and net.")
register("settlement.paid", "The batch's net was paid out to you.")
register("settlement.carried_forward", "The batch's net was zero or negative: it rolls into the next batch.")
register("settlement.failed", "The payout failed: the net rolls into the next batch.")
register(
    "two_factor.enrolled",
    "A staff or merchant user's authenticator app was enrolled (with new backup codes).",
    merchant_visible=False,
)
register(
    "two_factor.removed",
    "A staff or merchant user's second factor (authenticator and backup codes) was removed.",
    merchant_visible=False,
)
register(
    "device.registered",
    "A consumer signed in to the app on a device: trusted if it is their first, else pending approval.",
    merchant_visible=False,
)
register(
    "device.trusted", "A pending device was approved by a trusted one, or verified by a code.", merchant_visible=False
)
register(
    "device.denied",
    "A trusted device said a pending one is not the consumer's: its tokens end.",
    merchant_visible=False,
)
register("device.revoked", "The consumer removed a device: its tokens end.", merchant_visible=False)
register(
    "refresh_token_family.created", "The app signed in on a device: a new family of tokens.", merchant_visible=False
)
register("refresh_token_family.rotated", "The app exchanged its refresh token for a new one.", merchant_visible=False)
register(
    "refresh_token_family.revoked",
    "The app's tokens on a device were ended: signed out, signed out everywhere, a refresh token used twice, "
    "or the device denied or revoked (`revoked_reason`).",
    merchant_visible=False,
)
