"""The payment state machine and the failure codes a payment can end with.

A payment moves only along `ALLOWED_TRANSITIONS`:

    pending -> held -> pending          (fraud review, then an operator approves)
    pending -> declined | completed | failed
    held -> declined                    (an operator declines a held payment)
    completed -> refunded | partially_refunded
    partially_refunded -> partially_refunded | refunded

Any other move is a bug in the caller and raises IllegalTransition.

A refund is a saga of its own (`RefundStatus`: pending -> completed | failed). What may still be
refunded counts the refunds in flight as well as the completed ones, so that two refunds asked
for at once can never return more than was paid; the payment becomes partially_refunded, then
refunded, as refunds complete.
"""

from __future__ import annotations

import enum

from shared.domain.ledger import TransferOutcome

__all__ = [
    "ALLOWED_TRANSITIONS",
    "FailureCode",
    "IllegalTransition",
    "PaymentStatus",
    "REFUNDABLE_STATUSES",
    "RefundStatus",
    "can_transition",
    "failure_for_outcome",
    "next_statuses",
    "refund_transition",
    "refundable_minor",
    "status_after_refunds",
    "transition",
]


class PaymentStatus(str, enum.Enum):
    """Where a payment stands."""

    PENDING = "pending"
    HELD = "held"
    COMPLETED = "completed"
    DECLINED = "declined"
    FAILED = "failed"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"

    @property
    def is_final(self) -> bool:
        """True once the payment saga is over: no money is left in flight.

        COMPLETED and PARTIALLY_REFUNDED are final for the saga even though a refund may still
        follow; a refund is a new request, not a continuation of the payment.
        """
        return self in _FINAL_STATUSES

    @property
    def is_terminal(self) -> bool:
        """True if no transition leaves this status at all."""
        return not next_statuses(self)


_FINAL_STATUSES = frozenset(
    {
        PaymentStatus.COMPLETED,
        PaymentStatus.DECLINED,
        PaymentStatus.FAILED,
        PaymentStatus.REFUNDED,
        PaymentStatus.PARTIALLY_REFUNDED,
    }
)

# Every allowed (current, target) pair; nothing else may happen to a payment.
ALLOWED_TRANSITIONS: frozenset[tuple[PaymentStatus, PaymentStatus]] = frozenset(
    {
        (PaymentStatus.PENDING, PaymentStatus.HELD),
        (PaymentStatus.HELD, PaymentStatus.PENDING),
        (PaymentStatus.PENDING, PaymentStatus.DECLINED),
        (PaymentStatus.PENDING, PaymentStatus.COMPLETED),
        (PaymentStatus.PENDING, PaymentStatus.FAILED),
        (PaymentStatus.HELD, PaymentStatus.DECLINED),
        (PaymentStatus.COMPLETED, PaymentStatus.REFUNDED),
        (PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED),
        (PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.PARTIALLY_REFUNDED),
        (PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED),
    }
)


class IllegalTransition(Exception):
    """A payment was asked to move along an edge its state machine does not have."""

    def __init__(self, current: enum.Enum, target: enum.Enum) -> None:
        noun = "refund" if isinstance(current, RefundStatus) else "payment"
        super().__init__(f"a {noun} cannot move from {current.value} to {target.value}")
        self.current = current
        self.target = target


def next_statuses(current: PaymentStatus) -> frozenset[PaymentStatus]:
    """The statuses a payment in `current` may move to."""
    current = PaymentStatus(current)
    return frozenset(target for source, target in ALLOWED_TRANSITIONS if source is current)


def can_transition(current: PaymentStatus, target: PaymentStatus) -> bool:
    """True if a payment in `current` may move to `target`."""
    return (PaymentStatus(current), PaymentStatus(target)) in ALLOWED_TRANSITIONS


def transition(current: PaymentStatus, target: PaymentStatus) -> PaymentStatus:
    """Return `target` if the move is allowed; raise IllegalTransition otherwise."""
    current, target = PaymentStatus(current), PaymentStatus(target)
    if (current, target) not in ALLOWED_TRANSITIONS:
        raise IllegalTransition(current, target)
    return target


class FailureCode(str, enum.Enum):
    """Why a payment was declined or failed, as the API reports it in `failure_code`."""

    INSUFFICIENT_FUNDS = "insufficient_funds"
    FRAUD_DECLINED = "fraud_declined"
    CURRENCY_NOT_SUPPORTED = "currency_not_supported"
    PAYEE_UNAVAILABLE = "payee_unavailable"
    SAGA_TIMEOUT = "saga_timeout"
    LEDGER_REJECTED = "ledger_rejected"
    LIMIT_EXCEEDED = "limit_exceeded"
    ACCOUNT_FROZEN = "account_frozen"
    REVIEW_DECLINED = "review_declined"
    REVIEW_EXPIRED = "review_expired"


def failure_for_outcome(outcome: TransferOutcome) -> FailureCode:
    """Map a refused ledger transfer to the payment's failure code.

    INSUFFICIENT_FUNDS is the payer's problem and is reported as such; every other refusal is
    the platform's and reported as LEDGER_REJECTED. Raises ValueError for OK and EXISTS, which
    are not failures.
    """
    outcome = TransferOutcome(outcome)
    if outcome.ok_or_exists:
        raise ValueError(f"{outcome.value} is not a failure")
    if outcome is TransferOutcome.INSUFFICIENT_FUNDS:
        return FailureCode.INSUFFICIENT_FUNDS
    return FailureCode.LEDGER_REJECTED


class RefundStatus(str, enum.Enum):
    """Where a refund stands: reserved from the payee and in flight, done, or abandoned."""

    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def claims_the_amount(self) -> bool:
        """True while the refund counts against what may still be refunded (all but failed)."""
        return self is not RefundStatus.FAILED


_REFUND_TRANSITIONS = frozenset(
    {(RefundStatus.PENDING, RefundStatus.COMPLETED), (RefundStatus.PENDING, RefundStatus.FAILED)}
)


def refund_transition(current: RefundStatus, target: RefundStatus) -> RefundStatus:
    """Return `target` if a refund may move there (pending -> completed | failed); raise
    IllegalTransition otherwise."""
    current, target = RefundStatus(current), RefundStatus(target)
    if (current, target) not in _REFUND_TRANSITIONS:
        raise IllegalTransition(current, target)
    return target


# Only a payment whose money reached the payee can be refunded.
REFUNDABLE_STATUSES = frozenset({PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED})


def refundable_minor(paid_minor: int, claimed_minor: int) -> int:
    """What may still be refunded of a payment of `paid_minor` whose refunds completed or in
    flight total `claimed_minor`. A claim above the payment is a bug in the caller."""
    if not 0 <= claimed_minor <= paid_minor:
        raise ValueError(f"refunds of {claimed_minor} cannot be claimed against a payment of {paid_minor}")
    return paid_minor - claimed_minor


def status_after_refunds(paid_minor: int, refunded_minor: int) -> PaymentStatus:
    """The payment's status once refunds totalling `refunded_minor` have completed."""
    if not 0 < refunded_minor <= paid_minor:
        raise ValueError(f"{refunded_minor} refunded of a payment of {paid_minor} is impossible")
    return PaymentStatus.REFUNDED if refunded_minor == paid_minor else PaymentStatus.PARTIALLY_REFUNDED
