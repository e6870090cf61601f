"""Money: exact amounts in minor units, one currency at a time."""

import operator
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.money import (
    CURRENCY_EXPONENTS,
    Money,
    UnsupportedCurrency,
    currency_exponent,
    default_currency_for_country,
    is_supported_currency,
)

PROPERTY_SETTINGS = settings(max_examples=200)

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
# Wider than any real balance, including negatives: formatting must not care.
amounts_minor = st.integers(min_value=-(10**18), max_value=10**18)


@pytest.mark.parametrize(
    ("code", "exponent"),
    [
        ("USD", 2), ("EUR", 2), ("GBP", 2), ("CAD", 2), ("AUD", 2), ("CHF", 2), ("SEK", 2),
        ("NOK", 2), ("DKK", 2), ("PLN", 2), ("MXN", 2), ("BRL", 2), ("INR", 2), ("SGD", 2),
        ("HKD", 2), ("NZD", 2), ("ZAR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3),
        ("JOD", 3),
    ],
)  # fmt: skip
def test_each_currency_has_its_iso_4217_minor_unit_digits(code, exponent):
    # GIVEN a currency the platform holds
    # WHEN its exponent is asked for
    # THEN it is the ISO 4217 number of minor-unit digits
    assert currency_exponent(code) == exponent
    assert is_supported_currency(code)


@pytest.mark.parametrize("code", ["XXX", "usd", "", "US", "USDT", None, 840])
def test_an_unknown_currency_is_not_supported(code):
    # GIVEN a code that is not an upper-case currency the platform holds
    # WHEN it is looked up
    # THEN it is unsupported, and an UnsupportedCurrency is also a ValueError
    assert not is_supported_currency(code)
    with pytest.raises(UnsupportedCurrency):
        currency_exponent(code)
    assert issubclass(UnsupportedCurrency, ValueError)


@pytest.mark.parametrize(
    ("money", "text"),
    [
        (Money(amount_minor=1234, currency="USD"), "12.34 USD"),
        (Money(amount_minor=1000, currency="JPY"), "1000 JPY"),
        (Money(amount_minor=1500, currency="KWD"), "1.500 KWD"),
        (Money(amount_minor=-5, currency="USD"), "-0.05 USD"),
        (Money(amount_minor=0, currency="EUR"), "0.00 EUR"),
        (Money(amount_minor=7, currency="BHD"), "0.007 BHD"),
        (Money(amount_minor=-1, currency="KRW"), "-1 KRW"),
        (Money(amount_minor=100, currency="GBP"), "1.00 GBP"),
    ],
)
def test_an_amount_is_shown_in_major_units_of_its_currency(money, text):
    # GIVEN an amount in minor units
    # WHEN it is formatted
    # THEN it reads in major units with the currency's own number of decimals
    assert money.format() == text
    assert str(money) == text


@PROPERTY_SETTINGS
@given(amount_minor=amounts_minor, currency=currencies)
def test_formatting_then_parsing_gives_back_the_same_money(amount_minor, currency):
    # GIVEN any amount of any currency
    money = Money(amount_minor=amount_minor, currency=currency)
    # WHEN it is formatted and the text parsed back
    text, code = money.format().split(" ")
    parsed = Money.from_major(text, code)
    # THEN nothing is lost
    assert parsed == money


@PROPERTY_SETTINGS
@given(data=st.data(), currency=currencies)
def test_parsing_then_formatting_gives_back_the_same_text(data, currency):
    # GIVEN a canonical decimal text with exactly the currency's number of decimals
    exponent = currency_exponent(currency)
    major = data.draw(st.integers(min_value=0, max_value=10**15), label="major")
    negative = data.draw(st.booleans(), label="negative")
    text = f"{'-' if negative and major else ''}{major}"
    if exponent:
        minor = data.draw(st.integers(min_value=0, max_value=10**exponent - 1), label="minor")
        text = f"{'-' if negative and (major or minor) else ''}{major}.{minor:0{exponent}d}"
    # WHEN it is parsed and formatted again
    formatted = Money.from_major(text, currency).format()
    # THEN the text comes back unchanged
    assert formatted == f"{text} {currency}"


@pytest.mark.parametrize(
    ("text", "currency", "amount_minor"),
    [
        ("12.34", "USD", 1234),
        ("12.3", "USD", 1230),
        ("12", "USD", 1200),
        ("+1.5", "EUR", 150),
        ("-0.05", "USD", -5),
        ("1000", "JPY", 1000),
        ("1.5", "KWD", 1500),
        ("0.001", "BHD", 1),
        ("007.10", "GBP", 710),
    ],
)
def test_a_decimal_text_is_parsed_exactly(text, currency, amount_minor):
    # GIVEN a plain decimal text in major units
    # WHEN it is parsed
    money = Money.from_major(text, currency)
    # THEN it is exactly the expected number of minor units
    assert money == Money(amount_minor=amount_minor, currency=currency)


@pytest.mark.parametrize(
    ("text", "currency"),
    [("0.001", "USD"), ("12.345", "EUR"), ("1.5", "JPY"), ("1.0", "KRW"), ("0.0001", "KWD")],
)
def test_more_decimals_than_the_currency_has_are_rejected(text, currency):
    # GIVEN a text with more decimals than the currency's minor unit
    # WHEN it is parsed
    # THEN it is refused rather than rounded
    with pytest.raises(ValueError, match="decimal place"):
        Money.from_major(text, currency)


@pytest.mark.parametrize(
    "text", ["", " 1.00", "1.00 ", "1e3", "1E+2", "1,000.00", ".50", "5.", "NaN", "Infinity", "--1"]
)
def test_text_that_is_not_a_plain_decimal_is_rejected(text):
    # GIVEN text that is not plain decimal notation
    # WHEN it is parsed
    # THEN it is refused
    with pytest.raises(ValueError):
        Money.from_major(text, "USD")


def test_parsing_needs_a_supported_currency_and_a_string():
    # GIVEN good text with an unknown currency, and a float instead of text
    # WHEN each is parsed
    # THEN the currency is unsupported and the float is a type error
    with pytest.raises(UnsupportedCurrency):
        Money.from_major("1.00", "XYZ")
    with pytest.raises(TypeError):
        Money.from_major(1.5, "USD")  # type: ignore[arg-type]


@pytest.mark.parametrize("amount", [12.34, 1.0, True, False, Decimal("1"), "100", None])
def test_an_amount_must_be_an_integer_of_minor_units(amount):
    # GIVEN an amount that is not a plain int (bool included: it is an int subclass)
    # WHEN Money is built from it
    # THEN it is a type error
    with pytest.raises(TypeError):
        Money(amount_minor=amount, currency="USD")


def test_money_in_an_unknown_currency_cannot_exist():
    # GIVEN a currency the platform does not hold
    # WHEN Money is built in it
    # THEN it is refused
    with pytest.raises(UnsupportedCurrency):
        Money(amount_minor=100, currency="XTS")


@pytest.mark.parametrize(
    "combine",
    [operator.add, operator.sub, operator.lt, operator.le, operator.gt, operator.ge],
)
def test_arithmetic_and_ordering_reject_mixed_currencies(combine):
    # GIVEN dollars and euros
    dollars = Money(amount_minor=100, currency="USD")
    euros = Money(amount_minor=100, currency="EUR")
    # WHEN they are combined or ordered
    # THEN it is refused: there is no rate-free answer
    with pytest.raises(ValueError, match="cannot combine"):
        combine(dollars, euros)


def test_money_of_different_currencies_is_never_equal():
    # GIVEN the same number of minor units in two currencies
    # WHEN they are compared for equality
    # THEN they differ
    assert Money(amount_minor=100, currency="USD") != Money(amount_minor=100, currency="EUR")


@PROPERTY_SETTINGS
@given(a=amounts_minor, b=amounts_minor, currency=currencies)
def test_arithmetic_in_one_currency_is_integer_arithmetic(a, b, currency):
    # GIVEN two amounts of one currency
    left = Money(amount_minor=a, currency=currency)
    right = Money(amount_minor=b, currency=currency)
    # WHEN they are added, subtracted, negated and ordered
    # THEN the results are exactly those of their minor units
    assert left + right == Money(amount_minor=a + b, currency=currency)
    assert left - right == Money(amount_minor=a - b, currency=currency)
    assert (left + right) - right == left
    negated = -left
    assert -negated == left
    assert (left < right) == (a < b)
    assert (left <= right) == (a <= b)
    assert (left > right) == (a > b)
    assert (left >= right) == (a >= b)


def test_money_is_an_immutable_value():
    # GIVEN an amount
    money = Money(amount_minor=100, currency="USD")
    # WHEN someone tries to change it
    # THEN it refuses, and equal amounts hash alike
    with pytest.raises(AttributeError):
        money.amount_minor = 200  # type: ignore[misc]
    assert hash(money) == hash(Money(amount_minor=100, currency="USD"))
    assert Money.zero("JPY") == Money(amount_minor=0, currency="JPY")


def test_money_does_not_combine_with_plain_numbers():
    # GIVEN an amount
    money = Money(amount_minor=100, currency="USD")
    # WHEN a bare number is added
    # THEN it is a type error: a number without a currency is not money
    with pytest.raises(TypeError):
        money + 1  # noqa: B018 - the addition itself must raise
    with pytest.raises(TypeError):
        money < 1  # noqa: B015 - the comparison itself must raise


@pytest.mark.parametrize(
    ("country", "currency"),
    [
        ("US", "USD"), ("GB", "GBP"), ("JP", "JPY"), ("KW", "KWD"), ("CA", "CAD"), ("AU", "AUD"),
        ("CH", "CHF"), ("SE", "SEK"), ("NO", "NOK"), ("DK", "DKK"), ("PL", "PLN"), ("MX", "MXN"),
        ("BR", "BRL"), ("IN", "INR"), ("SG", "SGD"), ("HK", "HKD"), ("NZ", "NZD"), ("ZA", "ZAR"),
        ("KR", "KRW"), ("BH", "BHD"), ("JO", "JOD"),
        ("DE", "EUR"), ("FR", "EUR"), ("IT", "EUR"), ("ES", "EUR"), ("NL", "EUR"), ("IE", "EUR"),
        ("HR", "EUR"), ("BG", "EUR"), ("FI", "EUR"), ("GR", "EUR"), ("MC", "EUR"),
        ("de", "EUR"), ("CN", "USD"), ("AR", "USD"), ("ZZ", "USD"), ("", "USD"),
    ],
)  # fmt: skip
def test_a_new_user_starts_in_the_currency_of_their_country(country, currency):
    # GIVEN a country code
    # WHEN the default currency is asked for
    # THEN it is the local currency when supported, US dollars otherwise
    assert default_currency_for_country(country) == currency


@PROPERTY_SETTINGS
@given(country=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2))
def test_every_country_defaults_to_a_supported_currency(country):
    # GIVEN any two-letter code
    # WHEN the default currency is asked for
    # THEN the platform can hold it
    assert is_supported_currency(default_currency_for_country(country))
