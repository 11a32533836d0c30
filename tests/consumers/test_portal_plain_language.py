"""The portal speaks the shopper's language: plans grouped by shop with the shop's logo (or its
initial), a history of sentences about their purchase (never an event name or an id), one credit
decision per purchase (the one that governed it), and no "$0.00" to pay."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from bnpl.checkout import disputes
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Dispute
from bnpl.core.event_types import EVENT_TYPES
from bnpl.core.models import AuditLogEntry
from bnpl.payments.models import Charge
from bnpl.plans.models import Plan
from bnpl.servicing import services as servicing
from consumers.history import LEFT_OUT, SENTENCES
from consumers.models import Consumer
from decisioning.models import CreditDecision
from decisioning.policy import Reason
from decisioning.services import credit_decision_decline_on_recheck
from merchants.services import branding_update
from tests.bnpl.checkout.factories import make_authorized_order
from tests.consumers.factories import make_verified_consumer
from tests.helpers import consumer_client
from tests.merchants.factories import Tenant

pytestmark = pytest.mark.django_db

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)
# An event name as the catalogue spells them (order.authorized, plan.payment_succeeded).
EVENT_NAME = re.compile(r"\b(?:order|plan|dispute|checkout_session|credit_decision|consumer)\.[a-z_]+\b")
# Any public id (pln_…, ord_…, cus_…, dec_…, ch_…).
PUBLIC_ID = re.compile(r"\b[a-z]{2,5}_[A-Za-z0-9]{12,}\b")


class _Text(HTMLParser):
    """The words a person sees on the page: text outside tags, scripts and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self._skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def test_every_change_to_a_purchase_is_worded_or_deliberately_left_out() -> None:
    """A new plan, order or dispute event type must get a sentence (or be left out on purpose) before
    it can reach a shopper's history as a raw name."""
    shown = {name for name in EVENT_TYPES if name.split(".")[0] in ("plan", "order", "dispute")}
    assert shown - set(SENTENCES) - LEFT_OUT == set()
    assert not any(EVENT_NAME.search(sentence) for sentence in SENTENCES.values())


def test_the_history_is_sentences_about_the_purchase_without_event_names_or_ids(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    checkout_orders.order_capture(order=order, amount=10_000)
    plan = Plan.objects.get(order=order)
    servicing.plan_pay_next_installment(plan=plan)
    checkout_orders.order_refund(order=order, amount=1_000, reason="one item back")
    disputes.dispute_open(
        order=order,
        consumer=plan.consumer,
        kind=Dispute.Kind.RETURN,
        reason=Dispute.Reason.RETURNED,
        amount=None,
        description="Sent the lamp back",
    )
    recorded = set(
        AuditLogEntry.objects.filter(object_id__in=[plan.public_id, order.public_id]).values_list("action", flat=True)
    )
    assert {"order.authorized", "order.captured", "plan.payment_succeeded", "order.refunded"} <= recorded

    client = consumer_client(plan.consumer)
    page = client.get(f"/account/plans/{plan.public_id}").content.decode()
    text = visible_text(page)

    assert f"Your purchase at {tenant.merchant.name} was approved" in text
    assert f"{tenant.merchant.name} shipped your order" in text
    assert "We received your payment" in text and f"{tenant.merchant.name} gave you a refund" in text
    assert "You told us about a return" in text
    assert EVENT_NAME.findall(text) == []
    assert PUBLIC_ID.findall(text) == []
    for other in ("/account/", "/account/decisions", "/account/documents"):  # the profile names the account
        other_text = visible_text(client.get(other).content.decode())
        assert EVENT_NAME.findall(other_text) == [], other
        assert PUBLIC_ID.findall(other_text) == [], other
    charge = Charge.objects.filter(plan=plan).first()
    assert charge is not None and charge.public_id not in text  # receipts are linked, not spelled out


def test_decisions_show_one_decision_per_purchase_the_one_that_governed_it(tenant: Tenant) -> None:
    consumer = make_verified_consumer()
    first = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer)
    second = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=20_000, consumer=consumer)
    approved = CreditDecision.objects.get(checkout_session=first.checkout_session)
    # The same purchase decided again: the policy, checked again, declined it. That one governs.
    governing = credit_decision_decline_on_recheck(
        decision_id=approved.public_id, reasons=(Reason(code="recheck", text="Your limit changed meanwhile."),)
    )
    assert CreditDecision.objects.filter(consumer=consumer).count() == 3

    page = consumer_client(consumer).get("/account/decisions").content.decode()

    assert page.count('class="card" id="notice-') == 2  # two purchases, two decisions
    assert f'id="notice-{governing.public_id}"' in page and f'id="notice-{approved.public_id}"' not in page
    assert f'id="notice-{CreditDecision.objects.get(checkout_session=second.checkout_session).public_id}"' in page
    assert "Your limit changed meanwhile." in page
    overview = visible_text(consumer_client(consumer).get("/account/").content.decode())
    assert "1 purchase we could not approve in full" in overview


