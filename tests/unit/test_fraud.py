"""Fraud rules: hard limits in US dollars, weighted weak signals, decline over review over approve."""

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.adapters.fx_rates import RATES_FILE_DEFAULT, load_rates
from shared.domain.fraud import (
    HARD_REASONS,
    ROUTINE_REVIEW_REASON,
    SCORE_BANDS,
    WEIGHTED_REASONS,
    FraudDecision,
    FraudRules,
    PaymentFacts,
    ReasonCode,
    assess,
    country_change,
    fan_in,
    first_payment_to_payee,
    is_round_amount,
    payee_under_review,
    round_amount_burst,
    young_account,
)
from shared.domain.fx import reference_minor
from shared.domain.money import CURRENCY_EXPONENTS, Money

RULES = FraudRules()
RATES = load_rates(RATES_FILE_DEFAULT)
OLD_SECONDS = 365 * 86400
PROPERTY_SETTINGS = settings(max_examples=200)


def facts(text: str = "5.00", currency: str = "USD", **changes) -> PaymentFacts:
    """An established payer paying a payee they know, in their own country, unless changed."""
    amount = Money.from_major(text, currency)
    return PaymentFacts(
        amount=amount, amount_usd_minor=reference_minor(amount.amount_minor, currency, RATES), **changes
    )


def usd(dollars: str, **changes) -> PaymentFacts:
    return facts(dollars, "USD", **changes)


# --- the hard limits, in US dollars -------------------------------------------------------------


@pytest.mark.parametrize(("at", "above"), [("10000.00", "10000.01")])
def test_an_amount_at_the_review_limit_is_approved_and_one_cent_more_is_reviewed(at, above):
    # GIVEN an established payer
    # WHEN they pay exactly the review limit, then one cent more
    at_limit = assess(usd(at), RULES)
    over_limit = assess(usd(above), RULES)
    # THEN the limit itself passes and anything above it goes to review
    assert at_limit.decision is FraudDecision.APPROVE
    assert at_limit.reasons == ()
    assert over_limit.decision is FraudDecision.REVIEW
    assert over_limit.reasons == (ReasonCode.AMOUNT_OVER_REVIEW_LIMIT,)


def test_an_amount_at_the_decline_limit_is_reviewed_and_one_cent_more_is_declined():
    at_limit = assess(usd("50000.00"), RULES)
    over_limit = assess(usd("50000.01"), RULES)
    assert at_limit.decision is FraudDecision.REVIEW
    assert over_limit.decision is FraudDecision.DECLINE
    assert over_limit.reasons == (ReasonCode.AMOUNT_OVER_REVIEW_LIMIT, ReasonCode.AMOUNT_OVER_DECLINE_LIMIT)


def test_limits_count_in_us_dollars_whatever_the_currency():
    # GIVEN a brand-new account (under a day), on its first payment to a new payee
    new = {"account_age_seconds": 60, "paid_payee_before": False}
    # WHEN it pays 2,001 JPY (about 13 USD) and 50,000 KWD (about 160,000 USD)
    yen = assess(facts("2001", "JPY", **new), RULES)
    dinar = assess(facts("50000.000", "KWD", **new), RULES)
    # THEN the yen are small and approved, the dinars large and declined
    assert yen.decision is FraudDecision.APPROVE
    assert not set(yen.reasons) & set(HARD_REASONS)
    assert dinar.decision is FraudDecision.DECLINE
    assert {ReasonCode.AMOUNT_OVER_DECLINE_LIMIT, ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT} <= set(dinar.reasons)


def test_an_old_rates_file_still_scores():
    # GIVEN the packaged rates, of a past day: staleness only stops quotes, never scoring
    # WHEN 10,001 USD worth of euros is converted for a threshold
    euros = Money.from_major("9500.00", "EUR")
    # THEN the reference amount is whatever those rates give
    assert reference_minor(euros.amount_minor, "EUR", RATES) > 0


