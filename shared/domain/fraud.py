"""Fraud rules: approve, hold for review, or decline a payment before any money moves.

Each rule looks at one signal (the amount, the payer's recent payment count, the payer's account
age) and fires or not. The decision is the most severe one any fired rule asks for: DECLINE beats
REVIEW beats APPROVE. Amount limits are written in major units of the payment's own currency and
converted with the currency's exponent, so 10,000 means 10,000.00 USD, 10,000 JPY and
10,000.000 KWD alike.

The score (0-100) lies in the decision's band (APPROVE 0-49, REVIEW 50-79, DECLINE 80-100) and
grows, within it, with how close the payment comes to the decline limits. It is deterministic and
never lowers when the amount or the payment count grows.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

from shared.domain.money import Money

__all__ = [
    "FraudAssessment",
    "FraudDecision",
    "FraudRules",
    "ROUTINE_REVIEW_REASON",
    "ReasonCode",
    "SCORE_BANDS",
    "assess",
]


class FraudDecision(str, enum.Enum):
    """What happens to the payment next."""

    APPROVE = "approve"
    REVIEW = "review"
    DECLINE = "decline"


class ReasonCode(str, enum.Enum):
    """A rule that fired. Listed in assessments in this declaration order."""

    AMOUNT_OVER_REVIEW_LIMIT = "amount_over_review_limit"
    AMOUNT_OVER_DECLINE_LIMIT = "amount_over_decline_limit"
    VELOCITY_OVER_REVIEW_LIMIT = "velocity_over_review_limit"
    VELOCITY_OVER_DECLINE_LIMIT = "velocity_over_decline_limit"
    NEW_ACCOUNT_LARGE_AMOUNT = "new_account_large_amount"
    # The payer's velocity could not be counted (the cache is down): never approve blind.
    VELOCITY_UNKNOWN = "velocity_unknown"


# What the payer is told about a hold: a coarse category, never the rule or its threshold.
# Operators see the reason codes themselves.
_REVIEW_REASON_FOR_REASON = {
    ReasonCode.AMOUNT_OVER_REVIEW_LIMIT: "unusual_amount",
    ReasonCode.AMOUNT_OVER_DECLINE_LIMIT: "unusual_amount",
    ReasonCode.VELOCITY_OVER_REVIEW_LIMIT: "unusual_activity",
    ReasonCode.VELOCITY_OVER_DECLINE_LIMIT: "unusual_activity",
    ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT: "new_account",
    ReasonCode.VELOCITY_UNKNOWN: "routine_check",
}
# When no rule names a category (an approval): the payer-facing reason of a review is generic.
ROUTINE_REVIEW_REASON = "routine_check"

_DECISION_FOR_REASON = {
    ReasonCode.AMOUNT_OVER_REVIEW_LIMIT: FraudDecision.REVIEW,
    ReasonCode.AMOUNT_OVER_DECLINE_LIMIT: FraudDecision.DECLINE,
    ReasonCode.VELOCITY_OVER_REVIEW_LIMIT: FraudDecision.REVIEW,
    ReasonCode.VELOCITY_OVER_DECLINE_LIMIT: FraudDecision.DECLINE,
    ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT: FraudDecision.REVIEW,
    ReasonCode.VELOCITY_UNKNOWN: FraudDecision.REVIEW,
}

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
    """The thresholds. A rule fires strictly above its limit ("above"), never at it.

    Amount limits are in major units of the payment's currency; the new-account rule applies
    while the payer's account is younger than `new_account_seconds`.
    """

    review_above_major: int = 10_000
    decline_above_major: int = 50_000
    velocity_window_seconds: int = 3600
    velocity_review_above: int = 40
    velocity_decline_above: int = 100
    new_account_seconds: int = 86400
    new_account_review_above_major: int = 2_000

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if type(value) is not int or value < 0:
                raise ValueError(f"{field.name} must be a non-negative int, got {value!r}")
        if self.decline_above_major < 1 or self.velocity_decline_above < 1:
            raise ValueError("decline limits must be at least 1")
        if self.review_above_major > self.decline_above_major:
            raise ValueError("review_above_major must not exceed decline_above_major")
        if self.velocity_review_above > self.velocity_decline_above:
            raise ValueError("velocity_review_above must not exceed velocity_decline_above")


@dataclass(frozen=True)
class FraudAssessment:
    """The decision, a 0-100 score, and every rule that fired."""

    decision: FraudDecision
    score: int
    reasons: tuple[ReasonCode, ...]

    @property
    def review_reason(self) -> str:
        """The coarse reason a payer sees for a hold: the category of the first rule that asked
        for review (or declined), never a threshold."""
        for reason in self.reasons:
            if _DECISION_FOR_REASON[reason] is not FraudDecision.APPROVE:
                return _REVIEW_REASON_FOR_REASON[reason]
        return ROUTINE_REVIEW_REASON


def _major_to_minor(limit_major: int, amount: Money) -> int:
    # int(): typeshed types a power of ints as Any, since a negative exponent gives a float.
    return limit_major * int(10**amount.exponent)


def assess(
    *,
    amount: Money,
    payments_in_window: int | None,
    account_age_seconds: int,
    rules: FraudRules,
) -> FraudAssessment:
    """Assess one payment of `amount` by a payer.

    `payments_in_window` counts the payer's payments in the last `rules.velocity_window_seconds`
    including this one (so it is at least 1), or None when it could not be counted: the payment
    is then held for review (VELOCITY_UNKNOWN) unless another rule declines it.
    `account_age_seconds` is how long the payer's
    account has existed; a negative age (clock skew between hosts) counts as brand new.
    Raises ValueError for a non-positive amount or a count below 1: those are bugs upstream.
    """
    if amount.amount_minor <= 0:
        raise ValueError(f"a payment amount must be positive, got {amount.format()}")
    counted = payments_in_window is not None
    if counted and (type(payments_in_window) is not int or payments_in_window < 1):
        raise ValueError(f"payments_in_window includes this payment, got {payments_in_window!r}")
    if type(account_age_seconds) is not int:
        raise TypeError("account_age_seconds must be an int")
    account_age_seconds = max(0, account_age_seconds)

    amount_minor = amount.amount_minor
    review_limit_minor = _major_to_minor(rules.review_above_major, amount)
    decline_limit_minor = _major_to_minor(rules.decline_above_major, amount)
    new_account_limit_minor = _major_to_minor(rules.new_account_review_above_major, amount)

    fired = {
        ReasonCode.AMOUNT_OVER_REVIEW_LIMIT: amount_minor > review_limit_minor,
        ReasonCode.AMOUNT_OVER_DECLINE_LIMIT: amount_minor > decline_limit_minor,
        ReasonCode.VELOCITY_OVER_REVIEW_LIMIT: (payments_in_window or 0) > rules.velocity_review_above,
        ReasonCode.VELOCITY_OVER_DECLINE_LIMIT: (payments_in_window or 0) > rules.velocity_decline_above,
        ReasonCode.NEW_ACCOUNT_LARGE_AMOUNT: (
            account_age_seconds < rules.new_account_seconds and amount_minor > new_account_limit_minor
        ),
        ReasonCode.VELOCITY_UNKNOWN: payments_in_window is None,
    }
    # Declaration order of ReasonCode, so the same payment always lists its reasons alike.
    reasons = tuple(reason for reason in ReasonCode if fired[reason])
    decision = max(
        (_DECISION_FOR_REASON[reason] for reason in reasons),
        key=_SEVERITY.__getitem__,
        default=FraudDecision.APPROVE,
    )

    # How close the payment comes to a decline limit, in thousandths of that limit.
    pressure = max(
        amount_minor * _PRESSURE_PER_LIMIT // decline_limit_minor,
        (payments_in_window or 0) * _PRESSURE_PER_LIMIT // rules.velocity_decline_above,
    )
    low, high = SCORE_BANDS[decision]
    if decision is FraudDecision.DECLINE:
        # Over a decline limit, pressure is already past one limit: grade the excess.
        progress = min(pressure, _PRESSURE_SATURATION) - _PRESSURE_PER_LIMIT
    else:
        progress = min(pressure, _PRESSURE_PER_LIMIT)
    score = low + (high - low) * max(0, progress) // _PRESSURE_PER_LIMIT
    return FraudAssessment(decision=decision, score=score, reasons=reasons)
