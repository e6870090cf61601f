"""The refund and payment request state machines, and the arithmetic of what may be refunded."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.payment import (
    REFUNDABLE_STATUSES,
    IllegalTransition,
    PaymentStatus,
    RefundStatus,
    can_transition,
    refund_transition,
    refundable_minor,
    status_after_refunds,
)
from shared.domain.payment_request import (
    ALLOWED_REQUEST_TRANSITIONS,
    Action,
    IllegalRequestTransition,
    Party,
    PaymentRequestStatus,
    is_expired,
    party_for,
    target_of,
    transition,
)

R = PaymentRequestStatus
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


# --- refunds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("target", [RefundStatus.COMPLETED, RefundStatus.FAILED])
def test_a_pending_refund_completes_or_fails(target):
    assert refund_transition(RefundStatus.PENDING, target) is target


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (c, t)
        for c, t in itertools.product(RefundStatus, repeat=2)
        if (c, t) not in {(RefundStatus.PENDING, RefundStatus.COMPLETED), (RefundStatus.PENDING, RefundStatus.FAILED)}
    ],
)
def test_a_finished_refund_never_moves_again(current, target):
    with pytest.raises(IllegalTransition, match="a refund cannot move"):
        refund_transition(current, target)


def test_only_a_failed_refund_stops_counting_against_the_payment():
    assert [s for s in RefundStatus if s.claims_the_amount] == [RefundStatus.PENDING, RefundStatus.COMPLETED]


def test_only_a_payment_whose_money_arrived_can_be_refunded():
    assert {PaymentStatus.COMPLETED, PaymentStatus.PARTIALLY_REFUNDED} == REFUNDABLE_STATUSES
    for status in REFUNDABLE_STATUSES:
        assert can_transition(status, PaymentStatus.PARTIALLY_REFUNDED)
        assert can_transition(status, PaymentStatus.REFUNDED)
    assert PaymentStatus.REFUNDED.is_terminal


@given(paid=st.integers(1, 10**12), data=st.data())
def test_refunds_never_exceed_the_payment_whatever_is_asked(paid, data):
    # GIVEN any sequence of refund requests, each granted only up to what is still refundable
    claimed = 0
    for asked in data.draw(st.lists(st.integers(1, 2 * paid), max_size=20)):
        remaining = refundable_minor(paid, claimed)
        if asked <= remaining:
            claimed += asked
    # THEN the total granted never exceeds the payment, and the status follows the total
    assert 0 <= claimed <= paid
    if claimed:
        expected = PaymentStatus.REFUNDED if claimed == paid else PaymentStatus.PARTIALLY_REFUNDED
        assert status_after_refunds(paid, claimed) is expected


@pytest.mark.parametrize(("paid", "claimed"), [(100, -1), (100, 101)])
def test_a_claim_beyond_the_payment_is_a_bug(paid, claimed):
    with pytest.raises(ValueError):
        refundable_minor(paid, claimed)


@pytest.mark.parametrize("refunded", [0, 101])
def test_a_refunded_total_outside_the_payment_is_a_bug(refunded):
    with pytest.raises(ValueError):
        status_after_refunds(100, refunded)


# --- payment requests ------------------------------------------------------------------------


def test_a_request_moves_exactly_along_its_designed_edges():
    assert {
        (R.OPEN, R.ACCEPTED),
        (R.ACCEPTED, R.PAID),
        (R.ACCEPTED, R.OPEN),
        (R.OPEN, R.DECLINED),
        (R.OPEN, R.CANCELLED),
        (R.OPEN, R.EXPIRED),
    } == ALLOWED_REQUEST_TRANSITIONS


@pytest.mark.parametrize(
    "pair", list(itertools.product(PaymentRequestStatus, repeat=2)), ids=lambda p: f"{p[0].value}->{p[1].value}"
)
def test_any_other_move_raises(pair):
    current, target = pair
    if pair in ALLOWED_REQUEST_TRANSITIONS:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalRequestTransition):
            transition(current, target)


def test_paid_declined_cancelled_and_expired_are_the_end():
    assert {s for s in PaymentRequestStatus if s.is_terminal} == {R.PAID, R.DECLINED, R.CANCELLED, R.EXPIRED}


def test_the_payer_pays_and_declines_and_the_requester_cancels():
    assert {a: party_for(a) for a in Action} == {
        Action.PAY: Party.PAYER,
        Action.DECLINE: Party.PAYER,
        Action.CANCEL: Party.REQUESTER,
    }
    assert {a: target_of(a) for a in Action} == {
        Action.PAY: R.ACCEPTED,
        Action.DECLINE: R.DECLINED,
        Action.CANCEL: R.CANCELLED,
    }


def test_an_open_request_expires_at_its_expiry_even_before_the_sweeper_marks_it():
    expires_at = NOW + timedelta(days=1)
    assert not is_expired(R.OPEN, expires_at, NOW)
    assert is_expired(R.OPEN, expires_at, expires_at)
    assert is_expired(R.EXPIRED, expires_at, NOW)
    # A request being paid waits for its payment, whatever the clock says.
    assert not is_expired(R.ACCEPTED, expires_at, expires_at + timedelta(days=1))