@pytest.mark.parametrize(
    ("payments_in_window", "decision", "reasons"),
    [
        (1, FraudDecision.APPROVE, ()),
        (40, FraudDecision.APPROVE, ()),
        (41, FraudDecision.REVIEW, (ReasonCode.VELOCITY_OVER_REVIEW_LIMIT,)),
        (100, FraudDecision.REVIEW, (ReasonCode.VELOCITY_OVER_REVIEW_LIMIT,)),
        (101, FraudDecision.DECLINE,
         (ReasonCode.VELOCITY_OVER_REVIEW_LIMIT, ReasonCode.VELOCITY_OVER_DECLINE_LIMIT)),
    ],
)  # fmt: skip
def test_many_payments_in_the_window_are_reviewed_then_declined(payments_in_window, decision, reasons):
    assessment = assess(usd("5.00", payments_in_window=payments_in_window), RULES)
    assert assessment.decision is decision
    assert assessment.reasons == reasons


@pytest.mark.parametrize(("at", "above"), [("2000.00", "2000.01")])
def test_a_new_account_sending_more_than_2000_usd_is_reviewed(at, above):
    # GIVEN a payer whose account is one second short of a day old, paying a payee they know
    young = RULES.new_account_seconds - 1
    # WHEN they pay the new-account limit, then one cent more
    at_limit = assess(usd(at, account_age_seconds=young), RULES)
    over_limit = assess(usd(above, account_age_seconds=young), RULES)
    # THEN only the amount above the limit is reviewed (the young account alone adds points only)
    assert at_limit.decision is FraudDecision.APPROVE
    assert at_limit.reasons == (ReasonCode.YOUNG_ACCOUNT,)
    assert over_limit.decision is FraudDecision.REVIEW
    assert over_limit.reasons == (ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT, ReasonCode.YOUNG_ACCOUNT)
    assert over_limit.review_reason == "new_account"


def test_a_negative_account_age_counts_as_brand_new():
    assessment = assess(usd("2000.01", account_age_seconds=-5), RULES)
    assert ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT in assessment.reasons


def test_a_payer_whose_velocity_cannot_be_counted_is_held_never_approved_blind():
    small = assess(usd("5.00", payments_in_window=None), RULES)
    assert small.decision is FraudDecision.REVIEW
    assert small.reasons == (ReasonCode.VELOCITY_UNKNOWN,)
    assert assess(usd("60000.00", payments_in_window=None), RULES).decision is FraudDecision.DECLINE


def test_a_sanctioned_or_frozen_payee_holds_any_amount():
    # GIVEN a payee on the sanctions list, and a frozen payee
    # WHEN one cent is paid to each
    sanctioned = assess(usd("0.01", sanctions_match=True), RULES)
    frozen = assess(usd("0.01", payee_frozen=True), RULES)
    # THEN both are held, each with its own reason code and a coarse category for the payer
    assert (sanctioned.decision, sanctioned.reasons) == (FraudDecision.REVIEW, (ReasonCode.SANCTIONS_MATCH,))
    assert sanctioned.review_reason == "compliance_check"
    assert (frozen.decision, frozen.reasons) == (FraudDecision.REVIEW, (ReasonCode.PAYEE_FROZEN,))


@pytest.mark.parametrize(
    "changes",
    [
        {"review_above_usd": 60_000},
        {"velocity_review_above": 101},
        {"decline_above_usd": 0, "review_above_usd": 0},
        {"velocity_window_seconds": -1},
        {"new_account_seconds": 1.5},
        {"review_points": 0},
        {"round_amount_major": 0},
    ],
)
def test_inconsistent_rules_cannot_be_built(changes):
    with pytest.raises(ValueError):
        FraudRules(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": Money(0, "USD")},
        {"amount": Money(-100, "USD")},
        {"payments_in_window": 0},
        {"payee_payers_in_window": 0},
        {"amount_usd_minor": -1},
    ],
)
def test_a_payment_that_cannot_exist_is_not_scored(changes):
    # GIVEN a non-positive amount, or a count that leaves out the payment itself
    # THEN building its facts is a bug upstream
    with pytest.raises(ValueError):
        PaymentFacts(**{"amount": Money(100, "USD"), "amount_usd_minor": 100, **changes})


# --- each weighted rule alone ---------------------------------------------------------------------


def test_first_payment_to_payee_fires_only_for_a_payee_never_paid():
    assert first_payment_to_payee(usd("10.00", paid_payee_before=False), RULES)
    assert not first_payment_to_payee(usd("10.00", paid_payee_before=True), RULES)


