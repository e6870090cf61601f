"""Limits per KYC level: how much a user may move, counted in the reference currency (USD).

Four limits, each an amount in USD minor units (cents):

    single_payment   one payment on its own
    sent_24h         the payments a user sent in the last 24 hours, this one included
    sent_30d         the same over the last 30 days
    withdrawal_24h   the withdrawals a user made in the last 24 hours, this one included

A user's KYC level (shared.domain.kyc.KycLevel) picks the row of limits that applies. The
defaults below seed the `kyc_limits` table (migration 0011_limits); admins edit that table.

A move is within a limit when what was used in the limit's window plus the move is at most the
limit: reaching a limit exactly is allowed, passing it by one cent is not. The limits of a
payment are checked in a fixed order (single_payment, sent_24h, sent_30d) and the first one
passed is named, so the same payment is always refused for the same reason.

Everything here is pure: amounts arrive already converted to USD, windows are arguments.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from shared.domain.kyc import KycLevel

__all__ = [
    "DEFAULT_LIMITS_USD_MINOR",
    "LIMIT_AMOUNT_USD_MINOR_MAX",
    "PAYMENT_LIMITS",
    "LevelLimits",
    "LimitName",
    "LimitUsage",
    "check_level_limits",
    "first_exceeded",
    "usage",
]

_DAY_SECONDS = 24 * 3600
# The largest limit an admin may set: 100 million USD, far above any real level's need, and far
# below what a BIGINT holds once a month of payments is added to it.
LIMIT_AMOUNT_USD_MINOR_MAX = 100_000_000 * 100


class LimitName(str, enum.Enum):
    SINGLE_PAYMENT = "single_payment"
    SENT_24H = "sent_24h"
    SENT_30D = "sent_30d"
    WITHDRAWAL_24H = "withdrawal_24h"

    @property
    def window_seconds(self) -> int | None:
        """How far back what was used counts; None for a limit on one move alone."""
        return _WINDOW_SECONDS[self]

    @property
    def label(self) -> str:
        """How a person names it, in a message."""
        return _LABELS[self]


_WINDOW_SECONDS: Mapping[LimitName, int | None] = MappingProxyType(
    {
        LimitName.SINGLE_PAYMENT: None,
        LimitName.SENT_24H: _DAY_SECONDS,
        LimitName.SENT_30D: 30 * _DAY_SECONDS,
        LimitName.WITHDRAWAL_24H: _DAY_SECONDS,
    }
)
_LABELS: Mapping[LimitName, str] = MappingProxyType(
    {
        LimitName.SINGLE_PAYMENT: "single payment limit",
        LimitName.SENT_24H: "limit on payments sent in 24 hours",
        LimitName.SENT_30D: "limit on payments sent in 30 days",
        LimitName.WITHDRAWAL_24H: "limit on withdrawals in 24 hours",
    }
)

# The limits a payment is checked against, in the order they are checked.
PAYMENT_LIMITS: tuple[LimitName, ...] = (LimitName.SINGLE_PAYMENT, LimitName.SENT_24H, LimitName.SENT_30D)


def _usd(major: int) -> int:
    return major * 100


# The defaults, in USD minor units. single_payment and sent_30d are the platform's published
# table. A day allows one payment at the single limit and half another at `none` and `basic`
# (an unverified account is where stolen cards and mule accounts move money fast), two at
# `verified`. Withdrawals per day are a quarter of the monthly sending volume at `none` and a
# fifth above it, so that money received cannot all leave in a day.
DEFAULT_LIMITS_USD_MINOR: Mapping[KycLevel, Mapping[LimitName, int]] = MappingProxyType(
    {
        KycLevel.NONE: MappingProxyType(
            {
                LimitName.SINGLE_PAYMENT: _usd(5_000),
                LimitName.SENT_24H: _usd(7_500),
                LimitName.SENT_30D: _usd(10_000),
                LimitName.WITHDRAWAL_24H: _usd(2_500),
            }
        ),
        KycLevel.BASIC: MappingProxyType(
            {
                LimitName.SINGLE_PAYMENT: _usd(10_000),
                LimitName.SENT_24H: _usd(15_000),
                LimitName.SENT_30D: _usd(25_000),
                LimitName.WITHDRAWAL_24H: _usd(5_000),
            }
        ),
        KycLevel.VERIFIED: MappingProxyType(
            {
                LimitName.SINGLE_PAYMENT: _usd(50_000),
                LimitName.SENT_24H: _usd(100_000),
                LimitName.SENT_30D: _usd(250_000),
                LimitName.WITHDRAWAL_24H: _usd(50_000),
            }
        ),
    }
)


@dataclass(frozen=True)
class LevelLimits:
    """The limits of one KYC level, in USD minor units."""

    kyc_level: KycLevel
    amounts_usd_minor: Mapping[LimitName, int]

    def __post_init__(self) -> None:
        missing = set(LimitName) - set(self.amounts_usd_minor)
        if missing:
            raise ValueError(f"level {self.kyc_level.value} lacks limits {sorted(name.value for name in missing)}")

    def amount(self, name: LimitName) -> int:
        return self.amounts_usd_minor[name]

    @classmethod
    def default(cls, kyc_level: KycLevel) -> LevelLimits:
        return cls(kyc_level, DEFAULT_LIMITS_USD_MINOR[kyc_level])


def first_exceeded(
    amount_usd_minor: int, used_usd_minor: Mapping[LimitName, int], limits: LevelLimits, names: tuple[LimitName, ...]
) -> LimitName | None:
    """The first of `names` that a move of `amount_usd_minor` would pass, given what was used in
    each one's window (a limit without a window counts the move alone), or None if it fits all."""
    if amount_usd_minor < 0:
        raise ValueError(f"an amount is never negative, got {amount_usd_minor}")
    for name in names:
        used = 0 if name.window_seconds is None else used_usd_minor[name]
        if used + amount_usd_minor > limits.amount(name):
            return name
    return None


@dataclass(frozen=True)
class LimitUsage:
    """One limit as its user sees it: the amount, what was used of it, what remains."""

    name: LimitName
    amount_usd_minor: int
    # None for a limit on one move alone (nothing accumulates).
    used_usd_minor: int | None

    @property
    def remaining_usd_minor(self) -> int:
        """What may still move under the limit now (never below zero: an admin may lower a limit
        below what was used already)."""
        return max(0, self.amount_usd_minor - (self.used_usd_minor or 0))


def usage(limits: LevelLimits, used_usd_minor: Mapping[LimitName, int]) -> list[LimitUsage]:
    """Every limit of the level with what was used of it, in LimitName's order."""
    return [
        LimitUsage(name, limits.amount(name), None if name.window_seconds is None else used_usd_minor[name])
        for name in LimitName
    ]


def check_level_limits(amounts_usd_minor: Mapping[LimitName, int]) -> str | None:
    """Why a level's limits do not hold together, or None. Each amount is positive and at most
    LIMIT_AMOUNT_USD_MINOR_MAX, and single_payment <= sent_24h <= sent_30d: a payment larger than
    a day's sending could never be made, and a day cannot allow more than the month it is in."""
    for name, amount in amounts_usd_minor.items():
        if type(amount) is not int or not 0 < amount <= LIMIT_AMOUNT_USD_MINOR_MAX:
            return f"{name.value} must be a whole number of cents from 1 to {LIMIT_AMOUNT_USD_MINOR_MAX}"
    ordered = [amounts_usd_minor[name] for name in PAYMENT_LIMITS]
    if ordered != sorted(ordered):
        return "single_payment must be at most sent_24h, and sent_24h at most sent_30d"
    return None
