"""Foreign exchange: reference rates, the customer rate, and the rounding rule of a conversion.

Rates are exact rationals (`fractions.Fraction`) built from decimal strings, never floats. The
platform quotes every currency against the euro, as the European Central Bank publishes them
("1 EUR = 1.1269 USD"); a few currencies the ECB does not quote are pegged to the US dollar and
derived through it.

The rounding rule of a conversion of `amount_minor` from currency A to currency B:

- the mid value is exact: ``mid_minor = amount_minor / 10**exp(A) * mid_rate * 10**exp(B)``,
  where ``mid_rate = rate(B) / rate(A)`` (units of B per unit of A);
- the customer rate is the mid rate less the spread: ``mid_rate * (10000 - spread_bps) / 10000``;
- the customer receives ``floor(amount at the customer rate)`` in minor units of B: never more
  than the customer rate gives, never a fraction of a minor unit;
- the fee, in B, is ``floor(mid_minor) - received``: the spread plus the sub-minor remainder of
  the customer's amount. So received + fee is the mid value rounded down, within one minor unit
  of it, and nothing is created: the platform's FX account gives out at most the mid value.

The module is pure: no clock, no files, no environment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, localcontext
from fractions import Fraction
from types import MappingProxyType

from shared.domain.money import currency_exponent, is_supported_currency

__all__ = [
    "BASIS_POINTS_PER_UNIT",
    "BASE_CURRENCY",
    "PEG_CURRENCY",
    "RATE_DISPLAY_DIGITS",
    "REFERENCE_CURRENCY",
    "ConversionAmounts",
    "ExchangeRates",
    "FxRateMissing",
    "convert",
    "customer_rate",
    "parse_rate",
    "rate_text",
    "rates_age_days",
    "reference_minor",
]

BASE_CURRENCY = "EUR"
PEG_CURRENCY = "USD"
BASIS_POINTS_PER_UNIT = 10_000
# The one currency that fraud thresholds, limits and reports count in, whatever is paid.
REFERENCE_CURRENCY = "USD"
# Rates are shown with this many significant digits; the arithmetic uses the exact fraction.
RATE_DISPLAY_DIGITS = 12
# A rate is a plain positive decimal: "1.1269", "178.15", "0.376".
_RATE_TEXT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,12})?")


class FxRateMissing(LookupError):
    """The rates have no value for a currency."""


def parse_rate(text: object) -> Fraction:
    """An exact positive rate from its decimal text; ValueError for anything else (floats too)."""
    if not isinstance(text, str) or _RATE_TEXT.fullmatch(text) is None:
        raise ValueError(f"a rate must be a plain positive decimal string, got {text!r}")
    value = Fraction(Decimal(text))
    if value <= 0:
        raise ValueError(f"a rate must be positive, got {text!r}")
    return value


@dataclass(frozen=True)
class ExchangeRates:
    """Units of each currency per euro, as of `published_on`.

    `pegs_per_usd` holds the currencies derived through the dollar (units per US dollar), with
    the date they were last reviewed; `per_eur()` folds them in.
    """

    published_on: date
    source: str
    ecb_per_eur: Mapping[str, Fraction]
    pegs_per_usd: Mapping[str, Fraction]
    pegs_reviewed_on: date

    def __post_init__(self) -> None:
        if BASE_CURRENCY in self.ecb_per_eur:
            raise ValueError("the base currency has no rate against itself")
        if self.pegs_per_usd and PEG_CURRENCY not in self.ecb_per_eur:
            raise ValueError(f"pegged currencies need a {PEG_CURRENCY} rate")
        both = sorted(set(self.ecb_per_eur) & set(self.pegs_per_usd))
        if both:
            raise ValueError(f"currencies both quoted and pegged: {both}")
        for rate in (*self.ecb_per_eur.values(), *self.pegs_per_usd.values()):
            if not isinstance(rate, Fraction) or rate <= 0:
                raise ValueError(f"rates must be positive fractions, got {rate!r}")

    def per_eur(self) -> Mapping[str, Fraction]:
        """Every currency's units per euro, the base (1) and the pegged ones included."""
        table = {BASE_CURRENCY: Fraction(1), **self.ecb_per_eur}
        for currency, per_usd in self.pegs_per_usd.items():
            table[currency] = self.ecb_per_eur[PEG_CURRENCY] * per_usd
        return MappingProxyType(table)

    def mid_rate(self, from_currency: str, to_currency: str) -> Fraction:
        """Units of `to_currency` per unit of `from_currency`, exactly."""
        table = self.per_eur()
        for currency in (from_currency, to_currency):
            if currency not in table:
                raise FxRateMissing(f"no exchange rate for {currency}")
        return table[to_currency] / table[from_currency]

    def is_pegged(self, currency: str) -> bool:
        return currency in self.pegs_per_usd