@given(payers=st.integers(min_value=1, max_value=500), payee_age=st.integers(min_value=-100, max_value=30 * 86400))
def test_fan_in_fires_for_many_payers_of_a_young_payee_only(payers, payee_age):
    fired = fan_in(usd("10.00", payee_payers_in_window=payers, payee_age_seconds=payee_age), RULES)
    assert fired == (payers > RULES.fan_in_payers_above and payee_age < RULES.fan_in_payee_age_seconds)


@given(
    currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)),
    hundreds=st.integers(min_value=1, max_value=10_000),
    extra_minor=st.integers(min_value=1, max_value=99),
)
def test_a_round_amount_is_a_whole_multiple_of_the_round_unit_in_its_own_currency(currency, hundreds, extra_minor):
    unit_minor = RULES.round_amount_major * 10 ** CURRENCY_EXPONENTS[currency]
    assert is_round_amount(Money(hundreds * unit_minor, currency), RULES.round_amount_major)
    assert not is_round_amount(Money(hundreds * unit_minor + extra_minor, currency), RULES.round_amount_major)


@pytest.mark.parametrize(
    ("amount", "earlier_round", "fires"),
    [("500.00", 2, True), ("500.00", 1, False), ("512.30", 5, False), ("1000.00", 0, False)],
)
def test_a_round_amount_burst_needs_this_payment_round_and_earlier_round_ones(amount, earlier_round, fires):
    assert round_amount_burst(usd(amount, round_payments_in_window=earlier_round), RULES) is fires


@given(age=st.integers(min_value=-10, max_value=30 * 86400))
def test_a_young_account_is_younger_than_the_threshold(age):
    assert young_account(usd("1.00", account_age_seconds=age), RULES) == (age < RULES.young_account_seconds)


def test_a_payee_under_review_is_a_signal():
    assert payee_under_review(usd("1.00", payee_under_review=True), RULES)
    assert not payee_under_review(usd("1.00"), RULES)


@pytest.mark.parametrize(
    ("prior", "payee_country", "seen", "fires"),
    [
        (5, "FR", False, True),  # a history, a new country
        (5, "FR", True, False),  # paid into France before
        (5, "US", False, False),  # the payer's own country
        (1, "FR", False, False),  # too little history to differ from
    ],
)
def test_a_country_change_needs_a_history_to_differ_from(prior, payee_country, seen, fires):
    changed = usd(
        "10.00",
        payer_country="US",
        payee_country=payee_country,
        payer_prior_payments=prior,
        payee_country_paid_before=seen,
    )
    assert country_change(changed, RULES) is fires


# --- the weighting ---------------------------------------------------------------------------------


def test_every_new_users_ordinary_first_payment_is_approved():
    # GIVEN a brand-new account paying a brand-new payee it never paid, a small amount
    first = usd("25.00", account_age_seconds=5, payee_age_seconds=5, paid_payee_before=False)
    # WHEN it is assessed
    assessment = assess(first, RULES)
    # THEN the two weak signals are listed but do not hold it
    assert assessment.decision is FraudDecision.APPROVE
    assert assessment.reasons == (ReasonCode.FIRST_PAYMENT_TO_PAYEE, ReasonCode.YOUNG_ACCOUNT)
    assert assessment.points < RULES.review_points


def test_signals_that_add_up_hold_the_payment():
    # GIVEN a payer who never paid this payee, one of many payers of a day-old payee
    mule = usd("300.00", paid_payee_before=False, payee_age_seconds=86400, payee_payers_in_window=12)
    # WHEN it is assessed
    assessment = assess(mule, RULES)
    # THEN the points reach the review threshold and the payment is held
    assert assessment.decision is FraudDecision.REVIEW
    assert assessment.points == RULES.first_payee_points + RULES.fan_in_points
    assert assessment.review_reason == "new_payee"
    assert SCORE_BANDS[FraudDecision.REVIEW][0] <= assessment.score <= SCORE_BANDS[FraudDecision.REVIEW][1]


