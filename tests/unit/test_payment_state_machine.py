"""The payment state machine: a payment moves only along the edges of DESIGN section 2."""

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.ledger import TransferOutcome
from shared.domain.payment import (
    ALLOWED_TRANSITIONS,
    FailureCode,
    IllegalTransition,
    PaymentStatus,
    can_transition,
    failure_for_outcome,
    next_statuses,
    transition,
)

S = PaymentStatus
DESIGNED_EDGES = {
    (S.PENDING, S.HELD),
    (S.HELD, S.PENDING),
    (S.PENDING, S.DECLINED),
    (S.PENDING, S.COMPLETED),
    (S.PENDING, S.FAILED),
    (S.HELD, S.DECLINED),
    (S.COMPLETED, S.REFUNDED),
    (S.COMPLETED, S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED),
    (S.PARTIALLY_REFUNDED, S.REFUNDED),
}
ALL_PAIRS = list(itertools.product(PaymentStatus, repeat=2))


def _pair_id(pair) -> str:
    return f"{pair[0].value}->{pair[1].value}"


def test_the_allowed_transitions_are_exactly_the_designed_ones():
    # GIVEN the design's edges
    # WHEN the table is read
    # THEN it holds those edges and no others
    assert ALLOWED_TRANSITIONS == DESIGNED_EDGES


@pytest.mark.parametrize("pair", sorted(DESIGNED_EDGES), ids=_pair_id)
def test_a_payment_moves_along_each_designed_edge(pair):
    # GIVEN a payment in the edge's source status
    current, target = pair
    # WHEN it moves to the edge's target
    # THEN it arrives there
    assert transition(current, target) is target
    assert can_transition(current, target)


@pytest.mark.parametrize("pair", [pair for pair in ALL_PAIRS if pair not in DESIGNED_EDGES], ids=_pair_id)
def test_every_other_move_is_illegal(pair):
    # GIVEN a move the design does not have
    current, target = pair
    # WHEN a payment is asked to make it
    # THEN it raises, naming both ends
    assert not can_transition(current, target)
    with pytest.raises(IllegalTransition) as raised:
        transition(current, target)
    assert raised.value.current is current and raised.value.target is target
    assert current.value in str(raised.value) and target.value in str(raised.value)


def test_statuses_have_their_api_values():
    # GIVEN every status
    # WHEN it is serialised
    # THEN it is the lowercase name the API shows
    assert [status.value for status in PaymentStatus] == [
        "pending",
        "held",
        "completed",
        "declined",
        "failed",
        "refunded",
        "partially_refunded",
    ]


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (S.PENDING, False),
        (S.HELD, False),
        (S.COMPLETED, True),
        (S.DECLINED, True),
        (S.FAILED, True),
        (S.REFUNDED, True),
        (S.PARTIALLY_REFUNDED, True),
    ],
)
def test_the_saga_is_over_once_no_money_is_in_flight(status, final):
    # GIVEN a status
    # WHEN asked whether the saga is over
    # THEN only pending and held still have work to do
    assert status.is_final is final


def test_declined_failed_and_refunded_payments_never_move_again():
    # GIVEN every status
    # WHEN its exits are listed
    # THEN exactly declined, failed and refunded have none
    terminal = {status for status in PaymentStatus if status.is_terminal}
    assert terminal == {S.DECLINED, S.FAILED, S.REFUNDED}
    assert next_statuses(S.PENDING) == {S.HELD, S.DECLINED, S.COMPLETED, S.FAILED}


def test_a_held_payment_can_be_approved_and_then_completed():
    # GIVEN a payment held for review
    status = transition(S.PENDING, S.HELD)
    # WHEN an operator approves it and it settles, then is refunded in two parts
    status = transition(status, S.PENDING)
    status = transition(status, S.COMPLETED)
    status = transition(status, S.PARTIALLY_REFUNDED)
    status = transition(status, S.PARTIALLY_REFUNDED)
    status = transition(status, S.REFUNDED)
    # THEN it ends refunded
    assert status is S.REFUNDED


def test_statuses_read_from_storage_as_strings_are_accepted():
    # GIVEN statuses as a database row holds them
    # WHEN they are moved
    # THEN they behave as the enum; an unknown status is a bug
    assert transition("pending", "held") is S.HELD  # type: ignore[arg-type]
    assert can_transition("held", "declined")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        transition("pending", "settled")  # type: ignore[arg-type]


@settings(max_examples=100)
@given(targets=st.lists(st.sampled_from(list(PaymentStatus)), max_size=20))
def test_a_payment_only_ever_walks_the_designed_edges(targets):
    # GIVEN a new payment and any sequence of requested moves
    status = S.PENDING
    walked = []
    for target in targets:
        # WHEN each move is attempted
        try:
            new_status = transition(status, target)
        except IllegalTransition:
            # THEN a refused move leaves the payment where it was
            assert (status, target) not in DESIGNED_EDGES
            continue
        walked.append((status, new_status))
        status = new_status
    # AND every move made was a designed edge
    assert set(walked) <= DESIGNED_EDGES


def test_insufficient_funds_is_reported_as_such():
    # GIVEN the ledger refused the debit for lack of funds
    # WHEN the payment's failure code is derived
    # THEN it tells the payer why
    assert failure_for_outcome(TransferOutcome.INSUFFICIENT_FUNDS) is FailureCode.INSUFFICIENT_FUNDS


@pytest.mark.parametrize(
    "outcome",
    [
        outcome
        for outcome in TransferOutcome
        if outcome not in (TransferOutcome.OK, TransferOutcome.EXISTS, TransferOutcome.INSUFFICIENT_FUNDS)
    ],
    ids=lambda outcome: outcome.value,
)
def test_any_other_ledger_refusal_is_a_ledger_rejection(outcome):
    # GIVEN any other refusal
    # WHEN the payment's failure code is derived
    # THEN it is the platform's problem, not the payer's
    assert failure_for_outcome(outcome) is FailureCode.LEDGER_REJECTED


@pytest.mark.parametrize("outcome", [TransferOutcome.OK, TransferOutcome.EXISTS])
def test_a_successful_transfer_has_no_failure_code(outcome):
    # GIVEN the ledger accepted the transfer
    # WHEN a failure code is asked for anyway
    # THEN it is a bug in the caller
    with pytest.raises(ValueError):
        failure_for_outcome(outcome)


def test_failure_codes_have_their_api_values():
    # GIVEN every failure code
    # WHEN it is serialised
    # THEN it is the value the API documents
    assert {code.value for code in FailureCode} == {
        "insufficient_funds",
        "fraud_declined",
        "currency_not_supported",
        "payee_unavailable",
        "saga_timeout",
        "ledger_rejected",
        "limit_exceeded",
        "account_frozen",
        "review_declined",
        "review_expired",
    }
