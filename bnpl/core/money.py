"""Money on integer minor units with an ISO 4217 currency code. No float ever touches an amount.

* ``CURRENCY_EXPONENTS`` is the ISO 4217 list of active currencies with their minor-unit exponent
  (JPY 0, USD 2, KWD 3, CLF 4). Funds codes, precious metals and testing codes are left out.
* ``format_amount`` renders for people (CLDR via Babel), ``to_decimal``/``from_decimal`` convert
  at the display/input boundary, rounding only where the caller says how.
* ``split_evenly`` and ``allocate`` split an amount exactly: the parts always sum to the amount,
  and the remainder is placed by a stated rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from functools import cache, lru_cache

from babel import Locale
from babel.numbers import NumberPattern, parse_pattern

from bnpl.core.errors import InvalidRequestError

# ISO 4217 active codes and their minor units (exponent).
_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENT_4 = "CLF UYW"
_EXPONENT_2 = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN BWP BYN BZD "
    "CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS "
    "GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL "
    "MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK "
    "PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS "
    "TMT TOP TRY TTD TWD TZS UAH USD USN UYU UZS VED VES WST XCD XCG YER ZAR ZMW ZWG"
)
CURRENCY_EXPONENTS: dict[str, int] = {
    **{code: 0 for code in _EXPONENT_0.split()},
    **{code: 2 for code in _EXPONENT_2.split()},
    **{code: 3 for code in _EXPONENT_3.split()},
    **{code: 4 for code in _EXPONENT_4.split()},
}
CURRENCY_CODES = tuple(sorted(CURRENCY_EXPONENTS))
# The largest amount the platform accepts in any currency: fits a PostgreSQL bigint with room to sum.
MAX_AMOUNT = 10**15


class RemainderRule(StrEnum):
    """Where the cents that do not divide evenly go."""

    FIRST = "first"  # the earliest parts take one extra minor unit each (pay-in-4 convention)
    LAST = "last"  # the latest parts take one extra minor unit each


def normalize_currency(code: object, *, param: str = "currency") -> str:
    """Return the upper-case ISO 4217 code, or raise naming ``param``."""
    if not isinstance(code, str) or code.upper() not in CURRENCY_EXPONENTS:
        raise InvalidRequestError(
            f"{code!r} is not a supported ISO 4217 currency code.", code="currency_invalid", param=param
        )
    return code.upper()


def exponent(currency: str) -> int:
    return CURRENCY_EXPONENTS[normalize_currency(currency)]


def to_decimal(amount: int, currency: str) -> Decimal:
    """Minor units to major units, exactly: 1999 USD -> Decimal('19.99')."""
    return Decimal(amount).scaleb(-exponent(currency))


def from_decimal(value: Decimal | str, currency: str) -> int:
    """Major units to minor units; refuses anything that is not a whole number of minor units."""
    quantum = Decimal(1).scaleb(-exponent(currency))
    decimal_value = Decimal(value)
    if decimal_value.quantize(quantum, rounding=ROUND_HALF_EVEN) != decimal_value:
        raise InvalidRequestError(
            f"{value} has more decimal places than {currency} allows.", code="amount_invalid", param="amount"
        )
    return int(decimal_value.scaleb(exponent(currency)))


def format_amount(amount: int, currency: str, *, locale: str = "en_US") -> str:
    """Human rendering in the locale's pattern with exactly the ISO 4217 decimals.

    format_amount(123456, "USD") == "$1,234.56"; format_amount(1000, "JPY") == "¥1,000".
    """
    return _formatted(amount, currency, locale)


@lru_cache(maxsize=4096)
def _formatted(amount: int, currency: str, locale: str) -> str:
    """``format_amount``'s text, kept per process: a pure function of its arguments, and a page
    formats the same few amounts many times (a checkout page ~46 calls, babel's ~19 µs each)."""
    babel_locale, pattern = _currency_pattern(locale, exponent(currency))
    return pattern.apply(to_decimal(amount, currency), babel_locale, currency=currency.upper(), currency_digits=False)


@cache
def _currency_pattern(locale: str, digits: int) -> tuple[Locale, NumberPattern]:
    """The locale and its currency pattern with exactly ``digits`` decimals: parsed once per process
    (parsing costs several times what applying does; applying does not change the pattern)."""
    babel_locale = Locale.parse(locale)
    pattern = parse_pattern(babel_locale.currency_formats["standard"].pattern)
    pattern.frac_prec = (digits, digits)
    return babel_locale, pattern


def _divide_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up to an integer (half away from zero below zero)."""
    if numerator < 0:
        return -_divide_half_up(-numerator, denominator)
    return (2 * numerator + denominator) // (2 * denominator)


def basis_points(amount: int, bps: int) -> int:
    """``bps`` hundredths of a percent of ``amount`` minor units, rounded half up to a whole minor
    unit (half away from zero for a negative amount): the rounding rule for what is charged or
    owed at a rate quoted in basis points (fees, interest). basis_points(8, 599) == 0;
    basis_points(24, 599) == 1.

    A limit is the one exception, and has its own helper: ``basis_points_at_most``."""
    return _divide_half_up(amount * bps, 10_000)


def basis_points_at_most(amount: int, bps: int) -> int:
    """``bps`` of ``amount`` rounded down: for a cap or a share that must never exceed the exact
    figure (a late-fee cap of 50% of 1 cent is 0, not 1). Non-negative amounts only."""
    if amount < 0:
        raise ValueError("basis_points_at_most takes a non-negative amount")
    return amount * bps // 10_000


def interest_for_days(principal: int, apr_bps: int, days: int) -> int:
    """Simple interest on ``principal`` minor units at ``apr_bps`` a year for ``days`` days (a
    365-day year), rounded once by the same rule as ``basis_points``. Never negative days."""
    return _divide_half_up(principal * apr_bps * max(0, days), 10_000 * 365)


def split_evenly(amount: int, parts: int, *, remainder: RemainderRule = RemainderRule.FIRST) -> list[int]:
    """Split ``amount`` minor units into ``parts`` that differ by at most one and sum exactly.

    split_evenly(1000, 3) == [334, 333, 333]; with RemainderRule.LAST, [333, 333, 334].
    """
    if parts < 1:
        raise ValueError("parts must be at least 1")
    base, extra = divmod(amount, parts)
    shares = [base] * parts
    indexes = range(extra) if remainder is RemainderRule.FIRST else range(parts - extra, parts)
    for index in indexes:
        shares[index] += 1
    return shares


def allocate(amount: int, weights: Sequence[int], *, remainder: RemainderRule = RemainderRule.FIRST) -> list[int]:
    """Split ``amount`` in proportion to non-negative integer ``weights``; the parts sum exactly.

    Each part is the floor of its exact share; the minor units left over go one each to the parts with
    the largest fractional remainders, ties broken by ``remainder`` (earliest or latest first).
    allocate(100, [1, 1, 1]) == [34, 33, 33].
    """
    if not weights or any(weight < 0 for weight in weights) or sum(weights) == 0:
        raise ValueError("weights must be non-negative and not all zero")
    if amount < 0:
        return [-share for share in allocate(-amount, weights, remainder=remainder)]
    total_weight = sum(weights)
    floors = [amount * weight // total_weight for weight in weights]
    fractions = [amount * weight % total_weight for weight in weights]
    left_over = amount - sum(floors)
    order = list(range(len(weights)))
    if remainder is RemainderRule.LAST:
        order.reverse()
    order.sort(key=lambda index: -fractions[index])
    for index in order[:left_over]:
        floors[index] += 1
    return floors