def test_points_hold_nothing_under_the_floor():
    # GIVEN the same signals on a payment under points_floor_usd
    tiny = usd("0.50", paid_payee_before=False, payee_age_seconds=60, payee_payers_in_window=50, account_age_seconds=60)
    # THEN it is approved: a hold would cost more than the payment risks
    assert assess(tiny, RULES).decision is FraudDecision.APPROVE
    assert assess(replace(tiny, amount_usd_minor=RULES.points_floor_usd * 100), RULES).decision is FraudDecision.REVIEW


def test_weights_come_from_the_rules_passed_in():
    first = usd("100.00", paid_payee_before=False)
    assert assess(first, RULES).decision is FraudDecision.APPROVE
    assert assess(first, replace(RULES, first_payee_points=RULES.review_points)).decision is FraudDecision.REVIEW


def test_every_reason_is_hard_or_weighted_and_has_a_payer_category():
    assert set(HARD_REASONS) | set(WEIGHTED_REASONS) == set(ReasonCode)
    assert not set(HARD_REASONS) & set(WEIGHTED_REASONS)
    assert set(WEIGHTED_REASONS.values()) <= set(FraudRules.field_names())


# --- properties ------------------------------------------------------------------------------------

payments = st.fixed_dictionaries(
    {
        "amount_usd_minor": st.integers(min_value=1, max_value=10**8),
        "payments_in_window": st.integers(min_value=1, max_value=300),
        "account_age_seconds": st.integers(min_value=0, max_value=30 * 86400),
        "paid_payee_before": st.booleans(),
        "payee_payers_in_window": st.integers(min_value=1, max_value=40),
        "payee_age_seconds": st.integers(min_value=0, max_value=30 * 86400),
        "round_payments_in_window": st.integers(min_value=0, max_value=5),
        "payee_under_review": st.booleans(),
        "payee_country": st.sampled_from(["US", "FR"]),
        "payer_prior_payments": st.integers(min_value=0, max_value=10),
        "payee_country_paid_before": st.booleans(),
    }
)


def _assess(payment, *, usd_bonus: int = 0, extra_payments: int = 0):
    amount_usd_minor = payment["amount_usd_minor"] + usd_bonus
    signals = {name: value for name, value in payment.items() if name != "amount_usd_minor"}
    signals["payments_in_window"] += extra_payments
    return assess(
        PaymentFacts(amount=Money(amount_usd_minor, "USD"), amount_usd_minor=amount_usd_minor, **signals), RULES
    )


@PROPERTY_SETTINGS
@given(payment=payments)
def test_the_score_lies_in_the_band_of_the_decision(payment):
    assessment = _assess(payment)
    low, high = SCORE_BANDS[assessment.decision]
    assert low <= assessment.score <= high
    order = list(ReasonCode)
    assert list(assessment.reasons) == sorted(assessment.reasons, key=order.index)
    hard = [reason for reason in assessment.reasons if reason in HARD_REASONS]
    held_by_points = (
        assessment.points >= RULES.review_points and payment["amount_usd_minor"] >= 100 * RULES.points_floor_usd
    )
    assert (assessment.decision is FraudDecision.APPROVE) == (not hard and not held_by_points)


@PROPERTY_SETTINGS
@given(
    payment=payments,
    usd_bonus=st.integers(min_value=0, max_value=10**8),
    extra_payments=st.integers(min_value=0, max_value=100),
)
def test_a_larger_or_more_frequent_payment_never_looks_safer(payment, usd_bonus, extra_payments):
    # GIVEN the same signals (a round amount is one: a larger amount may not be round)
    payment = {**payment, "round_payments_in_window": 0}
    severity = list(FraudDecision)
    base = _assess(payment)
    riskier = _assess(payment, usd_bonus=usd_bonus, extra_payments=extra_payments)
    assert severity.index(riskier.decision) >= severity.index(base.decision)
    assert riskier.score >= base.score
    hard_base = {reason for reason in base.reasons if reason in HARD_REASONS}
    assert hard_base <= set(riskier.reasons)


@PROPERTY_SETTINGS
@given(payment=payments)
def test_the_same_payment_is_always_assessed_alike(payment):
    assert _assess(payment) == _assess(payment)


def test_the_payer_is_told_a_category_never_the_rule_or_its_threshold():
    held = assess(usd("3000.00", account_age_seconds=60), RULES)
    assert held.review_reason == "new_account"
    assert assess(usd("1.00"), RULES).review_reason == ROUTINE_REVIEW_REASON
