"""Fraud rules: approve, hold for review, or decline a payment before any money moves.

Two kinds of rule, each a pure function of the payment's facts (`PaymentFacts`) and the
thresholds (`FraudRules`), each with its own reason code:

- Hard rules decide on their own. An amount over the review or decline limit, a payer over the
  velocity limits, a new account (under a day) sending more than 2,000 USD, a velocity that
  could not be counted, a payee whose account is frozen, and a payee who matches the sanctions
  list.
- Weighted rules are weak signals that add points: a first payment to this payee, many payers
  paying one new payee in a short window (fan-in), a burst of round amounts, a young payer
  account, a payee under review, and a payee in a country the payer has never paid. One signal
  alone never holds a payment; the payment is held when its points reach `review_points`, and
  only from `points_floor_usd` up: under that amount a hold would cost a reviewer more than the
  payment risks. So every new user's first small payment, to someone they never paid, passes.

Every amount is counted in US dollars (the caller converts the payment with the platform's
newest FX rates, whatever their age): 2,001 JPY is about 13 USD, 50,000 KWD about 160,000 USD.

The decision is the most severe one a fired rule asks for: DECLINE beats REVIEW beats APPROVE.
The score (0-100) lies in the decision's band (APPROVE 0-49, REVIEW 50-79, DECLINE 80-100) and
grows, within it, with how close the payment comes to the decline limits and with its points.
It is deterministic and, for the same signals, never lowers when the amount or the payment count
grows.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

from shared.domain.money import Money

__all__ = [
    "FraudAssessment",
    "FraudDecision",
    "FraudRules",
    "HARD_REASONS",
    "PaymentFacts",
    "REVIEW_REASON_FOR_REASON",
    "ROUTINE_REVIEW_REASON",
    "ReasonCode",
    "SCORE_BANDS",
    "WEIGHTED_REASONS",
    "assess",
    "country_change",
    "fan_in",
    "first_payment_to_payee",
    "is_round_amount",
    "payee_frozen",
    "payee_under_review",
    "round_amount_burst",
    "sanctions_match",
    "young_account",
]

USD_CENTS = 100


class FraudDecision(str, enum.Enum):
    """What happens to the payment next."""

    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


class ReasonCode(str, enum.Enum):
    """A rule that fired. Listed in assessments in this declaration order: hard rules first."""

    AMOUNT_OVER_REVIEW_LIMIT = "amount_over_review_limit"
    AMOUNT_OVER_DECLINE_LIMIT = "amount_over_decline_limit"
    VELOCITY_OVER_REVIEW_LIMIT = "velocity_over_review_limit"
    VELOCITY_OVER_DECLINE_LIMIT = "velocity_over_decline_limit"
    NEW_ACCOUNT_LARGE_AMOUNT = "new_account_large_amount"
    # The payer's velocity could not be counted (the cache is down): never approve blind.
    VELOCITY_UNKNOWN = "velocity_unknown"
    SANCTIONS_MATCH = "sanctions_match"
    PAYEE_FROZEN = "payee_frozen"
    # Weighted: each adds its points.
    FIRST_PAYMENT_TO_PAYEE = "first_payment_to_payee"
    PAYEE_FAN_IN = "payee_fan_in"
    ROUND_AMOUNT_BURST = "round_amount_burst"
    YOUNG_ACCOUNT = "young_account"
    PAYEE_UNDER_REVIEW = "payee_under_review"
    COUNTRY_CHANGE = "country_change"


# What the payer is told about a hold: a coarse category, never the rule or its threshold.
# Operators see the reason codes themselves.
REVIEW_REASON_FOR_REASON: Mapping[ReasonCode, str] = MappingProxyType(
    {
        ReasonCode.AMOUNT_OVER_REVIEW_LIMIT: "unusual_amount",
        ReasonCode.AMOUNT_OVER_DECLINE_LIMIT: "unusual_amount",
        ReasonCode.VELOCITY_OVER_REVIEW_LIMIT: "unusual_activity",
        ReasonCode.VELOCITY_OVER_DECLINE_LIMIT: "unusual_activity",
        ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT: "new_account",
        ReasonCode.VELOCITY_UNKNOWN: "routine_check",
        ReasonCode.SANCTIONS_MATCH: "compliance_check",
        ReasonCode.PAYEE_FROZEN: "payee_check",
        ReasonCode.FIRST_PAYMENT_TO_PAYEE: "new_payee",
        ReasonCode.PAYEE_FAN_IN: "payee_check",
        ReasonCode.ROUND_AMOUNT_BURST: "unusual_activity",
        ReasonCode.YOUNG_ACCOUNT: "new_account",
        ReasonCode.PAYEE_UNDER_REVIEW: "payee_check",
        ReasonCode.COUNTRY_CHANGE: "unusual_location",
    }
)
# When no rule names a category: the payer-facing reason of a review is generic.
ROUTINE_REVIEW_REASON = "routine_check"

# The hard rules and the decision each asks for.
HARD_REASONS: Mapping[ReasonCode, FraudDecision] = MappingProxyType(
    {
        ReasonCode.AMOUNT_OVER_REVIEW_LIMIT: FraudDecision.REVIEW,
        ReasonCode.AMOUNT_OVER_DECLINE_LIMIT: FraudDecision.DECLINE,
        ReasonCode.VELOCITY_OVER_REVIEW_LIMIT: FraudDecision.REVIEW,
        ReasonCode.VELOCITY_OVER_DECLINE_LIMIT: FraudDecision.DECLINE,
        ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT: FraudDecision.REVIEW,
        ReasonCode.VELOCITY_UNKNOWN: FraudDecision.REVIEW,
        ReasonCode.SANCTIONS_MATCH: FraudDecision.REVIEW,
        ReasonCode.PAYEE_FROZEN: FraudDecision.REVIEW,
    }
)
# The weighted rules and the FraudRules field that holds each one's points.
WEIGHTED_REASONS: Mapping[ReasonCode, str] = MappingProxyType(
    {
        ReasonCode.FIRST_PAYMENT_TO_PAYEE: "first_payee_points",
        ReasonCode.PAYEE_FAN_IN: "fan_in_points",
        ReasonCode.ROUND_AMOUNT_BURST: "round_burst_points",
        ReasonCode.YOUNG_ACCOUNT: "young_account_points",
        ReasonCode.PAYEE_UNDER_REVIEW: "payee_under_review_points",
        ReasonCode.COUNTRY_CHANGE: "country_change_points",
    }
)

_SEVERITY = {FraudDecision.APPROVE: 0, FraudDecision.REVIEW: 1, FraudDecision.DECLINE: 2}

# Inclusive score range of each decision.
SCORE_BANDS: Mapping[FraudDecision, tuple[int, int]] = MappingProxyType(
    {
        FraudDecision.APPROVE: (0, 49),
        FraudDecision.REVIEW: (50, 79),
        FraudDecision.DECLINE: (80, 100),
    }
)

# Pressure is measured in thousandths of the decline limit; a decline's score tops out when the
# payment is twice over its limit.
_PRESSURE_PER_LIMIT = 1000
_PRESSURE_SATURATION = 2 * _PRESSURE_PER_LIMIT


@dataclass(frozen=True)
class FraudRules:
    """The thresholds and weights. A rule fires strictly above its limit ("above"), never at it.

    Amounts are whole US dollars; windows and ages are seconds. Admins change them through
    `/v1/admin/fraud-thresholds`; the defaults come from the settings.
    """

    # Hard rules.
    review_above_usd: int = 10_000
    decline_above_usd: int = 50_000
    velocity_window_seconds: int = 3600
    velocity_review_above: int = 40
    velocity_decline_above: int = 100
    new_account_seconds: int = 86400
    new_account_review_above_usd: int = 2_000
    # Weighted rules: a payment is held when its points reach review_points, from
    # points_floor_usd up.
    review_points: int = 50
    points_floor_usd: int = 50
    first_payee_points: int = 20
    young_account_seconds: int = 7 * 86400
    young_account_points: int = 15
    fan_in_window_seconds: int = 3600
    fan_in_payee_age_seconds: int = 7 * 86400
    fan_in_payers_above: int = 3
    fan_in_points: int = 40
    round_amount_major: int = 100
    round_burst_window_seconds: int = 3600
    round_burst_above: int = 1
    round_burst_points: int = 30
    payee_under_review_points: int = 30
    country_history_payments_min: int = 3
    country_change_points: int = 30

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{field.name} must be a non-negative int, got {value!r}")
        for name in (
            "decline_above_usd",
            "velocity_decline_above",
            "review_points",
            "round_amount_major",
            "velocity_window_seconds",
            "fan_in_window_seconds",
            "round_burst_window_seconds",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.review_above_usd > self.decline_above_usd:
            raise ValueError("review_above_usd must not exceed decline_above_usd")
        if self.velocity_review_above > self.velocity_decline_above:
            raise ValueError("velocity_review_above must not exceed velocity_decline_above")

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(field.name for field in fields(cls))

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.field_names()}


@dataclass(frozen=True)
class PaymentFacts:
    """What score-fraud knows about one payment when it scores it.

    `amount_usd_minor` is the payment in US cents; `payments_in_window` counts the payer's
    payments in the velocity window including this one (None: could not be counted);
    `payee_payers_in_window` the distinct payers of the payee in the fan-in window, this payer
    included; `round_payments_in_window` the payer's earlier round-amount payments in the burst
    window (this one excluded); `payer_prior_payments` the payer's earlier payments, and
    `payee_country_paid_before` whether one of them went to a payee in the payee's country.
    Ages are seconds; a negative age (clock skew between hosts) counts as brand new.
    """

    amount: Money
    amount_usd_minor: int
    payments_in_window: int | None = 1
    account_age_seconds: int = 365 * 86400
    paid_payee_before: bool = True
    payee_age_seconds: int = 365 * 86400
    payee_payers_in_window: int = 1
    round_payments_in_window: int = 0
    payee_frozen: bool = False
    payee_under_review: bool = False
    payer_country: str = "US"
    payee_country: str = "US"
    payer_prior_payments: int = 0
    payee_country_paid_before: bool = False
    sanctions_match: bool = False

    def __post_init__(self) -> None:
        if self.amount.amount_minor <= 0:
            raise ValueError(f"a payment amount must be positive, got {self.amount.format()}")
        if type(self.amount_usd_minor) is not int or self.amount_usd_minor < 0:
            raise ValueError(f"amount_usd_minor must be a non-negative int, got {self.amount_usd_minor!r}")
        counted = self.payments_in_window
        if counted is not None and (type(counted) is not int or counted < 1):
            raise ValueError(f"payments_in_window includes this payment, got {counted!r}")
        for name in ("account_age_seconds", "payee_age_seconds"):
            if type(getattr(self, name)) is not int:
                raise TypeError(f"{name} must be an int")
        if self.payee_payers_in_window < 1:
            raise ValueError("payee_payers_in_window includes this payer")
        if self.round_payments_in_window < 0 or self.payer_prior_payments < 0:
            raise ValueError("counts of earlier payments cannot be negative")


@dataclass(frozen=True)
class FraudAssessment:
    """The decision, a 0-100 score, every rule that fired, and the weighted rules' points."""

    decision: FraudDecision
    score: int
    reasons: tuple[ReasonCode, ...]
    points: int = 0

    @property
    def review_reason(self) -> str:
        """The coarse reason a payer sees for a hold: the category of the first hard rule that
        asked for review (or declined), else of the first weighted rule; never a threshold."""
        for reason in self.reasons:
            if reason in HARD_REASONS:
                return REVIEW_REASON_FOR_REASON[reason]
        for reason in self.reasons:
            return REVIEW_REASON_FOR_REASON[reason]
        return ROUTINE_REVIEW_REASON


