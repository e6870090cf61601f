"""The review of a held payment: open until a reviewer approves or declines it (or the sweeper
declines it for its age), and decided once.

A decision is an operator's request, which may arrive twice (a double click, a retried call) or
race another operator's: the same decision again is answered as it was made, the opposite one
is a conflict. `outcome_of` says which.
"""

from __future__ import annotations

import enum

__all__ = ["DecisionOutcome", "ReviewDecision", "ReviewStatus", "outcome_of"]


class ReviewStatus(str, enum.Enum):
    """Where a review stands. A declined review may have been declined by the sweeper."""

    OPEN = "open"
    APPROVED = "approved"
    DECLINED = "declined"


class ReviewDecision(str, enum.Enum):
    """What a reviewer decides about a held payment."""

    APPROVE = "approve"
    DECLINE = "decline"

    @property
    def status(self) -> ReviewStatus:
        """The status the decision leaves the review in."""
        return ReviewStatus.APPROVED if self is ReviewDecision.APPROVE else ReviewStatus.DECLINED


class DecisionOutcome(enum.Enum):
    """What a decision comes to, given the review's status."""

    DECIDE = "decide"  # the review is open: the decision closes it
    REPLAY = "replay"  # the same decision was made already: answered as it was
    CONFLICT = "conflict"  # the opposite decision was made already: refused


def outcome_of(status: ReviewStatus, decision: ReviewDecision) -> DecisionOutcome:
    """What `decision` comes to on a review that is `status`."""
    status = ReviewStatus(status)
    if status is ReviewStatus.OPEN:
        return DecisionOutcome.DECIDE
    if status is decision.status:
        return DecisionOutcome.REPLAY
    return DecisionOutcome.CONFLICT
