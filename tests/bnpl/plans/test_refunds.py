"""Refunds against a schedule: last installment first (Afterpay, Affirm) or spread evenly (Klarna)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.plans.schedule import RefundAllocation, apply_refund

POLICIES = ("last_first", "even_spread")


def test_last_first_empties_the_last_installment_then_works_backwards() -> None:
    # given 100.01 in four installments and a 30.00 refund
    allocation = apply_refund(remaining=[2501, 2500, 2500, 2500], refund=3000, policy="last_first")

    # then the last installment goes, and 5.00 comes off the one before
    assert allocation == RefundAllocation(new_remaining=[2501, 2500, 2000, 0], reductions=[0, 0, 500, 2500], excess=0)


def test_even_spread_puts_the_odd_minor_unit_on_the_earliest_installment() -> None:
    allocation = apply_refund(remaining=[2501, 2500, 2500, 2500], refund=1001, policy="even_spread")

    assert allocation == RefundAllocation(
        new_remaining=[2250, 2250, 2250, 2250], reductions=[251, 250, 250, 250], excess=0
    )


def test_even_spread_redistributes_what_a_small_installment_cannot_take() -> None:
    # given a nearly paid first installment: its even share (2000) is capped at 100, the other 1900
    # is spread over the two others (950 each)
    allocation = apply_refund(remaining=[100, 5000, 5000], refund=6000, policy="even_spread")

    assert allocation == RefundAllocation(new_remaining=[0, 2050, 2050], reductions=[100, 2950, 2950], excess=0)


def test_even_spread_skips_installments_already_paid() -> None:
    allocation = apply_refund(remaining=[0, 3000, 3001], refund=3, policy="even_spread")

    assert allocation == RefundAllocation(new_remaining=[0, 2998, 3000], reductions=[0, 2, 1], excess=0)


def test_even_spread_redistributes_over_several_rounds_and_stays_even() -> None:
    # given 18.59 over 3.25, 7.68 and 7.67: the first is emptied, the other 15.34 splits 7.67 / 7.67
    allocation = apply_refund(remaining=[325, 768, 767], refund=1859, policy="even_spread")

    assert allocation == RefundAllocation(new_remaining=[0, 1, 0], reductions=[325, 767, 767], excess=0)


@pytest.mark.parametrize("policy", POLICIES)
def test_a_refund_beyond_what_is_owed_returns_the_excess_to_the_card(policy: str) -> None:
    allocation = apply_refund(remaining=[1000, 500], refund=2000, policy=policy)  # type: ignore[arg-type]

    assert allocation == RefundAllocation(new_remaining=[0, 0], reductions=[1000, 500], excess=500)


@pytest.mark.parametrize("policy", POLICIES)
def test_nothing_left_to_pay_makes_the_whole_refund_excess(policy: str) -> None:
    assert apply_refund(remaining=[], refund=700, policy=policy) == RefundAllocation(  # type: ignore[arg-type]
        new_remaining=[], reductions=[], excess=700
    )
    assert apply_refund(remaining=[0, 0], refund=0, policy=policy) == RefundAllocation(  # type: ignore[arg-type]
        new_remaining=[0, 0], reductions=[0, 0], excess=0
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"refund": -1}, "refund must be between 0 and"),
        ({"remaining": [100, -1]}, "remaining amounts must not be negative"),
        ({"policy": "first_first"}, "unknown refund policy 'first_first'"),
    ],
)
def test_apply_refund_refuses_bad_input(arguments: dict[str, object], message: str) -> None:
    values: dict[str, object] = {"remaining": [100, 100], "refund": 50, "policy": "last_first", **arguments}

    with pytest.raises(ValueError, match=message):
        apply_refund(**values)  # type: ignore[arg-type]


@given(
    remaining=st.lists(st.integers(min_value=0, max_value=10**9), max_size=24),
    refund=st.integers(min_value=0, max_value=3 * 10**9),
    policy=st.sampled_from(POLICIES),
)
def test_refunds_conserve_minor_units_and_never_raise_or_overdraw_an_installment(
    remaining: list[int], refund: int, policy: str
) -> None:
    allocation = apply_refund(remaining=remaining, refund=refund, policy=policy)  # type: ignore[arg-type]

    assert sum(allocation.reductions) + allocation.excess == refund
    assert len(allocation.new_remaining) == len(allocation.reductions) == len(remaining)
    assert all(0 <= reduction <= before for reduction, before in zip(allocation.reductions, remaining, strict=True))
    assert allocation.new_remaining == [
        before - reduction for before, reduction in zip(remaining, allocation.reductions, strict=True)
    ]
    assert (allocation.excess > 0) == (refund > sum(remaining))
    assert allocation.excess == max(refund - sum(remaining), 0)


@given(
    remaining=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=24),
    refund=st.integers(min_value=0, max_value=3 * 10**6),
)
def test_last_first_touches_only_a_tail_and_empties_all_of_it_but_its_first(remaining: list[int], refund: int) -> None:
    allocation = apply_refund(remaining=remaining, refund=refund, policy="last_first")

    touched = [index for index, reduction in enumerate(allocation.reductions) if reduction]
    if touched:
        first = touched[0]
        assert all(allocation.reductions[index] == 0 for index in range(first))
        assert all(allocation.new_remaining[index] == 0 for index in range(first + 1, len(remaining)))


@given(
    remaining=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=24),
    refund=st.integers(min_value=0, max_value=3 * 10**6),
)
def test_even_spread_is_even_wherever_an_installment_was_not_emptied(remaining: list[int], refund: int) -> None:
    allocation = apply_refund(remaining=remaining, refund=refund, policy="even_spread")

    # every installment left owing something got the same reduction (give or take one minor unit), and
    # no emptied installment got more than that
    still_owing = [
        reduction for reduction, left in zip(allocation.reductions, allocation.new_remaining, strict=True) if left > 0
    ]
    if still_owing:
        assert max(still_owing) - min(still_owing) <= 1
        assert max(allocation.reductions) <= min(still_owing) + 1