def _usd_minor(limit_usd: int) -> int:
    return limit_usd * USD_CENTS


def is_round_amount(amount: Money, round_major: int) -> bool:
    """A whole multiple of `round_major` units of the payment's own currency (100.00 USD,
    500 EUR, 10,000 JPY with round_major 100): what a person types when the sum is made up."""
    unit_minor = round_major * int(10**amount.exponent)
    return amount.amount_minor % unit_minor == 0


# --- the weighted rules: one signal each -------------------------------------------------------


def first_payment_to_payee(facts: PaymentFacts, rules: FraudRules) -> bool:
    """The payer never paid this payee before."""
    return not facts.paid_payee_before


def fan_in(facts: PaymentFacts, rules: FraudRules) -> bool:
    """Many payers pay one new payee in a short window: how money mules collect from victims."""
    return (
        max(0, facts.payee_age_seconds) < rules.fan_in_payee_age_seconds
        and facts.payee_payers_in_window > rules.fan_in_payers_above
    )


def round_amount_burst(facts: PaymentFacts, rules: FraudRules) -> bool:
    """This payment is round and the payer sent more than `round_burst_above` round amounts in
    the window before it: a balance drained in made-up sums."""
    return (
        is_round_amount(facts.amount, rules.round_amount_major)
        and facts.round_payments_in_window > rules.round_burst_above
    )


