"""FX: the rounding rule of a conversion, the rates and their age, on the pure domain."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.fx_rates import RATES_FILE_DEFAULT, load_rates
from shared.domain.fx import (
    ExchangeRates,
    FxRateMissing,
    convert,
    customer_rate,
    parse_rate,
    rate_text,
    rates_age_days,
    reference_minor,
)
from shared.domain.ledger import (
    Account,
    AccountFlags,
    InMemoryLedger,
    Transfer,
    TransferOutcome,
    check_ledger_invariants,
)
from shared.domain.money import CURRENCY_EXPONENTS, currency_exponent

PROPERTY_SETTINGS = settings(max_examples=300)
RATES = load_rates(RATES_FILE_DEFAULT)
NOW = datetime(2026, 10, 6, 12, tzinfo=UTC)

currencies = st.sampled_from(sorted(CURRENCY_EXPONENTS))
pairs = st.tuples(currencies, currencies).filter(lambda pair: pair[0] != pair[1])
# The zero- and three-decimal currencies both ways, against each other and against cents.
odd_exponent_pairs = st.sampled_from(
    [("USD", "JPY"), ("JPY", "USD"), ("USD", "KWD"), ("KWD", "USD"), ("JPY", "KWD"),
     ("KWD", "JPY"), ("EUR", "JPY"), ("JPY", "EUR"), ("KWD", "EUR"), ("EUR", "KWD"),
     ("KRW", "BHD"), ("JOD", "KRW")]
)  # fmt: skip
amounts_minor = st.integers(min_value=1, max_value=10**12)
spreads_bps = st.integers(min_value=0, max_value=1000)
# Rates as the ECB prints them: up to 6 decimals, from far below to far above one.
rate_texts = st.builds(
    lambda whole, decimals: f"{whole}.{decimals:06d}",
    st.integers(min_value=0, max_value=20_000),
    st.integers(min_value=0, max_value=999_999),
).filter(lambda text: Fraction(text) > 0)


def _check_rounding_rule(amounts, spread_bps: int) -> None:
    scale = Fraction(10 ** currency_exponent(amounts.to_currency), 10 ** currency_exponent(amounts.from_currency))
    at_customer_rate = amounts.amount_minor * customer_rate(amounts.mid_rate, spread_bps) * scale
    # The customer gets the customer-rate amount rounded down: never more, less by under one unit.
    assert amounts.receive_minor == math.floor(at_customer_rate)
    assert 0 <= at_customer_rate - amounts.receive_minor < 1
    # What the customer receives plus the fee is the mid value rounded down: nothing is created,
    # and at most one minor unit (the sub-minor remainder) is not handed out.
    assert amounts.mid_value_minor == amounts.amount_minor * amounts.mid_rate * scale
    assert 0 <= amounts.mid_value_minor - (amounts.receive_minor + amounts.fee_minor) < 1
    assert amounts.fee_minor >= 0


@PROPERTY_SETTINGS
@given(pair=pairs, amount_minor=amounts_minor, spread_bps=spreads_bps)
def test_the_customer_gets_the_rounded_down_amount_and_the_fee_takes_spread_and_remainder(
    pair, amount_minor, spread_bps
):
    # GIVEN the packaged rates and any pair of supported currencies
    mid = RATES.mid_rate(*pair)
    # WHEN an amount is converted
    amounts = convert(amount_minor, *pair, mid_rate=mid, spread_bps=spread_bps)
    # THEN the rounding rule holds exactly
    _check_rounding_rule(amounts, spread_bps)


@PROPERTY_SETTINGS
@given(
    pair=odd_exponent_pairs,
    amount_minor=amounts_minor,
    spread_bps=spreads_bps,
    from_rate=rate_texts,
    to_rate=rate_texts,
)
def test_zero_and_three_decimal_currencies_round_by_their_own_minor_units(
    pair, amount_minor, spread_bps, from_rate, to_rate
):
    # GIVEN any rates between a yen, a dinar and the two-decimal currencies
    mid = parse_rate(to_rate) / parse_rate(from_rate)
    # WHEN converted
    amounts = convert(amount_minor, *pair, mid_rate=mid, spread_bps=spread_bps)
    # THEN the rule holds in each currency's own minor units
    _check_rounding_rule(amounts, spread_bps)


@PROPERTY_SETTINGS
@given(pair=pairs, amount_minor=amounts_minor, spread_bps=spreads_bps)
def test_a_conversion_through_the_fx_accounts_creates_and_destroys_no_minor_unit(pair, amount_minor, spread_bps):
    # GIVEN a funded wallet in the source currency and the platform's accounts in both
    source, target = pair
    amounts = convert(amount_minor, source, target, mid_rate=RATES.mid_rate(*pair), spread_bps=spread_bps)
    ledger = InMemoryLedger()
    for currency in pair:
        for kind in ("funding", "fx", "fees"):
            ledger.create_account(Account(id=f"system:{currency}:{kind}", currency=currency))
        ledger.create_account(
            Account(id=f"wallet:u:{currency}", currency=currency, flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
        )
    assert (
        ledger.create_transfer(
            Transfer(
                id="fund",
                debit_account_id=f"system:{source}:funding",
                credit_account_id=f"wallet:u:{source}",
                amount_minor=amount_minor,
                currency=source,
            ),
            NOW,
        )
        is TransferOutcome.OK
    )
    # WHEN the conversion's transfers are applied
    legs = [
        Transfer(
            id="from",
            debit_account_id=f"wallet:u:{source}",
            credit_account_id=f"system:{source}:fx",
            amount_minor=amounts.amount_minor,
            currency=source,
        ),
        Transfer(
            id="to",
            debit_account_id=f"system:{target}:fx",
            credit_account_id=f"wallet:u:{target}",
            amount_minor=amounts.receive_minor,
            currency=target,
        ),
    ]
    if amounts.fee_minor:
        legs.append(
            Transfer(
                id="fee",
                debit_account_id=f"system:{target}:fx",
                credit_account_id=f"system:{target}:fees",
                amount_minor=amounts.fee_minor,
                currency=target,
            )
        )
    outcomes = [ledger.create_transfer(leg, NOW) for leg in legs if leg.amount_minor > 0]
    # THEN every currency's books still balance and the wallets moved by exactly the amounts
    assert set(outcomes) <= {TransferOutcome.OK}
    check_ledger_invariants(ledger.accounts())
    source_wallet = ledger.account(f"wallet:u:{source}")
    target_wallet = ledger.account(f"wallet:u:{target}")
    fees = ledger.account(f"system:{target}:fees")
    assert source_wallet is not None and target_wallet is not None and fees is not None
    assert source_wallet.balance_posted == 0
    assert target_wallet.balance_posted == amounts.receive_minor
    assert fees.balance_posted == amounts.fee_minor


@PROPERTY_SETTINGS
@given(a=currencies, b=currencies, c=currencies)
def test_cross_rates_are_exact_and_consistent(a, b, c):
    # Exact fractions: going there and back is exactly one, and via a third currency is direct.
    assert RATES.mid_rate(a, b) * RATES.mid_rate(b, a) == 1
    assert RATES.mid_rate(a, b) * RATES.mid_rate(b, c) == RATES.mid_rate(a, c)


@PROPERTY_SETTINGS
@given(text=rate_texts)
def test_a_rate_is_exactly_the_decimal_it_is_written_as(text):
    whole, decimals = text.split(".")
    assert parse_rate(text) == Fraction(int(whole + decimals), 10 ** len(decimals))
    # The shown rate is the exact one rounded to 12 significant digits.
    assert abs(Fraction(rate_text(parse_rate(text))) - parse_rate(text)) <= parse_rate(text) / 10**11


def test_usd_to_jpy_and_kwd_worked_examples():
    # GIVEN the ECB rates of 2026-10-06: 1 EUR = 1.1269 USD = 178.15 JPY, and 0.307 KWD per USD
    # WHEN $100.00 is converted at a 0.5 % spread
    to_jpy = convert(10_000, "USD", "JPY", mid_rate=RATES.mid_rate("USD", "JPY"), spread_bps=50)
    to_kwd = convert(10_000, "USD", "KWD", mid_rate=RATES.mid_rate("USD", "KWD"), spread_bps=50)
    # THEN yen come in whole units and dinars in fils (thousandths)
    # 100 * 178.15 / 1.1269 = 15808.86... yen at mid; * 0.995 = 15729.81... yen to the customer
    assert (to_jpy.receive_minor, to_jpy.fee_minor) == (15_729, 79)
    # 100 * 0.307 = 30.700 KWD at mid; * 0.995 = 30.5465 KWD to the customer
    assert (to_kwd.receive_minor, to_kwd.fee_minor) == (30_546, 154)
    back = convert(30_546, "KWD", "USD", mid_rate=RATES.mid_rate("KWD", "USD"), spread_bps=50)
    # 30.546 / 0.307 = 99.498... USD at mid; * 0.995 = 99.0005... USD: the round trip costs ~1 %
    assert (back.receive_minor, back.fee_minor) == (9_900, 49)


def test_a_pegged_currency_is_derived_through_the_dollar():
    # GIVEN 1.1269 USD per EUR and the BHD peg of 0.376 per USD
    # THEN a euro is 1.1269 * 0.376 BHD, exactly
    assert RATES.per_eur()["BHD"] == Fraction("1.1269") * Fraction("0.376")
    assert RATES.mid_rate("USD", "BHD") == Fraction("0.376")
    assert RATES.is_pegged("KWD") and not RATES.is_pegged("JPY")


def test_an_unknown_currency_has_no_rate():
    with pytest.raises(FxRateMissing):
        RATES.mid_rate("USD", "XAU")


@pytest.mark.parametrize("text", [1.1, "1e3", "-1.5", "0", "0.000", " 1.2", "1,2", "", None, "1.", ".5"])
def test_a_rate_is_a_plain_positive_decimal_string(text):
    with pytest.raises(ValueError):
        parse_rate(text)


def test_rates_are_exact_fractions_of_their_decimal_text():
    assert parse_rate("0.84880") == Fraction(8488, 10000)
    assert rate_text(Fraction(1781500, 11269)) == "158.088561541"
    assert rate_text(Fraction(2)) == "2"


def test_the_age_of_rates_counts_the_pegs_only_for_pegged_currencies():
    rates = ExchangeRates(
        published_on=date(2026, 10, 6),
        source="test",
        ecb_per_eur={"USD": Fraction(11, 10)},
        pegs_per_usd={"KWD": Fraction(307, 1000)},
        pegs_reviewed_on=date(2026, 1, 1),
    )
    assert rates_age_days(rates, date(2026, 10, 9), pegged=False) == 3
    assert rates_age_days(rates, date(2026, 10, 9), pegged=True) == 281


@pytest.mark.parametrize(("amount", "spread"), [(0, 50), (-5, 50), (True, 50), (100, -1), (100, 10_000)])
def test_convert_refuses_what_cannot_be_money(amount, spread):
    with pytest.raises(ValueError):
        convert(amount, "USD", "EUR", mid_rate=Fraction(9, 10), spread_bps=spread)


def test_the_packaged_rates_file_names_its_date_and_source():
    rates = load_rates(Path(RATES_FILE_DEFAULT))
    assert rates.published_on == date(2026, 10, 6)
    assert "European Central Bank" in rates.source
    assert set(CURRENCY_EXPONENTS) <= set(rates.per_eur())


def test_amounts_are_counted_in_usd_so_a_yen_threshold_is_not_a_dollar_threshold():
    # GIVEN the packaged rates, months old: their age does not matter here
    rates = load_rates(Path(RATES_FILE_DEFAULT))
    # THEN 2,001 JPY is about 13 USD, 50,000.000 KWD about 160,000 USD, and USD is itself
    assert 1_000 <= reference_minor(2_001, "JPY", rates) <= 1_500
    assert 15_000_000 <= reference_minor(50_000_000, "KWD", rates) <= 17_000_000
    assert reference_minor(12_345, "USD", rates) == 12_345


@given(st.sampled_from(sorted(CURRENCY_EXPONENTS)), st.integers(min_value=0, max_value=10**12))
def test_reference_amounts_grow_with_the_amount_and_round_down(currency, amount_minor):
    rates = load_rates(Path(RATES_FILE_DEFAULT))
    scale = Fraction(100, 10 ** currency_exponent(currency))
    exact = amount_minor * rates.mid_rate(currency, "USD") * scale
    assert reference_minor(amount_minor, currency, rates) == math.floor(exact)
    assert reference_minor(amount_minor, currency, rates) <= reference_minor(amount_minor + 1, currency, rates)
