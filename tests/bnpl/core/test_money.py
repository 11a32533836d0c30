from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bnpl.core.errors import InvalidRequestError
from bnpl.core.money import (
    CURRENCY_EXPONENTS,
    RemainderRule,
    allocate,
    exponent,
    format_amount,
    from_decimal,
    normalize_currency,
    split_evenly,
    to_decimal,
)


@pytest.mark.parametrize(
    ("code", "expected"), [("USD", 2), ("eur", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4)]
)
def test_iso_4217_exponents(code: str, expected: int) -> None:
    assert exponent(code) == expected


@pytest.mark.parametrize("code", ["XYZ", "usd1", "", None, 840, "XAU"])
def test_unknown_currencies_are_refused_naming_the_field(code: object) -> None:
    with pytest.raises(InvalidRequestError) as raised:
        normalize_currency(code, param="currency")
    assert raised.value.param == "currency"
    assert raised.value.code == "currency_invalid"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (123456, "USD", "en_US", "$1,234.56"),
        (5, "USD", "en_US", "$0.05"),
        (-2500, "USD", "en_US", "-$25.00"),
        (1000, "JPY", "en_US", "¥1,000"),
        (1234567, "KWD", "en_US", "KWD1,234.567"),
        (123456, "EUR", "de_DE", "1.234,56\xa0€"),
    ],
)
def test_format_amount_shows_exactly_the_currencys_decimals(
    amount: int, currency: str, locale: str, expected: str
) -> None:
    assert format_amount(amount, currency, locale=locale) == expected


def test_decimal_conversion_is_exact_and_refuses_fractions_of_a_minor_unit() -> None:
    assert to_decimal(1999, "USD") == Decimal("19.99")
    assert from_decimal("19.99", "USD") == 1999
    assert from_decimal("1000", "JPY") == 1000
    with pytest.raises(InvalidRequestError):
        from_decimal("19.999", "USD")
    with pytest.raises(InvalidRequestError):
        from_decimal("0.5", "JPY")


def test_split_evenly_places_the_remainder_by_the_stated_rule() -> None:
    assert split_evenly(1000, 3) == [334, 333, 333]
    assert split_evenly(1000, 3, remainder=RemainderRule.LAST) == [333, 333, 334]
    assert split_evenly(10001, 4) == [2501, 2500, 2500, 2500]
    assert split_evenly(2, 4) == [1, 1, 0, 0]


def test_allocate_splits_in_proportion() -> None:
    assert allocate(100, [1, 1, 1]) == [34, 33, 33]
    assert allocate(100, [1, 1, 1], remainder=RemainderRule.LAST) == [33, 33, 34]
    assert allocate(1000, [25, 75]) == [250, 750]
    assert allocate(-100, [1, 2]) == [-33, -67]
    with pytest.raises(ValueError, match="weights"):
        allocate(100, [0, 0])


@given(
    amount=st.integers(min_value=0, max_value=10**15),
    parts=st.integers(min_value=1, max_value=60),
    rule=st.sampled_from(RemainderRule),
)
def test_split_evenly_always_sums_exactly_and_never_goes_negative(amount: int, parts: int, rule: RemainderRule) -> None:
    shares = split_evenly(amount, parts, remainder=rule)
    assert sum(shares) == amount
    assert len(shares) == parts
    assert min(shares) >= 0
    assert max(shares) - min(shares) <= 1


@given(
    amount=st.integers(min_value=-(10**15), max_value=10**15),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=30).filter(lambda w: sum(w) > 0),
    rule=st.sampled_from(RemainderRule),
)
def test_allocate_always_sums_exactly_and_each_part_is_within_one_unit_of_its_share(
    amount: int, weights: list[int], rule: RemainderRule
) -> None:
    parts = allocate(amount, weights, remainder=rule)
    assert sum(parts) == amount
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Decimal(amount) * weight / total
        assert abs(Decimal(part) - exact) < 1
        if weight == 0:
            assert part == 0


def test_the_currency_table_is_iso_4217_shaped() -> None:
    assert len(CURRENCY_EXPONENTS) > 150
    assert all(len(code) == 3 and code.isupper() for code in CURRENCY_EXPONENTS)
    assert set(CURRENCY_EXPONENTS.values()) == {0, 2, 3, 4}