def young_account(facts: PaymentFacts, rules: FraudRules) -> bool:
    """The payer's account is younger than `young_account_seconds`."""
    return max(0, facts.account_age_seconds) < rules.young_account_seconds


def payee_under_review(facts: PaymentFacts, rules: FraudRules) -> bool:
    """The payee has a payment of their own held for review, or an identity document in review."""
    return facts.payee_under_review


def country_change(facts: PaymentFacts, rules: FraudRules) -> bool:
    """A payer with a history pays into a country that is neither theirs nor any earlier
    payee's."""
    return (
        facts.payer_prior_payments >= rules.country_history_payments_min
        and facts.payee_country != facts.payer_country
        and not facts.payee_country_paid_before
    )


# --- the hard rules that are not about amount or velocity ------------------------------------


def payee_frozen(facts: PaymentFacts, rules: FraudRules) -> bool:
    """The payee's account is frozen: it may not receive until support has looked."""
    return facts.payee_frozen


def sanctions_match(facts: PaymentFacts, rules: FraudRules) -> bool:
    """The payee's name or country matches the sanctions list."""
    return facts.sanctions_match


_WEIGHTED_RULES: Mapping[ReasonCode, Callable[[PaymentFacts, FraudRules], bool]] = MappingProxyType(
    {
        ReasonCode.FIRST_PAYMENT_TO_PAYEE: first_payment_to_payee,
        ReasonCode.PAYEE_FAN_IN: fan_in,
        ReasonCode.ROUND_AMOUNT_BURST: round_amount_burst,
        ReasonCode.YOUNG_ACCOUNT: young_account,
        ReasonCode.PAYEE_UNDER_REVIEW: payee_under_review,
        ReasonCode.COUNTRY_CHANGE: country_change,
    }
)


