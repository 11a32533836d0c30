"""The demo merchant's history: about ninety days of shoppers buying, made through the services on
the project clock, so the dashboard's charts, payouts and figures mean something on first sign-in.

The sandbox clock only moves forward, so the history is lived forward from the moment the demo is
seeded: the clock moves a day at a time (``advance_clock --run-daily-work``: the day's collections,
late fees, expiry, settlements and payouts run as the beat would run them) and each day's shoppers
check out, merchants capture (some in two shipments), refund, and answer disputes. A few orders
placed ``LEAD_DAYS`` before the ninety days, paid with a card that declines every later charge,
live long enough to be charged off (``COLLECTION_CHARGE_OFF_AFTER_DAYS``, 120 days past due). When
it is done the project clock stands ``LEAD_DAYS + DAYS`` days ahead of the wall clock; every row is
the services' own (ledger entries, audit rows, events), and the beat that runs afterwards finds
the history's work done (nothing collected, assessed or settled twice).

Deterministic (one seeded ``random.Random``; emails, amounts and products do not depend on the run)
and idempotent: a merchant that already has the history (its sessions' references start with
``REFERENCE_PREFIX``) is left as it is."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from io import StringIO

from django.core.management import call_command
from django.db import transaction
from django.test.utils import override_settings

from bnpl.checkout import confirmation as checkout_confirmation
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.disputes import dispute_accept, dispute_contest, dispute_open
from bnpl.checkout.models import CheckoutSession, Dispute, Order
from bnpl.checkout.sessions import checkout_session_create
from bnpl.checkout.step_up import checkout_card_add
from bnpl.collections.lateness import plans_assess_lateness
from bnpl.core import clock
from bnpl.core.errors import ApplicationError
from bnpl.notifications import services as notifications
from bnpl.plans.models import PaymentProduct, ProductKind
from consumers.models import Consumer
from consumers.services import consumer_register, identity_submit
from decisioning.models import ModelVersion
from merchants.models import Merchant

DAYS = 90
LEAD_DAYS = 65  # before the ninety days: the orders that are charged off inside them
REFERENCE_PREFIX = "DO-"
SEED = 20_260_105
GOOD_CARD = "4242424242424242"
# Saved fine, every charge declined: the plan's later installments fail, so it goes late. Only on
# products that take nothing at checkout (pay in 30 days, monthly financing).
FAILING_CARD = "4000000000000341"
CURRENCY = "USD"
SITE = "https://demo-outfitters.test"

# Demo Outfitters' catalogue: (name, unit price in cents).
CATALOGUE = (
    ("Trail running shoes", 13_900),
    ("Merino socks", 1_800),
    ("Rain shell jacket", 18_900),
    ("Down jacket", 27_900),
    ("Two-person tent", 34_900),
    ("Sleeping bag, -7 °C", 22_900),
    ("Daypack 28 L", 11_900),
    ("Trekking poles", 8_900),
    ("Headlamp", 4_500),
    ("Water filter", 4_900),
    ("Camp stove", 7_900),
    ("Hiking boots", 21_900),
    ("Fleece pullover", 7_900),
    ("Base layer set", 9_900),
    ("Climbing harness", 6_900),
    ("Touring skis", 59_900),
    ("Insulated bottle", 3_500),
    ("Sun hoodie", 5_900),
)
FIRST_NAMES = [
    *("ava", "liam", "maya", "noah", "zoe", "ethan", "lena", "omar", "ivy", "lucas", "nora", "theo"),
    *("ruby", "felix", "iris", "hugo", "mila", "leo", "clara", "jonas", "ada", "milo", "elena", "sam"),
]
LAST_NAMES = ["park", "silva", "novak", "okafor", "berg", "tanaka", "moreau", "haas", "rossi", "kowalski", "nguyen"]
IDENTITY = {
    "date_of_birth": dt.date(1988, 4, 12),
    "address_line1": "12 Summit Road",
    "city": "Boulder",
    "region": "CO",
    "postal_code": "80302",
    "country": "US",
    "national_id_last4": "4821",
}


@dataclass
class HistoryResult:
    days: int = 0
    sessions: int = 0
    orders: int = 0
    declined: int = 0
    late_orders: int = 0
    disputes: int = 0
    referral: str = ""  # the referred decision's id, or why there is none


def history_exists(merchant: Merchant) -> bool:
    return CheckoutSession.objects.filter(merchant=merchant, merchant_reference__startswith=REFERENCE_PREFIX).exists()


@dataclass
class _History:
    merchant: Merchant
    rng: random.Random
    result: HistoryResult = field(default_factory=HistoryResult)
    consumers: dict[str, Consumer] = field(default_factory=dict)
    later: dict[int, list[Callable[[], object]]] = field(default_factory=lambda: defaultdict(list))
    days: int = DAYS
    lead_days: int = LEAD_DAYS
    day: int = 0
    sequence: int = 0

    # --- the shoppers --------------------------------------------------------------------------

    def consumer(self, email: str) -> Consumer:
        known = self.consumers.get(email) or Consumer.objects.filter(email=email).first()
        if known is None:
            with transaction.atomic():
                known = consumer_register(email=email)
            local = email.split("@")[0].split("+")[0]
            identity_submit(consumer=known, legal_name=local.replace(".", " ").title(), **IDENTITY)  # type: ignore[arg-type]
        self.consumers[email] = known
        return known

    def shopper_email(self, tag: str = "clean") -> str:
        """Returning shoppers as often as new ones: a pool that grows with the history."""
        pool = 40 + self.day * 2
        index = self.rng.randrange(pool)
        first, last = FIRST_NAMES[index % len(FIRST_NAMES)], LAST_NAMES[index // len(FIRST_NAMES) % len(LAST_NAMES)]
        return f"{first}.{last}{index}+{tag}@example.com"

    # --- one checkout ------------------------------------------------------------------------------

    def basket(self) -> list[dict[str, object]]:
        count = self.rng.choices((1, 2, 3), weights=(55, 33, 12))[0]
        items = self.rng.sample(CATALOGUE, count)
        return [
            {"name": name, "quantity": self.rng.randint(1, 3) if price < 2_000 else 1, "unit_amount": price}
            for name, price in items
        ]

    def product(self, amount: int, *, nothing_today: bool = False) -> PaymentProduct | None:
        products = [
            product
            for product in PaymentProduct.objects.filter(
                merchant=self.merchant, livemode=False, currency=CURRENCY, is_enabled=True
            ).order_by("kind", "installment_count")
            if product.min_amount <= amount <= product.max_amount
            and not (nothing_today and product.kind == ProductKind.PAY_IN_4)
        ]
        if not products:
            return None
        weights: dict[str, float] = {ProductKind.PAY_IN_4: 6.0, ProductKind.PAY_IN_30: 2.0, ProductKind.FINANCING: 1.0}
        return self.rng.choices(products, weights=[weights.get(p.kind, 1.0) for p in products])[0]

    def session(self, line_items: list[dict[str, object]], email: str) -> CheckoutSession:
        self.sequence += 1
        self.result.sessions += 1
        amount = sum(int(item["unit_amount"]) * int(item["quantity"]) for item in line_items)  # type: ignore[call-overload]
        return checkout_session_create(
            merchant=self.merchant,
            livemode=False,
            amount=amount,
            currency=CURRENCY,
            line_items=line_items,
            return_url=f"{SITE}/checkout/thanks",
            cancel_url=f"{SITE}/cart",
            merchant_reference=f"{REFERENCE_PREFIX}{10_000 + self.sequence}",
            customer_email=email,
        )

    def checkout(self, *, tag: str = "clean", card: str = GOOD_CARD, email: str = "") -> Order | None:
        """A shopper checks out: sometimes walks away, sometimes is declined, mostly buys."""
        email = email or self.shopper_email(tag)
        line_items = self.basket()
        session = self.session(line_items, email)
        nothing_today = card == FAILING_CARD
        product = self.product(session.amount, nothing_today=nothing_today)
        if product is None or (tag == "clean" and card == GOOD_CARD and self.rng.random() < 0.07):
            return None  # left the checkout open (it expires)
        consumer = self.consumer(email)
        try:
            method = checkout_card_add(
                session=session, consumer=consumer, number=card, exp_month=11, exp_year=2031, cvc="314"
            )
            result = checkout_confirmation.checkout_confirm(
                session=session, consumer=consumer, product=product, payment_method=method
            )
        except ApplicationError:
            return None  # refused before a decision (the limit of open plans): the session stays open
        if result.order is None:
            self.result.declined += 1
            return None
        self.result.orders += 1
        return result.order

    # --- what merchants do after -------------------------------------------------------------------

    def fulfil(self, order: Order) -> None:
        """Ship: mostly all at once today; some in two shipments; a few voided or left authorized."""
        roll = self.rng.random()
        if roll < 0.04:
            checkout_orders.order_void(order=order)
            return
        if roll < 0.07:
            return  # not shipped yet (the authorization expires unless captured)
        if roll < 0.19 and order.authorized_amount >= 4_000:
            first = order.authorized_amount * self.rng.randint(35, 65) // 100
            checkout_orders.order_capture(order=order, amount=first, merchant_reference=f"ship-{order.public_id}-1")
            self.at(self.rng.randint(1, 4), lambda: self.capture_rest(order.pk))
        else:
            checkout_orders.order_capture(order=order, amount=order.authorized_amount)
        if self.rng.random() < 0.09:
            self.at(self.rng.randint(2, 12), lambda: self.refund(order.pk))

    def capture_rest(self, order_id: int) -> None:
        order = Order.objects.get(pk=order_id)
        rest = order.authorized_amount - order.captured_amount
        if rest > 0 and order.status in (Order.Status.AUTHORIZED, Order.Status.PART_CAPTURED):
            checkout_orders.order_capture(order=order, amount=rest, merchant_reference=f"ship-{order.public_id}-2")

    def refund(self, order_id: int) -> None:
        order = Order.objects.get(pk=order_id)
        if order.refundable_amount <= 0:
            return
        whole = self.rng.random() < 0.45
        amount = order.refundable_amount if whole else max(100, order.refundable_amount // self.rng.randint(3, 5))
        reason = "returned" if whole else self.rng.choice(("one item returned", "damaged in transit", "price match"))
        checkout_orders.order_refund(order=order, amount=amount, reason=reason)

    def dispute(self, order_id: int, *, answer: str) -> None:
        order = Order.objects.get(pk=order_id)
        if order.refundable_amount <= 0 or order.consumer is None:
            return
        kind, reason = (
            (Dispute.Kind.RETURN, Dispute.Reason.RETURNED)
            if answer == "accept"
            else (Dispute.Kind.DISPUTE, Dispute.Reason.NOT_RECEIVED)
        )
        opened = dispute_open(
            order=order,
            consumer=order.consumer,
            kind=kind,
            reason=reason,
            amount=min(order.refundable_amount, order.captured_amount),
            description="The parcel never arrived." if kind == Dispute.Kind.DISPUTE else "Sent back unworn.",
        )
        self.result.disputes += 1
        if answer == "contest":
            evidence = "Delivered 3 days after the order: UPS 1Z999AA10123456784, signed for."
            self.at(2, lambda: dispute_contest(dispute=opened, evidence=evidence))
        elif answer == "accept":
            self.at(3, lambda: dispute_accept(dispute=opened))
        # "wait": left for the merchant to answer on the dashboard

    def at(self, days_later: int, action: Callable[[], object]) -> None:
        self.later[self.day + days_later].append(action)

    # --- the days ----------------------------------------------------------------------------------

    def orders_for(self, index: int) -> int:
        """Busier as the shop grows and at weekends."""
        weekend = (clock.today().weekday() >= 5) * 2
        return max(1, round(2.8 + 3.0 * index / self.days + weekend + self.rng.gauss(0, 1.1)))

    def live_day(self) -> None:
        for action in self.later.pop(self.day, []):
            with contextlib.suppress(ApplicationError):  # the order moved on meanwhile (expired, refunded)
                action()
        if self.day < 3:  # the lead: bought, then never paid again (nor came back with another card)
            order = self.checkout(card=FAILING_CARD, email=f"gone.quiet{self.day}+clean@example.com")
            if order is not None:
                self.result.late_orders += 1
                checkout_orders.order_capture(order=order, amount=order.authorized_amount)
            return
        if self.day < self.lead_days:
            return
        index = self.day - self.lead_days
        for _ in range(self.orders_for(index)):
            roll = self.rng.random()
            if roll < 0.06:
                self.checkout(tag="risky")  # declined, with reasons
                continue
            card = FAILING_CARD if roll < 0.10 else GOOD_CARD
            order = self.checkout(card=card)
            if order is None:
                continue
            self.result.late_orders += card == FAILING_CARD
            self.fulfil(order)
        if index in (self.days // 3, 2 * self.days // 3, self.days - 3):
            self.dispute_recent(answer={self.days // 3: "accept", 2 * self.days // 3: "contest"}.get(index, "wait"))

    def dispute_recent(self, *, answer: str) -> None:
        recent = (
            Order.objects.filter(
                merchant=self.merchant,
                livemode=False,
                merchant_reference__startswith=REFERENCE_PREFIX,
                status=Order.Status.CAPTURED,
                disputes__isnull=True,
                created_at__lt=clock.now() - dt.timedelta(days=4),
            )
            .order_by("-created_at")
            .values_list("pk", flat=True)[:1]
        )
        for order_id in recent:
            self.dispute(order_id, answer=answer)

    def referral(self) -> None:
        """One application close to the model's cutoff, waiting for an operator: the demo asks for it
        with a refer band wide enough to catch this shopper (the decision itself is the model's)."""
        if not ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).exists():
            self.result.referral = "none (no credit model is in service)"
            return
        email = "jordan.reyes+clean@example.com"
        session = self.session([{"name": "Touring skis", "quantity": 1, "unit_amount": 59_900}], email)
        consumer = self.consumer(email)
        method = checkout_card_add(
            session=session, consumer=consumer, number=GOOD_CARD, exp_month=11, exp_year=2031, cvc="314"
        )
        product = self.product(session.amount)
        assert product is not None
        with override_settings(CREDIT_REFER_BAND=1.0):
            result = checkout_confirmation.checkout_confirm(
                session=session, consumer=consumer, product=product, payment_method=method
            )
        decision = result.decision
        self.result.referral = decision.decision_id if decision is not None and decision.referred else "not referred"


def history_seed(*, merchant: Merchant, days: int = DAYS, lead_days: int = LEAD_DAYS) -> HistoryResult | None:
    """Live the demo merchant's history (or nothing, if it has one): ``lead_days`` then ``days``
    days, each after the clock moved a day and that day's work ran. Sandbox only (the clock moves)."""
    if history_exists(merchant):
        return None
    rng = random.Random(SEED)  # noqa: S311  # nosec B311  # demo data, not secrets
    history = _History(merchant=merchant, rng=rng, days=days, lead_days=lead_days)
    total = lead_days + days
    with notifications.muted():  # the past: nobody is mailed about it now
        for day in range(total):
            if day:
                call_command("advance_clock", days=1, run_daily_work=True, stdout=StringIO())
            history.day = day
            history.live_day()
        history.referral()
        # The day's assessment ran before its collections: a plan paid up by them is current again
        # now, as the beat's next assessment would find (so that one finds nothing left to change).
        plans_assess_lateness()
    history.result.days = total
    return history.result
