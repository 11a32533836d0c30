"""Property: whatever a merchant and a consumer do, in whatever order — authorize, capture, void, refund,
pay the next installment, open, withdraw, accept or have decided a dispute, have a card refuse the money
sent back to it, or try to take more than is there — the ledger, the orders and the plans keep telling
the same story, fees are the fee on the net captured amount, and the consumer is never owed money
without a record of it.

Each example is one fresh merchant and consumer (the state machine's ``__init__``); rows of earlier
examples stay in the test's transaction but belong to other merchants and consumers, and every check
below is scoped to this example's own (the whole-ledger zero sum holds for all of them together).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bnpl.checkout import disputes
from bnpl.checkout import orders as checkout_orders
from bnpl.checkout.models import Dispute, Order
from bnpl.core.errors import StateError
from bnpl.core.money import basis_points
from bnpl.core.services import clock_advance
from bnpl.ledger.models import AccountCode, JournalEntry
from bnpl.ledger.selectors import account_balance, balances
from bnpl.payments.models import Charge, ConsumerBalance
from bnpl.plans.models import Installment, PaymentProduct, Plan, ProductKind
from bnpl.servicing import balances as consumer_balances
from bnpl.servicing import services as servicing
from tests.bnpl.checkout.factories import TEST_CARD, make_authorized_order
from tests.consumers.factories import make_verified_consumer
from tests.merchants.factories import make_merchant

# (kind, installment count) and the amounts the default products take, within 4000..150000.
PRODUCTS = {
    (ProductKind.PAY_IN_4, 4): (4000, 150000),
    (ProductKind.PAY_IN_30, 1): (4000, 100000),
    (ProductKind.FINANCING, 3): (10000, 150000),  # interest free
    (ProductKind.FINANCING, 6): (25000, 150000),  # 9.99% APR
    (ProductKind.FINANCING, 12): (25000, 150000),  # 14.99% APR
    (ProductKind.FINANCING, 24): (50000, 150000),  # 19.99% APR
}


@st.composite
def product_and_amount(draw: st.DrawFn) -> tuple[str, int, int]:
    kind, count = draw(st.sampled_from(sorted(PRODUCTS)))
    low, high = PRODUCTS[(kind, count)]
    return kind, count, draw(st.integers(min_value=low, max_value=high))


REFUSES_REFUNDS = "4000 0000 0000 5126"  # charges succeed; refunds to it fail for good


Step = TypeVar("Step", bound=Callable[..., None])


def _changes(step: Step) -> Step:
    """A rule: what the machine read of this example's orders is forgotten when the rule starts and
    when it ends. Between two rules nothing changes them, so the invariants that follow a rule and
    the preconditions that choose the next one read the orders once (a dozen times otherwise)."""

    @functools.wraps(step)
    def run(self: CheckoutMachine, *args: Any, **kwargs: Any) -> None:
        self.orders_read = None
        try:
            step(self, *args, **kwargs)
        finally:
            self.orders_read = None

    return run  # type: ignore[return-value]


def _share(draw_fraction: int, total: int) -> int:
    """1..total, by a drawn percentage (so shrinking goes towards small amounts)."""
    return max(1, min(total, total * draw_fraction // 100))


class CheckoutMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.merchant = make_merchant()
        self.consumer = make_verified_consumer()
        self.fortnight_passed = False
        self.orders_read: list[Order] | None = None

    # --- helpers ----------------------------------------------------------------------------------

    def _orders(self) -> list[Order]:
        """This example's orders with their plans, read once between two rules (``_changes``)."""
        if self.orders_read is None:
            self.orders_read = list(Order.objects.filter(merchant=self.merchant).select_related("plan").order_by("id"))
        return self.orders_read

    def _open(self) -> list[Order]:
        return [order for order in self._orders() if order.open_amount > 0]

    def _refundable(self) -> list[Order]:
        return [order for order in self._orders() if order.refundable_amount > 0]

    def _payable(self) -> list[Plan]:
        return list(
            Plan.objects.filter(merchant=self.merchant, installments__status=Installment.Status.SCHEDULED)
            .distinct()
            .order_by("id")
        )

    def _balance(self, code: AccountCode, *, merchant: bool = False, consumer: bool = False) -> int:
        return account_balance(
            code=code,
            currency="USD",
            livemode=False,
            merchant=self.merchant if merchant else None,
            consumer=self.consumer if consumer else None,
        )

    # --- rules ------------------------------------------------------------------------------------

    @initialize(bps=st.integers(min_value=0, max_value=1500), fixed=st.integers(min_value=0, max_value=100))
    @_changes
    def fee_terms(self, bps: int, fixed: int) -> None:
        """Random merchant fee terms (a percentage in basis points and a fixed part) for this
        merchant's products, so the fee rule is tried beyond the defaults."""
        PaymentProduct.objects.filter(merchant=self.merchant).update(
            merchant_fee_bps=bps, merchant_fee_fixed_amount=fixed
        )

    @rule(choice=product_and_amount(), refuses_refunds=st.booleans())
    @_changes
    def authorize(self, choice: tuple[str, int, int], refuses_refunds: bool) -> None:
        kind, count, amount = choice
        order = make_authorized_order(
            merchant=self.merchant,
            livemode=False,
            amount=amount,
            kind=kind,
            count=count,
            consumer=self.consumer,
            card=REFUSES_REFUNDS if refuses_refunds else TEST_CARD,
        )
        assert (order.status, order.authorized_amount, order.open_amount) == ("authorized", amount, amount)

    @precondition(lambda self: bool(self._open()))
    @rule(data=st.data(), percent=st.integers(min_value=1, max_value=100))
    @_changes
    def capture(self, data: st.DataObject, percent: int) -> None:
        order = data.draw(st.sampled_from(self._open()))
        amount = _share(percent, order.open_amount)
        capture = checkout_orders.order_capture(order=order, amount=amount)
        after = Order.objects.get(pk=order.pk)
        assert after.captured_amount == order.captured_amount + amount
        assert after.merchant_fee_amount == order.merchant_fee_amount + capture.merchant_fee_amount
        if order.captured_amount == 0:
            assert capture.merchant_fee_amount >= order.merchant_fee_fixed_amount  # the fixed part, once

    @precondition(lambda self: bool(self._open()))
    @rule(data=st.data(), extra=st.integers(min_value=1, max_value=10000))
    @_changes
    def capture_too_much(self, data: st.DataObject, extra: int) -> None:
        order = data.draw(st.sampled_from(self._open()))
        entries = JournalEntry.objects.count()
        try:
            checkout_orders.order_capture(order=order, amount=order.open_amount + extra)
        except StateError as error:
            assert error.code == "amount_exceeds_open"
        else:
            raise AssertionError("captured more than was open")
        assert JournalEntry.objects.count() == entries
        assert Order.objects.get(pk=order.pk).captured_amount == order.captured_amount

    @precondition(lambda self: bool(self._open()))
    @rule(data=st.data())
    @_changes
    def void(self, data: st.DataObject) -> None:
        order = data.draw(st.sampled_from(self._open()))
        checkout_orders.order_void(order=order)
        self._send_card_refunds()
        after = Order.objects.get(pk=order.pk)
        assert (after.open_amount, after.voided_amount) == (0, order.open_amount)

    @precondition(lambda self: bool(self._refundable()))
    @rule(data=st.data(), percent=st.integers(min_value=1, max_value=100))
    @_changes
    def refund(self, data: st.DataObject, percent: int) -> None:
        order = data.draw(st.sampled_from(self._refundable()))
        amount = _share(percent, order.refundable_amount)
        refund = checkout_orders.order_refund(order=order, amount=amount)
        self._send_card_refunds()
        assert refund.applied_to_plan_amount + refund.returned_to_card_amount == amount
        assert Order.objects.get(pk=order.pk).refunded_amount == order.refunded_amount + amount

    @precondition(lambda self: bool(self._orders()))
    @rule(data=st.data(), extra=st.integers(min_value=1, max_value=10000))
    @_changes
    def refund_too_much(self, data: st.DataObject, extra: int) -> None:
        order = data.draw(st.sampled_from(self._orders()))
        entries = JournalEntry.objects.count()
        try:
            checkout_orders.order_refund(order=order, amount=order.refundable_amount + extra)
        except StateError as error:
            assert error.code == "amount_exceeds_captured"
        else:
            raise AssertionError("refunded more than was captured")
        assert JournalEntry.objects.count() == entries

    @precondition(lambda self: bool(self._payable()))
    @rule(data=st.data())
    @_changes
    def pay(self, data: st.DataObject) -> None:
        plan = data.draw(st.sampled_from(self._payable()))
        due = plan.installments.filter(status=Installment.Status.SCHEDULED).order_by("sequence").first()
        assert due is not None
        charge = servicing.plan_pay_next_installment(plan=plan)
        assert (charge.status, charge.amount) == (Charge.Status.SUCCEEDED, due.remaining_amount)
        assert Installment.objects.get(pk=due.pk).status == Installment.Status.PAID

    def _pending_card_refunds(self) -> list[Charge]:
        return list(
            Charge.objects.filter(consumer=self.consumer, kind=Charge.Kind.REFUND, status=Charge.Status.PENDING)
        )

    def _send_card_refunds(self) -> None:
        """What goes back to the cards is sent, as it is after the change commits (the test's
        transaction never commits): some cards refuse it."""
        for charge in self._pending_card_refunds():
            sent = consumer_balances.refund_send(charge)
            assert sent.status in (Charge.Status.SUCCEEDED, Charge.Status.FAILED)
            if sent.status == Charge.Status.FAILED:
                assert ConsumerBalance.objects.filter(source_charge=sent).exists()

    @rule()
    @_changes
    def settle_balances(self) -> None:
        consumer_balances.balances_settle()

    @precondition(lambda self: not self.fortnight_passed)
    @rule()
    @_changes
    def a_fortnight_passes(self) -> None:
        """Installments fall due (once per example: authorizations made here stay open), and the
        balances pay them before collections would."""
        clock_advance(by=dt.timedelta(days=14))
        self.fortnight_passed = True
        consumer_balances.balances_settle()

    @precondition(lambda self: ConsumerBalance.objects.filter(consumer=self.consumer, paid_out_at=None).exists())
    @rule(data=st.data())
    @_changes
    def pay_out_a_balance(self, data: st.DataObject) -> None:
        open_ones = [row for row in ConsumerBalance.objects.filter(consumer=self.consumer) if row.remaining_amount]
        if not open_ones:
            return
        balance = data.draw(st.sampled_from(open_ones))
        consumer_balances.balance_pay_out(
            balance=balance, amount=balance.remaining_amount, method="bank_transfer", reference="TRF-1"
        )

    @precondition(lambda self: bool(self._refundable()))
    @rule(data=st.data(), percent=st.integers(min_value=1, max_value=100))
    @_changes
    def open_dispute(self, data: st.DataObject, percent: int) -> None:
        order = data.draw(st.sampled_from(self._refundable()))
        try:
            disputes.dispute_open(
                order=order,
                consumer=self.consumer,
                kind=Dispute.Kind.DISPUTE,
                reason=Dispute.Reason.NOT_AS_DESCRIBED,
                amount=_share(percent, order.refundable_amount),
            )
        except StateError as error:
            assert error.code in ("dispute_already_open", "dispute_limit_reached", "dispute_rate_limited")

    def _open_disputes(self) -> list[Dispute]:
        return list(Dispute.objects.filter(order__merchant=self.merchant, status__in=Dispute.OPEN_STATUSES))

    @precondition(lambda self: bool(self._open_disputes()))
    @rule(data=st.data(), outcome=st.sampled_from(["withdraw", "accept", "won", "lost"]))
    @_changes
    def end_dispute(self, data: st.DataObject, outcome: str) -> None:
        dispute = data.draw(st.sampled_from(self._open_disputes()))
        if outcome == "withdraw":
            disputes.dispute_withdraw(dispute=dispute, consumer=self.consumer)
        elif outcome == "accept":
            disputes.dispute_accept(dispute=dispute)
        else:
            disputes.dispute_decide(dispute=dispute, for_consumer=outcome == "lost", note="decided")
        self._send_card_refunds()
        assert not Dispute.objects.get(pk=dispute.pk).is_open

    # --- invariants -------------------------------------------------------------------------------

    @invariant()
    def the_consumer_is_never_owed_money_without_a_record_of_it(self) -> None:
        """Every refund the card refused is a balance, and the ledger owes the consumer exactly what
        their balances have left."""
        failed = Charge.objects.filter(consumer=self.consumer, kind=Charge.Kind.REFUND, status=Charge.Status.FAILED)
        assert not failed.filter(balance__isnull=True).exists()
        owed = sum(row.remaining_amount for row in ConsumerBalance.objects.filter(consumer=self.consumer))
        assert self._balance(AccountCode.CONSUMER_CREDIT, consumer=True) == -owed

    @invariant()
    def an_open_dispute_holds_part_of_its_plan_only(self) -> None:
        for dispute in self._open_disputes():
            assert dispute.amount > 0
            assert Order.objects.get(pk=dispute.order_id).refundable_amount >= 0

    @invariant()
    def the_ledger_sums_to_zero_in_every_currency(self) -> None:
        for currency in JournalEntry.objects.values_list("currency", flat=True).distinct():
            for livemode in (False, True):
                assert sum(balances(currency=currency, livemode=livemode).values()) == 0

    @invariant()
    def the_consumer_owes_the_unpaid_principal_of_their_plans(self) -> None:
        receivable = self._balance(AccountCode.CONSUMER_RECEIVABLE, consumer=True)
        unpaid_principal = sum(
            # Payments cover interest first, so the principal paid is what was paid beyond the interest.
            installment.principal_amount - max(0, installment.paid_amount - installment.interest_amount)
            for installment in Installment.objects.filter(
                plan__consumer=self.consumer, status=Installment.Status.SCHEDULED
            )
        )
        assert receivable >= 0
        assert receivable == unpaid_principal

    @invariant()
    def authorized_pending_is_what_the_merchant_may_still_capture(self) -> None:
        open_total = sum(order.open_amount for order in self._orders())
        # A liability: credit, so negative.
        assert self._balance(AccountCode.AUTHORIZED_PENDING, merchant=True) == -open_total

    @invariant()
    def the_merchant_is_owed_what_was_captured_less_refunds(self) -> None:
        orders = self._orders()
        net = sum(order.captured_amount - order.refunded_amount for order in orders)
        payable = self._balance(AccountCode.MERCHANT_PAYABLE, merchant=True)
        fees = self._balance(AccountCode.MERCHANT_FEE_REVENUE, merchant=True)
        assert payable + fees == -net
        assert fees == -sum(order.merchant_fee_amount for order in orders)

    @invariant()
    def fees_to_date_are_the_fee_on_the_net_captured_amount(self) -> None:
        """However captures and refunds were split, the merchant has paid the percentage of what it
        kept, rounded once, plus the fixed part once anything was captured."""
        for order in self._orders():
            net = order.captured_amount - order.refunded_amount
            expected = basis_points(net, order.merchant_fee_bps) + order.merchant_fee_fixed_amount
            assert order.merchant_fee_amount == (expected if order.captured_amount else 0), order.public_id

    @invariant()
    def every_plan_repays_what_is_left_of_its_order(self) -> None:
        returned: dict[int, int] = defaultdict(int)
        for plan_id, amount in Charge.objects.filter(plan__merchant=self.merchant, kind=Charge.Kind.REFUND).values_list(
            "plan_id", "amount"
        ):
            returned[plan_id] += amount
        principal: dict[int, int] = defaultdict(int)
        for plan_id, status, amount, paid, principal_amount in Installment.objects.filter(
            plan__merchant=self.merchant
        ).values_list("plan_id", "status", "amount", "paid_amount", "principal_amount"):
            assert amount >= paid >= 0 and principal_amount >= 0, plan_id
            if status != Installment.Status.CANCELED:
                principal[plan_id] += principal_amount
        for order in self._orders():
            plan = order.plan
            # What was paid and then sent back to the card stays on the paid installments: it is the one
            # part of a plan's principal the order no longer accounts for.
            assert principal[plan.pk] - returned[plan.pk] == (
                order.authorized_amount - order.voided_amount - order.refunded_amount
            ), plan.public_id

    @invariant()
    def order_states_match_their_amounts(self) -> None:
        for order in self._orders():
            captured, open_amount, refunded = order.captured_amount, order.open_amount, order.refunded_amount
            assert 0 <= refunded <= captured <= order.authorized_amount - order.voided_amount
            expected = {
                "authorized": captured == 0 and open_amount > 0,
                "part_captured": captured > 0 and open_amount > 0,
                "captured": captured > 0 and open_amount == 0 and refunded < captured,
                "refunded": captured > 0 and open_amount == 0 and refunded == captured,
                "voided": captured == 0 and open_amount == 0,
            }
            assert [status for status, holds in expected.items() if holds] == [order.status], (
                order.public_id,
                order.status,
                captured,
                open_amount,
                refunded,
            )

    @invariant()
    def a_plan_is_active_paid_or_canceled_by_what_is_left(self) -> None:
        scheduled = set(
            Installment.objects.filter(plan__merchant=self.merchant, status=Installment.Status.SCHEDULED).values_list(
                "plan_id", flat=True
            )
        )
        for plan in Plan.objects.filter(merchant=self.merchant).select_related("order"):
            order = plan.order
            if plan.pk in scheduled:
                expected = Plan.Status.ACTIVE
            elif order.authorized_amount - order.voided_amount - order.refunded_amount > 0:
                expected = Plan.Status.PAID  # the consumer paid what the order still comes to
            else:
                expected = Plan.Status.CANCELED  # voided or refunded in full, whatever was paid went back
            assert plan.status == expected, plan.public_id

    @invariant()
    def no_payment_gives_back_more_than_it_took(self) -> None:
        given_back: dict[int, int] = defaultdict(int)
        refunds = Charge.objects.filter(plan__merchant=self.merchant, kind=Charge.Kind.REFUND)
        for refund in refunds.exclude(status=Charge.Status.FAILED).select_related("refunded_charge"):
            assert refund.refunded_charge is not None and refund.refunded_charge_id is not None
            assert refund.refunded_charge.kind == Charge.Kind.PAYMENT
            assert refund.refunded_charge.plan_id == refund.plan_id
            given_back[refund.refunded_charge_id] += refund.amount
        for payment in Charge.objects.filter(pk__in=given_back):
            assert given_back[payment.pk] <= payment.amount, payment.public_id


@pytest.fixture
def lift_exposure_limit(settings: Any) -> None:
    """One consumer takes many orders here: lift the per-consumer exposure limit (a policy rule tested
    elsewhere) so that every authorization is approved."""
    settings.CONSUMER_EXPOSURE_LIMIT_MAJOR = 100_000_000


@pytest.mark.slow
@pytest.mark.django_db
def test_orders_plans_and_the_ledger_agree_after_any_sequence_of_operations(lift_exposure_limit: None) -> None:
    run_state_machine_as_test(
        CheckoutMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=14,
            deadline=None,
            # Every step runs real checkouts (~40 ms each): shrinking a failure would take minutes, so a
            # failure reports the sequence that failed (at most 14 steps) as it was generated.
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