def _hard_rules(facts: PaymentFacts, rules: FraudRules) -> dict[ReasonCode, bool]:
    amount = facts.amount_usd_minor
    counted = facts.payments_in_window or 0
    return {
        ReasonCode.AMOUNT_OVER_REVIEW_LIMIT: amount > _usd_minor(rules.review_above_usd),
        ReasonCode.AMOUNT_OVER_DECLINE_LIMIT: amount > _usd_minor(rules.decline_above_usd),
        ReasonCode.VELOCITY_OVER_REVIEW_LIMIT: counted > rules.velocity_review_above,
        ReasonCode.VELOCITY_OVER_DECLINE_LIMIT: counted > rules.velocity_decline_above,
        ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT: (
            max(0, facts.account_age_seconds) < rules.new_account_seconds
            and amount > _usd_minor(rules.new_account_review_above_usd)
        ),
        ReasonCode.VELOCITY_UNKNOWN: facts.payments_in_window is None,
        ReasonCode.SANCTIONS_MATCH: sanctions_match(facts, rules),
        ReasonCode.PAYEE_FROZEN: payee_frozen(facts, rules),
    }


def assess(facts: PaymentFacts, rules: FraudRules) -> FraudAssessment:
    """Assess one payment from its facts (see the module docstring)."""
    fired = _hard_rules(facts, rules)
    points = 0
    for reason, rule in _WEIGHTED_RULES.items():
        fired[reason] = rule(facts, rules)
        if fired[reason]:
            points += getattr(rules, WEIGHTED_REASONS[reason])
    # Declaration order of ReasonCode, so the same payment always lists its reasons alike.
    reasons = tuple(reason for reason in ReasonCode if fired[reason])
    decision = max(
        (HARD_REASONS[reason] for reason in reasons if reason in HARD_REASONS),
        key=_SEVERITY.__getitem__,
        default=FraudDecision.APPROVE,
    )
    held_by_points = points >= rules.review_points and facts.amount_usd_minor >= _usd_minor(rules.points_floor_usd)
    if decision is FraudDecision.APPROVE and held_by_points:
        decision = FraudDecision.REVIEW

    # How close the payment comes to a decline limit, in thousandths of that limit; the points
    # add to the pressure, a review's worth of points being half a limit.
    decline_limit_minor = max(1, _usd_minor(rules.decline_above_usd))
    pressure = max(
        facts.amount_usd_minor * _PRESSURE_PER_LIMIT // decline_limit_minor,
        (facts.payments_in_window or 0) * _PRESSURE_PER_LIMIT // rules.velocity_decline_above,
    )
    points_pressure = points * _PRESSURE_PER_LIMIT // (2 * rules.review_points)
    low, high = SCORE_BANDS[decision]
    if decision is FraudDecision.DECLINE:
        # Over a decline limit, pressure is already past one limit: grade the excess.
        progress = min(pressure, _PRESSURE_SATURATION) - _PRESSURE_PER_LIMIT
    else:
        progress = min(pressure + points_pressure, _PRESSURE_PER_LIMIT)
    score = low + (high - low) * max(0, progress) // _PRESSURE_PER_LIMIT
    return FraudAssessment(decision=decision, score=score, reasons=reasons, points=points)
