"""Money: an integer of minor units plus an ISO 4217 currency code.

An amount is never a float. `Money(amount_minor=1999, currency="USD")` is 19.99 US dollars;
`Money(amount_minor=1000, currency="JPY")` is 1000 yen, because the yen has no minor unit.
Arithmetic and ordering only combine amounts of one currency: adding dollars to euros is a bug,
so it raises instead of guessing a rate.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType

__all__ = [
    "CURRENCY_EXPONENTS",
    "EURO_AREA_COUNTRIES",
    "Money",
    "UnsupportedCurrency",
    "currency_exponent",
    "default_currency_for_country",
    "is_supported_currency",
]

# ISO 4217 minor-unit digits of every currency the platform holds. A currency missing here can
# be neither held nor moved: adding one is a deliberate act, because FX rates, payout rails and
# fraud limits must follow.
CURRENCY_EXPONENTS: Mapping[str, int] = MappingProxyType(
    {
        "USD": 2,
        "EUR": 2,
        "GBP": 2,
        "CAD": 2,
        "AUD": 2,
        "CHF": 2,
        "SEK": 2,
        "NOK": 2,
        "DKK": 2,
        "PLN": 2,
        "MXN": 2,
        "BRL": 2,
        "INR": 2,
        "SGD": 2,
        "HKD": 2,
        "NZD": 2,
        "ZAR": 2,
        "JPY": 0,
        "KRW": 0,
        "KWD": 3,
        "BHD": 3,
        "JOD": 3,
    }
)

# Members of the euro area (Bulgaria joined on 1 January 2026) and the states that use the euro
# by agreement or in practice.
EURO_AREA_COUNTRIES: frozenset[str] = frozenset(
    {
        "AT", "BE", "BG", "CY", "DE", "EE", "ES", "FI", "FR", "GR", "HR", "IE", "IT", "LT", "LU",
        "LV", "MT", "NL", "PT", "SI", "SK",
        "AD", "MC", "ME", "SM", "VA", "XK",
    }
)  # fmt: skip

_COUNTRY_CURRENCIES: Mapping[str, str] = MappingProxyType(
    {
        "US": "USD", "PR": "USD", "GU": "USD", "VI": "USD", "AS": "USD", "MP": "USD",
        "EC": "USD", "SV": "USD",
        "GB": "GBP", "IM": "GBP", "JE": "GBP", "GG": "GBP",
        "CA": "CAD",
        "AU": "AUD",
        "CH": "CHF", "LI": "CHF",
        "SE": "SEK",
        "NO": "NOK",
        "DK": "DKK", "FO": "DKK", "GL": "DKK",
        "PL": "PLN",
        "MX": "MXN",
        "BR": "BRL",
        "IN": "INR",
        "SG": "SGD",
        "HK": "HKD",
        "NZ": "NZD",
        "ZA": "ZAR",
        "JP": "JPY",
        "KR": "KRW",
        "KW": "KWD",
        "BH": "BHD",
        "JO": "JOD",
        **{country: "EUR" for country in EURO_AREA_COUNTRIES},
    }
)  # fmt: skip

# The platform's home currency: what a user from a country not listed above starts with.
_FALLBACK_CURRENCY = "USD"

# Plain decimal notation only: no exponent, no grouping separators, no bare "." edges, so that a
# parsed amount is always what a person reading the text would say it is.
_DECIMAL_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


class UnsupportedCurrency(ValueError):
    """The code is not an ISO 4217 currency this platform holds."""


def currency_exponent(code: str) -> int:
    """Return the number of minor-unit digits of `code` (2 for USD, 0 for JPY, 3 for KWD)."""
    try:
        return CURRENCY_EXPONENTS[code]
    except (KeyError, TypeError):
        raise UnsupportedCurrency(f"unsupported currency: {code!r}") from None


def is_supported_currency(code: str) -> bool:
    """Tell whether `code` is a currency the platform holds (codes are upper case)."""
    return isinstance(code, str) and code in CURRENCY_EXPONENTS


def default_currency_for_country(country: str) -> str:
    """Return the currency a new user from `country` (ISO 3166 alpha-2) starts with.

    Countries without a supported local currency fall back to USD.
    """
    return _COUNTRY_CURRENCIES.get(country.strip().upper(), _FALLBACK_CURRENCY)


def _require_same_currency(left: Money, right: Money) -> None:
    if left.currency != right.currency:
        raise ValueError(f"cannot combine {left.currency} with {right.currency}: convert explicitly first")


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount: integer minor units of one supported currency.

    Equality is structural (12.34 USD != 12.34 EUR); ordering and arithmetic between two
    currencies raise ValueError, since there is no rate-free answer.
    """

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        # bool is an int subclass; True dollars is always a bug, never one cent.
        if type(self.amount_minor) is not int:
            kind = type(self.amount_minor).__name__
            raise TypeError(f"amount_minor must be an int of minor units, got {kind}")
        if not is_supported_currency(self.currency):
            raise UnsupportedCurrency(f"unsupported currency: {self.currency!r}")

    @classmethod
    def zero(cls, currency: str) -> Money:
        """Return nothing of `currency`: the start of a sum."""
        return cls(amount_minor=0, currency=currency)

    @classmethod
    def from_major(cls, text: str, currency: str) -> Money:
        """Parse a plain decimal string in major units ("12.34") exactly.

        Raises ValueError if the text is not a plain decimal or carries more decimals than the
        currency has ("0.001" USD, "1.5" JPY); UnsupportedCurrency for an unknown currency.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        exponent = currency_exponent(currency)
        if _DECIMAL_TEXT.fullmatch(text) is None:
            raise ValueError(f"not a plain decimal amount: {text!r}")
        try:
            value = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"not a plain decimal amount: {text!r}") from None
        exponent_of_text = value.as_tuple().exponent
        if not isinstance(exponent_of_text, int):  # NaN or infinity; the pattern refuses both
            raise ValueError(f"not a plain decimal amount: {text!r}")
        decimals = -exponent_of_text
        if decimals > exponent:
            raise ValueError(f"{currency} has {exponent} decimal place(s); {text!r} has {decimals}")
        # Scaling by a power of ten is exact in Decimal, so this int() never rounds.
        return cls(amount_minor=int(value.scaleb(exponent)), currency=currency)

    @property
    def exponent(self) -> int:
        """The currency's number of minor-unit digits."""
        return CURRENCY_EXPONENTS[self.currency]

    def major_text(self) -> str:
        """The amount in major units, exactly, without the code: "12.34", "1000", "-0.05"."""
        exponent = self.exponent
        sign = "-" if self.amount_minor < 0 else ""
        magnitude = abs(self.amount_minor)
        if exponent == 0:
            return f"{sign}{magnitude}"
        major, minor = divmod(magnitude, 10**exponent)
        return f"{sign}{major}.{minor:0{exponent}d}"

    def format(self) -> str:
        """Render as major units and code: "12.34 USD", "1000 JPY", "-0.05 USD"."""
        return f"{self.major_text()} {self.currency}"

    def __str__(self) -> str:
        return self.format()

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        _require_same_currency(self, other)
        return Money(amount_minor=self.amount_minor + other.amount_minor, currency=self.currency)

    def __sub__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        _require_same_currency(self, other)
        return Money(amount_minor=self.amount_minor - other.amount_minor, currency=self.currency)

    def __neg__(self) -> Money:
        return Money(amount_minor=-self.amount_minor, currency=self.currency)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        _require_same_currency(self, other)
        return self.amount_minor < other.amount_minor

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        _require_same_currency(self, other)
        return self.amount_minor <= other.amount_minor

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        _require_same_currency(self, other)
        return self.amount_minor > other.amount_minor

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Money):
            return NotImplemented
        _require_same_currency(self, other)
        return self.amount_minor >= other.amount_minor
