"""The payment request state machine: one user asks another for money.

    open -> accepted        the payer pays it: a payment is on its way through the saga
    accepted -> paid        that payment completed
    accepted -> open        that payment failed or was declined: the request may be paid again
    open -> declined        the payer refuses it
    open -> cancelled       the requester withdraws it
    open -> expired         nobody acted before `expires_at`

A request is paid at most once: only an open one can be accepted, and an accepted one waits for
its payment. Who may do what is part of the rules too (`Action`, `party_for`): the payer pays and
declines, the requester cancels. Any other move is a bug in the caller and raises
IllegalRequestTransition; the HTTP layer checks `can_transition` first and answers 409.
"""

from __future__ import annotations

import enum
from datetime import datetime

__all__ = [
    "ALLOWED_REQUEST_TRANSITIONS",
    "Action",
    "IllegalRequestTransition",
    "Party",
    "PaymentRequestStatus",
    "can_transition",
    "is_expired",
    "party_for",
    "target_of",
    "transition",
]


class PaymentRequestStatus(str, enum.Enum):
    OPEN = "open"
    ACCEPTED = "accepted"
    PAID = "paid"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return not any(source is self for source, _ in ALLOWED_REQUEST_TRANSITIONS)


S = PaymentRequestStatus
ALLOWED_REQUEST_TRANSITIONS: frozenset[tuple[PaymentRequestStatus, PaymentRequestStatus]] = frozenset(
    {
        (S.OPEN, S.ACCEPTED),
        (S.ACCEPTED, S.PAID),
        (S.ACCEPTED, S.OPEN),
        (S.OPEN, S.DECLINED),
        (S.OPEN, S.CANCELLED),
        (S.OPEN, S.EXPIRED),
    }
)


class Party(str, enum.Enum):
    REQUESTER = "requester"
    PAYER = "payer"


class Action(str, enum.Enum):
    """What a person can do to a request through the API."""

    PAY = "pay"
    DECLINE = "decline"
    CANCEL = "cancel"


_ACTIONS = {
    Action.PAY: (Party.PAYER, S.ACCEPTED),
    Action.DECLINE: (Party.PAYER, S.DECLINED),
    Action.CANCEL: (Party.REQUESTER, S.CANCELLED),
}


def party_for(action: Action) -> Party:
    """The only party who may take `action`."""
    return _ACTIONS[Action(action)][0]


def target_of(action: Action) -> PaymentRequestStatus:
    """The status `action` moves an open request to."""
    return _ACTIONS[Action(action)][1]


class IllegalRequestTransition(Exception):
    def __init__(self, current: PaymentRequestStatus, target: PaymentRequestStatus) -> None:
        super().__init__(f"a payment request cannot move from {current.value} to {target.value}")
        self.current = current
        self.target = target


def can_transition(current: PaymentRequestStatus, target: PaymentRequestStatus) -> bool:
    return (S(current), S(target)) in ALLOWED_REQUEST_TRANSITIONS


def transition(current: PaymentRequestStatus, target: PaymentRequestStatus) -> PaymentRequestStatus:
    """Return `target` if the move is allowed; raise IllegalRequestTransition otherwise."""
    current, target = S(current), S(target)
    if (current, target) not in ALLOWED_REQUEST_TRANSITIONS:
        raise IllegalRequestTransition(current, target)
    return target


def is_expired(status: PaymentRequestStatus, expires_at: datetime, now: datetime) -> bool:
    """True if the request can no longer be answered because its time ran out: an open request
    past `expires_at`, whether or not the sweeper has marked it yet."""
    status = S(status)
    return status is S.EXPIRED or (status is S.OPEN and now >= expires_at)