def test_the_overview_groups_plans_by_shop_with_its_logo_or_initial(tenant: Tenant, other_tenant: Tenant) -> None:
    consumer = make_verified_consumer()
    branding_update(
        merchant=tenant.merchant,
        display_name="Acme Lamps",
        primary_colour="#3b2bd6",
        accent_colour="#1d1d27",
        logo=SimpleUploadedFile("logo.png", PNG, content_type="image/png"),
    )
    for merchant in (tenant.merchant, other_tenant.merchant, tenant.merchant):
        make_authorized_order(merchant=merchant, livemode=False, amount=10_000, consumer=consumer)

    page = consumer_client(consumer).get("/account/").content.decode()

    groups = page.split('<section class="shop"')[1:]
    heads = [re.search(r'<h2 class="shop-head"[^>]*>(.*?)</h2>', group, re.S).group(1) for group in groups]  # type: ignore[union-attr]
    assert [visible_text(head) for head in heads] == ["Acme Lamps", "M Merchant B"]  # the newest plan's shop first
    assert f'src="/merchant/branding/{tenant.merchant.public_id}/logo"' in heads[0]
    assert 'class="shop-initial" aria-hidden="true">M<' in heads[1] and "<img" not in heads[1]
    assert groups[0].count('class="card plan-card"') == 2  # both Acme plans under the one Acme heading
    assert groups[1].count('class="card plan-card"') == 1


def test_a_paid_off_plan_never_offers_to_pay_nothing(tenant: Tenant) -> None:
    order = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000)
    checkout_orders.order_capture(order=order, amount=10_000)
    plan = Plan.objects.get(order=order)
    servicing.plan_pay_early(plan=plan)
    client = consumer_client(plan.consumer)

    for path in ("/account/", f"/account/plans/{plan.public_id}"):
        text = visible_text(client.get(path).content.decode())
        assert "$0.00 today" not in text and "Pay $0.00" not in text and "today: $0.00" not in text, path


def test_a_session_prequalified_for_several_options_shows_the_one_the_shopper_may_use(tenant: Tenant) -> None:
    from decisioning import checkout_outcome
    from tests.bnpl.checkout.factories import make_checkout_session

    consumer = make_verified_consumer()
    placed = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=consumer)
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)

    def decided(outcome: str, kind: str) -> CreditDecision:
        # each option of the open session prequalified (a copy of a real decision, retargeted)
        decision = CreditDecision.objects.get(checkout_session=placed.checkout_session)
        decision.pk, decision.public_id = None, ""
        decision.checkout_session, decision.outcome, decision.product_kind = session, outcome, kind
        decision.save()
        return decision

    approved = decided(CreditDecision.Outcome.APPROVED, "pay_in_4")
    declined = decided(CreditDecision.Outcome.DECLINED, "installments")  # later, on another option
    assert declined.pk > approved.pk

    page = consumer_client(consumer).get("/account/decisions").content.decode()

    assert f'id="notice-{declined.public_id}"' not in page  # the shopper may still buy with pay in 4
    outcome = checkout_outcome(checkout_session=session)
    assert outcome is not None and outcome.outcome == "approved"


def test_each_shopper_on_one_checkout_link_has_their_own_decision_and_a_recheck_decline_stands(
    tenant: Tenant,
) -> None:
    from tests.bnpl.checkout.factories import make_checkout_session

    ada, bob = make_verified_consumer(), make_verified_consumer()
    placed = make_authorized_order(merchant=tenant.merchant, livemode=False, amount=10_000, consumer=ada)
    session = make_checkout_session(merchant=tenant.merchant, livemode=False, amount=10_000)

    def decided(consumer: Consumer, outcome: str, **features: str) -> CreditDecision:
        decision = CreditDecision.objects.get(checkout_session=placed.checkout_session)
        decision.pk, decision.public_id, decision.consumer = None, "", consumer
        decision.checkout_session, decision.outcome = session, outcome
        decision.features = {**decision.features, **features}
        decision.save()
        return decision

    approved = decided(ada, CreditDecision.Outcome.APPROVED)
    declined = decided(bob, CreditDecision.Outcome.DECLINED)  # a second shopper opened the same link
    assert declined.pk > approved.pk
    assert f'id="notice-{declined.public_id}"' in consumer_client(bob).get("/account/decisions").content.decode()
    assert f'id="notice-{approved.public_id}"' in consumer_client(ada).get("/account/decisions").content.decode()

    # Ada's approval, checked again as her order was written, was refused: the decline stands.
    recheck = decided(ada, CreditDecision.Outcome.DECLINED, recheck_of=approved.public_id)
    page = consumer_client(ada).get("/account/decisions").content.decode()
    assert f'id="notice-{recheck.public_id}"' in page and f'id="notice-{approved.public_id}"' not in page