def rates_age_days(rates: ExchangeRates, today: date, *, pegged: bool) -> int:
    """How many days old the rates a conversion uses are: the ECB date, or for a conversion that
    involves a pegged currency the older of it and the pegs' review date."""
    oldest = min(rates.published_on, rates.pegs_reviewed_on) if pegged else rates.published_on
    return (today - oldest).days


def customer_rate(mid_rate: Fraction, spread_bps: int) -> Fraction:
    """The rate the customer gets: the mid rate less the spread."""
    if not 0 <= spread_bps < BASIS_POINTS_PER_UNIT:
        raise ValueError(f"spread must be 0..{BASIS_POINTS_PER_UNIT - 1} basis points")
    return mid_rate * (BASIS_POINTS_PER_UNIT - spread_bps) / BASIS_POINTS_PER_UNIT


@dataclass(frozen=True)
class ConversionAmounts:
    """What a conversion moves, in minor units: `amount_minor` of the source currency out of the
    wallet; `receive_minor` into the target wallet and `fee_minor` to fees, both in the target."""

    from_currency: str
    to_currency: str
    amount_minor: int
    receive_minor: int
    fee_minor: int
    mid_rate: Fraction
    customer_rate: Fraction
    # The exact value of amount_minor at the mid rate, in minor units of the target currency.
    mid_value_minor: Fraction


def convert(
    amount_minor: int, from_currency: str, to_currency: str, *, mid_rate: Fraction, spread_bps: int
) -> ConversionAmounts:
    """Apply the module's rounding rule (see the module docstring)."""
    if type(amount_minor) is not int or amount_minor <= 0:
        raise ValueError(f"amount_minor must be a positive int, got {amount_minor!r}")
    for currency in (from_currency, to_currency):
        if not is_supported_currency(currency):
            raise ValueError(f"unsupported currency {currency!r}")
    if from_currency == to_currency:
        raise ValueError("a conversion needs two different currencies")
    if not isinstance(mid_rate, Fraction) or mid_rate <= 0:
        raise ValueError(f"mid_rate must be a positive Fraction, got {mid_rate!r}")
    scale = Fraction(10 ** currency_exponent(to_currency), 10 ** currency_exponent(from_currency))
    mid_value_minor = amount_minor * mid_rate * scale
    rate = customer_rate(mid_rate, spread_bps)
    receive_minor = math.floor(amount_minor * rate * scale)
    fee_minor = math.floor(mid_value_minor) - receive_minor
    # Checked, not assumed: the customer rate never exceeds the mid rate, so the fee is >= 0.
    if fee_minor < 0 or receive_minor < 0:
        raise ArithmeticError(f"conversion rounding broke: receive {receive_minor}, fee {fee_minor}")
    return ConversionAmounts(
        from_currency=from_currency,
        to_currency=to_currency,
        amount_minor=amount_minor,
        receive_minor=receive_minor,
        fee_minor=fee_minor,
        mid_rate=mid_rate,
        customer_rate=rate,
        mid_value_minor=mid_value_minor,
    )


def rate_text(rate: Fraction, digits: int = RATE_DISPLAY_DIGITS) -> str:
    """A rate for people: `digits` significant digits, plain notation ("0.00632612967724")."""
    with localcontext() as context:
        context.prec = digits
        value = Decimal(rate.numerator) / Decimal(rate.denominator)
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def reference_minor(amount_minor: int, currency: str, rates: ExchangeRates) -> int:
    """`amount_minor` of `currency` in minor units of REFERENCE_CURRENCY at the mid rate, rounded
    down: what thresholds and limits compare (2,001 JPY is about 13 USD; 50,000 KWD about
    160,000). Any rates will do, however old: a threshold must never stop a payment for want of
    fresh ones (only customer quotes require fresh rates)."""
    if type(amount_minor) is not int or amount_minor < 0:
        raise ValueError(f"amount_minor must be a non-negative int, got {amount_minor!r}")
    if currency == REFERENCE_CURRENCY:
        return amount_minor
    scale = Fraction(10 ** currency_exponent(REFERENCE_CURRENCY), 10 ** currency_exponent(currency))
    return math.floor(amount_minor * rates.mid_rate(currency, REFERENCE_CURRENCY) * scale)
