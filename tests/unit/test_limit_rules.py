"""The limits of a KYC level: which limit a payment or withdrawal passes, what remains, and
whether an admin's change keeps a level's limits together."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.api import KYC_LEVELS, LIMIT_NAMES
from shared.domain.kyc import KycLevel
from shared.domain.limits import (
    DEFAULT_LIMITS_USD_MINOR,
    LIMIT_AMOUNT_USD_MINOR_MAX,
    PAYMENT_LIMITS,
    LevelLimits,
    LimitName,
    check_level_limits,
    first_exceeded,
    usage,
)

NONE = LevelLimits.default(KycLevel.NONE)
amounts = st.integers(0, 10**9)
used_volumes = st.fixed_dictionaries({name: amounts for name in LimitName if name.window_seconds is not None})


def test_the_defaults_are_the_published_table():
    table = {
        level: (limits[LimitName.SINGLE_PAYMENT], limits[LimitName.SENT_30D])
        for level, limits in DEFAULT_LIMITS_USD_MINOR.items()
    }
    assert table == {
        KycLevel.NONE: (5_000_00, 10_000_00),
        KycLevel.BASIC: (10_000_00, 25_000_00),
        KycLevel.VERIFIED: (50_000_00, 250_000_00),
    }
    for limits in DEFAULT_LIMITS_USD_MINOR.values():
        assert check_level_limits(limits) is None


def test_the_migration_seeds_exactly_the_defaults():
    path = Path(__file__).parents[2] / "shared/migrations/versions/0011_limits.py"
    spec = importlib.util.spec_from_file_location("migration_0011", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    seeded = {(level, name): amount for level, name, amount in migration.SEEDED_LIMITS}
    assert seeded == {
        (level.value, name.value): amount
        for level, limits in DEFAULT_LIMITS_USD_MINOR.items()
        for name, amount in limits.items()
    }


def test_the_contract_names_the_domains_levels_and_limits():
    assert set(KYC_LEVELS) == {level.value for level in KycLevel}
    assert set(LIMIT_NAMES) == {name.value for name in LimitName}


def test_a_payment_may_reach_a_limit_exactly_but_not_pass_it_by_a_cent():
    nothing_used = {LimitName.SENT_24H: 0, LimitName.SENT_30D: 0}
    assert first_exceeded(5_000_00, nothing_used, NONE, PAYMENT_LIMITS) is None
    assert first_exceeded(5_000_01, nothing_used, NONE, PAYMENT_LIMITS) is LimitName.SINGLE_PAYMENT
    # 7,000.00 sent today: 500.00 more reaches the day's 7,500.00, a cent more passes it.
    today = {LimitName.SENT_24H: 7_000_00, LimitName.SENT_30D: 7_000_00}
    assert first_exceeded(500_00, today, NONE, PAYMENT_LIMITS) is None
    assert first_exceeded(500_01, today, NONE, PAYMENT_LIMITS) is LimitName.SENT_24H
    # 9,900.00 this month, none of it today: the month's 10,000.00 stops 100.01.
    month = {LimitName.SENT_24H: 0, LimitName.SENT_30D: 9_900_00}
    assert first_exceeded(100_01, month, NONE, PAYMENT_LIMITS) is LimitName.SENT_30D


@given(amount=amounts, used=used_volumes, level=st.sampled_from(list(KycLevel)))
def test_the_first_limit_named_is_one_the_payment_passes_and_none_before_it_is(amount, used, level):
    limits = LevelLimits.default(level)
    exceeded = first_exceeded(amount, used, limits, PAYMENT_LIMITS)

    def passes(name: LimitName) -> bool:
        already = 0 if name.window_seconds is None else used[name]
        return already + amount > limits.amount(name)

    if exceeded is None:
        assert not any(passes(name) for name in PAYMENT_LIMITS)
    else:
        assert passes(exceeded)
        assert not any(passes(name) for name in PAYMENT_LIMITS[: PAYMENT_LIMITS.index(exceeded)])


@given(amount=amounts, more=st.integers(1, 10**6), used=used_volumes)
def test_a_larger_payment_or_more_volume_never_turns_a_refusal_into_an_acceptance(amount, more, used):
    refused = first_exceeded(amount, used, NONE, PAYMENT_LIMITS) is not None
    if refused:
        assert first_exceeded(amount + more, used, NONE, PAYMENT_LIMITS) is not None
        busier = {name: volume + more for name, volume in used.items()}
        assert first_exceeded(amount, busier, NONE, PAYMENT_LIMITS) is not None


@given(payments=st.lists(st.integers(1, 3_000_00), max_size=30))
def test_payments_accepted_one_after_another_never_sum_past_a_windowed_limit(payments):
    # Each payment is checked against the sum of those accepted before it, as the saga does
    # under the payer's lock: whatever the sequence, what was accepted stays within the limits.
    accepted: list[int] = []
    for amount in payments:
        used = {LimitName.SENT_24H: sum(accepted), LimitName.SENT_30D: sum(accepted)}
        if first_exceeded(amount, used, NONE, PAYMENT_LIMITS) is None:
            accepted.append(amount)
    assert sum(accepted) <= NONE.amount(LimitName.SENT_24H)
    assert all(amount <= NONE.amount(LimitName.SINGLE_PAYMENT) for amount in accepted)


@given(used=used_volumes)
def test_what_remains_is_the_limit_less_what_was_used_and_never_negative(used):
    for item in usage(NONE, used):
        assert item.amount_usd_minor == NONE.amount(item.name)
        if item.name is LimitName.SINGLE_PAYMENT:
            assert item.used_usd_minor is None and item.remaining_usd_minor == item.amount_usd_minor
        else:
            assert item.used_usd_minor == used[item.name]
            assert item.remaining_usd_minor == max(0, item.amount_usd_minor - used[item.name])
    assert [item.name for item in usage(NONE, used)] == list(LimitName)


def test_an_amount_is_never_negative():
    with pytest.raises(ValueError):
        first_exceeded(-1, {}, NONE, (LimitName.SINGLE_PAYMENT,))


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({LimitName.SINGLE_PAYMENT: 0}, "single_payment must be a whole number of cents"),
        ({LimitName.WITHDRAWAL_24H: LIMIT_AMOUNT_USD_MINOR_MAX + 1}, "withdrawal_24h must be"),
        ({LimitName.SINGLE_PAYMENT: 7_500_01}, "single_payment must be at most sent_24h"),
        ({LimitName.SENT_30D: 7_499_99}, "at most sent_30d"),
        ({LimitName.SENT_24H: 4_999_99}, "single_payment must be at most sent_24h"),
    ],
)
def test_a_change_that_breaks_a_levels_order_or_bounds_is_refused(change, problem):
    problem_found = check_level_limits({**NONE.amounts_usd_minor, **change})
    assert problem_found is not None and problem in problem_found


@given(
    single=st.integers(1, LIMIT_AMOUNT_USD_MINOR_MAX),
    day=st.integers(1, LIMIT_AMOUNT_USD_MINOR_MAX),
    month=st.integers(1, LIMIT_AMOUNT_USD_MINOR_MAX),
)
def test_a_level_is_accepted_exactly_when_its_payment_limits_are_ordered(single, day, month):
    amounts = {**NONE.amounts_usd_minor, LimitName.SINGLE_PAYMENT: single, LimitName.SENT_24H: day}
    amounts[LimitName.SENT_30D] = month
    assert (check_level_limits(amounts) is None) == (single <= day <= month)


def test_a_level_lacking_a_limit_is_a_bug():
    with pytest.raises(ValueError, match="lacks limits"):
        LevelLimits(KycLevel.BASIC, {LimitName.SINGLE_PAYMENT: 1})
