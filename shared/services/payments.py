"""The payment saga: accept, score, debit, settle. Each step is one database transaction that
moves the payment along its state machine, writes the ledger and records the next event (which
projects it into the history and queues it in the outbox).

Steps are safe to run twice: a step whose payment has already moved on does nothing, and ledger
transfer ids are derived from the payment id, so a retried debit is `exists`, never a second debit.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.api import PaymentRequest, PaymentResponse
from schemas.events import (
    PaymentApproved,
    PaymentCompleted,
    PaymentDebited,
    PaymentDeclined,
    PaymentFailed,
    PaymentHeld,
    PaymentRequested,
)
from shared.adapters.ledger_store import LedgerStore, system_account_id, wallet_account_id
from shared.adapters.tables import payment_reviews, payments
from shared.domain.fraud import FraudAssessment, FraudDecision
from shared.domain.ledger import PendingStatus, Transfer, TransferFlags, TransferOutcome
from shared.domain.money import Money
from shared.domain.payment import FailureCode, PaymentStatus, failure_for_outcome, transition
from shared.domain.payment_request import Action
from shared.domain.review import ReviewStatus
from shared.http import ApiError, response_of_row
from shared.ids import new_id
from shared.privacy import BlindIndex
from shared.services import payment_requests
from shared.services.checks import (
    MOVE_AMOUNT_MINOR_MAX,
    require_at_most,
    require_currency,
    require_not_frozen,
    require_payee_not_frozen,
)
from shared.services.context import EventContext, advance, read_row, unmoved_since
from shared.services.identity import find_user
from shared.services.sending import SendingChecks, check_sending

__all__ = [
    "Reservation",
    "SettleResult",
    "advance_payment",
    "close_review",
    "create_payment",
    "lock_payment",
    "parties",
    "pay_request",
    "release",
    "reservation_of",
    "reserve",
    "settle_reservation",
    "payment_for_user",
    "payment_seen_by",
    "score_payment",
    "debit_payment",
    "decline_payment",
    "settle_payment",
    "stuck_payment_ids",
    "time_out_payment",
]

FAILURE_MESSAGES = {
    FailureCode.INSUFFICIENT_FUNDS: "the payer's available balance is too low",
    FailureCode.FRAUD_DECLINED: "the payment was declined by risk review",
    FailureCode.LEDGER_REJECTED: "the ledger refused the transfer",
    FailureCode.SAGA_TIMEOUT: "the payment did not complete in time",
    FailureCode.ACCOUNT_FROZEN: "an account of the payment is frozen",
    FailureCode.REVIEW_DECLINED: "the payment was declined after review",
    FailureCode.REVIEW_EXPIRED: "the payment's review was not completed in time",
}


def lock_payment(conn: Connection, payment_id: str) -> Any:
    """The payment's row, locked until the transaction ends (None if there is none)."""
    return read_row(conn, payments, payment_id, lock=True)


def advance_payment(
    conn: Connection,
    payment: Any,
    *,
    status: PaymentStatus,
    event_type: str,
    payload: Any,
    context: EventContext,
    **fields: Any,
) -> list[str]:
    """Move the payment (checked against the state machine), project it, record the event.

    A payment that pays a request settles the request in the same transaction: the request is
    paid when its payment completes and open again when it fails or is declined."""
    current = PaymentStatus(payment.status)
    if status != current:
        transition(current, status)
    recorded = [
        advance(
            conn,
            payments,
            payment,
            status=status.value,
            event_type=event_type,
            payload=payload,
            context=context,
            **fields,
        )
    ]
    if status in _ENDS_A_REQUEST and status != current:
        recorded += payment_requests.settle_for_payment(
            conn,
            payment.id,
            completed=status is PaymentStatus.COMPLETED,
            failure_code=fields.get("failure_code"),
            context=context,
        )
    return recorded


# Built once: the saga's statements run for every payment. Inserting returns the row as stored,
# which is the payment's answer to its client.
_INSERT_PAYMENT = payments.insert().returning(*payments.c)
_INSERT_REVIEW = payment_reviews.insert()

# The payment outcomes that settle the request it pays, if it pays one.
_ENDS_A_REQUEST = frozenset({PaymentStatus.COMPLETED, PaymentStatus.FAILED, PaymentStatus.DECLINED})


def create_payment(
    conn: Connection,
    *,
    payer_id: str,
    request: PaymentRequest,
    context: EventContext,
    email_index: BlindIndex | None = None,
    checks: SendingChecks | None = None,
) -> tuple[Any, list[str]]:
    """Accept a payment: validate it, store it `pending` and record `payment.requested`.
    A frozen payer or payee is a 403 `account_frozen`; the limits of the payer's KYC level are
    the saga's to check (shared.services.limits), so that the answer comes back at once. A payee
    named by e-mail address is found through `email_index`. With `checks` (a client's request),
    an unverified address and the second factor are checked too (shared.services.sending)."""
    require_currency(request.currency)
    require_at_most(request.amount, MOVE_AMOUNT_MINOR_MAX, "the payment limit")
    payee = find_user(conn, request.to, email_index=email_index)
    if payee is None:
        raise ApiError.not_found("payee_not_found", "no user has this email or id", "to")
    if payee.id == payer_id:
        raise ApiError.invalid("cannot_pay_self", "a payment needs a payee other than the payer", "to")
    require_not_frozen(conn, payer_id)
    require_payee_not_frozen(payee)
    if checks is not None:
        check_sending(conn, payer_id, Money(request.amount, request.currency), checks)
    payment_id = new_id("pay")
    now = context.now
    payment = conn.execute(
        _INSERT_PAYMENT,
        {
            "id": payment_id,
            "payer_id": payer_id,
            "payee_id": payee.id,
            "amount_minor": request.amount,
            "currency": request.currency,
            "note": request.note,
            "status": PaymentStatus.PENDING.value,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        },
    ).one()
    event_id = context.record(
        conn,
        event_type="payment.requested",
        subject=payment_id,
        payload=PaymentRequested(
            payment_id=payment_id,
            payer_id=payer_id,
            payee_id=payee.id,
            amount_minor=request.amount,
            currency=request.currency,
            note=request.note,
        ),
    )
    return payment, [event_id]


def pay_request(
    conn: Connection,
    *,
    payer_id: str,
    request_id: str,
    context: EventContext,
    checks: SendingChecks | None = None,
) -> tuple[Any, list[str]]:
    """The payer pays a request: a payment to the requester through the same saga, linked to
    the request, which waits for it (and refuses a second payment meanwhile)."""
    request = payment_requests.lock_for_action(conn, request_id, payer_id, Action.PAY, context.now)
    payment, recorded = create_payment(
        conn,
        payer_id=payer_id,
        request=PaymentRequest(
            to=request.requester_id, amount=request.amount_minor, currency=request.currency, note=request.note
        ),
        context=context,
        checks=checks,
    )
    recorded += payment_requests.accept_request(conn, request, payment.id, context)
    return payment, recorded


def payment_for_user(conn: Connection, payment_id: str, user_id: str) -> Any:
    """The payment if the user is its payer or payee; a 404 otherwise, whether or not it exists."""
    row = conn.execute(sa.select(payments).where(payments.c.id == payment_id)).first()
    if row is None or user_id not in (row.payer_id, row.payee_id):
        raise ApiError.not_found("payment_not_found", "no such payment", "payment_id")
    return row


# Built once: a payment as its parties read it, with the coarse reason of its review if any.
_PAYMENT_WITH_REVIEW_REASON = (
    sa.select(payments, payment_reviews.c.review_reason)
    .select_from(payments.outerjoin(payment_reviews, payment_reviews.c.payment_id == payments.c.id))
    .where(payments.c.id == sa.bindparam("payment_id"))
)


def payment_seen_by(conn: Connection, payment_id: str, user_id: str) -> PaymentResponse:
    """The payment as one of its parties sees it (a 404 for anyone else). The payer also sees
    the coarse reason it was held for review, if it was; the rules that fired are for
    operators, and the payee is told nothing of the payer's review."""
    row = conn.execute(_PAYMENT_WITH_REVIEW_REASON, {"payment_id": payment_id}).first()
    if row is None or user_id not in (row.payer_id, row.payee_id):
        raise ApiError.not_found("payment_not_found", "no such payment", "payment_id")
    return response_of_row(PaymentResponse, row, review_reason=row.review_reason if user_id == row.payer_id else None)


def parties(payment: Any) -> dict[str, Any]:
    """The fields every payment event carries."""
    return {
        "payment_id": payment.id,
        "payer_id": payment.payer_id,
        "payee_id": payment.payee_id,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
    }


def _fail(conn: Connection, payment: Any, code: FailureCode, context: EventContext, **fields: Any) -> list[str]:
    message = FAILURE_MESSAGES.get(code, code.value)
    return advance_payment(
        conn,
        payment,
        status=PaymentStatus.FAILED,
        event_type="payment.failed",
        payload=PaymentFailed(**parties(payment), failure_code=code.value, failure_message=message),
        context=context,
        failure_code=code.value,
        failure_message=message,
        **fields,
    )


def score_payment(
    conn: Connection,
    payment_id: str,
    assessment: FraudAssessment,
    context: EventContext,
    *,
    ledger: LedgerStore,
    hold_timeout_seconds: int,
) -> list[str]:
    """Apply the fraud decision to a pending payment: approve, hold for review, or decline.

    A payment held for review has its amount reserved at once, as debit-wallet would (the same
    transfer, `<payment_id>:debit`), for `hold_timeout_seconds`, longer than any review lasts:
    the payer cannot spend it meanwhile, and an approval posts that hold rather than placing
    another. A payer whose funds do not cover it never waits in review: the payment fails."""
    payment = lock_payment(conn, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING.value or payment.fraud_score is not None:
        return []  # already scored: a redelivery or a replayed event
    reasons = [reason.value for reason in assessment.reasons]
    common = {**parties(payment), "fraud_score": assessment.score, "reasons": reasons}
    if assessment.decision is FraudDecision.APPROVE:
        return advance_payment(
            conn,
            payment,
            status=PaymentStatus.PENDING,
            event_type="payment.approved",
            payload=PaymentApproved(**common),
            context=context,
            fraud_score=assessment.score,
        )
    if assessment.decision is FraudDecision.REVIEW:
        return _hold_for_review(
            conn, payment, assessment, ledger=ledger, hold_timeout_seconds=hold_timeout_seconds, context=context
        )
    code = FailureCode.FRAUD_DECLINED
    return advance_payment(
        conn,
        payment,
        status=PaymentStatus.DECLINED,
        event_type="payment.declined",
        payload=PaymentDeclined(**common, failure_code=code.value),
        context=context,
        fraud_score=assessment.score,
        failure_code=code.value,
        failure_message=FAILURE_MESSAGES[code],
    )


def _hold_for_review(
    conn: Connection,
    payment: Any,
    assessment: FraudAssessment,
    *,
    ledger: LedgerStore,
    hold_timeout_seconds: int,
    context: EventContext,
) -> list[str]:
    reservation = reservation_of(payment)
    outcome = reserve(conn, reservation, ledger=ledger, timeout_seconds=hold_timeout_seconds, now=context.now)
    if not outcome.ok_or_exists:
        return _fail(conn, payment, failure_for_outcome(outcome), context, fraud_score=assessment.score)
    reasons = [reason.value for reason in assessment.reasons]
    conn.execute(
        _INSERT_REVIEW,
        {
            "payment_id": payment.id,
            "payer_id": payment.payer_id,
            "status": ReviewStatus.OPEN.value,
            "fraud_score": assessment.score,
            "reasons": reasons,
            "review_reason": assessment.review_reason,
            "created_at": context.now,
        },
    )
    return advance_payment(
        conn,
        payment,
        status=PaymentStatus.HELD,
        event_type="payment.held",
        payload=PaymentHeld(
            **parties(payment),
            fraud_score=assessment.score,
            reasons=reasons,
            transfer_id=reservation.pending_id,
            review_reason=assessment.review_reason,
        ),
        context=context,
        fraud_score=assessment.score,
    )


@dataclass(frozen=True)
class Reservation:
    """Money held from one user's wallet in clearing for one saga (a payment, or a refund going
    the other way), on its way to another user's wallet.

    Every transfer of the saga is named after the saga's id (`<id>:debit`, `:post`, `:void`,
    `:credit`), so a retried step is `exists`, never a second movement.
    """

    saga_id: str
    from_user_id: str
    to_user_id: str
    currency: str
    amount_minor: int

    @property
    def pending_id(self) -> str:
        return f"{self.saga_id}:debit"

    @property
    def credit_id(self) -> str:
        return f"{self.saga_id}:credit"

    def _to_clearing(self, suffix: str, flags: TransferFlags, **fields: Any) -> Transfer:
        # The reservation itself (PENDING), or its post or void, which name the same accounts
        # and amount.
        return Transfer(
            id=f"{self.saga_id}:{suffix}",
            debit_account_id=wallet_account_id(self.from_user_id, self.currency),
            credit_account_id=system_account_id(self.currency, "clearing"),
            amount_minor=self.amount_minor,
            currency=self.currency,
            flags=flags,
            **fields,
        )

    def hold(self, timeout_seconds: int) -> Transfer:
        return self._to_clearing("debit", TransferFlags.PENDING, timeout_seconds=timeout_seconds)

    def post(self) -> Transfer:
        return self._to_clearing("post", TransferFlags.POST_PENDING_TRANSFER, pending_id=self.pending_id)

    def void(self) -> Transfer:
        return self._to_clearing("void", TransferFlags.VOID_PENDING_TRANSFER, pending_id=self.pending_id)

    def credit(self) -> Transfer:
        return Transfer(
            id=self.credit_id,
            debit_account_id=system_account_id(self.currency, "clearing"),
            credit_account_id=wallet_account_id(self.to_user_id, self.currency),
            amount_minor=self.amount_minor,
            currency=self.currency,
        )


def reservation_of(payment: Any) -> Reservation:
    """The reservation a payment's money moves through (its hold, whether placed for review or
    by the debit)."""
    return Reservation(payment.id, payment.payer_id, payment.payee_id, payment.currency, payment.amount_minor)


# The outcomes of a transfer that names an account that does not exist (yet).
_ACCOUNT_NOT_FOUND = frozenset({TransferOutcome.DEBIT_ACCOUNT_NOT_FOUND, TransferOutcome.CREDIT_ACCOUNT_NOT_FOUND})


def reserve(
    conn: Connection, reservation: Reservation, *, ledger: LedgerStore, timeout_seconds: int, now: datetime
) -> TransferOutcome:
    """Hold the funds: a pending transfer into clearing that expires after `timeout_seconds`.
    A sender without a wallet in the currency has no funds in it: INSUFFICIENT_FUNDS."""
    hold = reservation.hold(timeout_seconds)
    outcome = ledger.create_transfer(conn, hold, now)
    if outcome in _ACCOUNT_NOT_FOUND:
        # The platform's accounts in a currency exist from its first payment on. A transfer that
        # names a missing account changes nothing, so it is tried before they are ensured (two
        # statements) rather than after, and again once they are.
        ledger.ensure_system_accounts(conn, reservation.currency, now)
        outcome = ledger.create_transfer(conn, hold, now)
    if outcome is TransferOutcome.DEBIT_ACCOUNT_NOT_FOUND:
        return TransferOutcome.INSUFFICIENT_FUNDS
    return outcome


class SettleResult(enum.Enum):
    """What settling a reservation came to."""

    NOT_RESERVED = "not_reserved"  # nothing held yet: only the debited event may settle it
    SETTLED = "settled"  # posted into clearing and credited to the receiver
    EXPIRED = "expired"  # the hold ran out first and released the funds by itself
    REFUSED = "refused"  # the ledger refused the post; the hold was voided

    def failure(self, posted: TransferOutcome) -> FailureCode:
        """Why a saga whose settlement came to this (EXPIRED or REFUSED) fails."""
        if self is SettleResult.EXPIRED:
            return FailureCode.SAGA_TIMEOUT
        if self is SettleResult.REFUSED:
            return failure_for_outcome(posted)
        raise ValueError(f"a settlement that is {self.value} is no failure")


def settle_reservation(
    conn: Connection, reservation: Reservation, *, ledger: LedgerStore, now: datetime
) -> tuple[SettleResult, TransferOutcome]:
    """Post the held funds and credit the receiver, or release them; with the post's outcome."""
    # The post locks the sender's wallet and clearing, the credit then the receiver's wallet: taken
    # call by call, clearing would be held while waiting for a wallet that a debit of the receiver
    # holds while waiting for clearing. Both calls' rows are locked first, in the ledger's order.
    ledger.lock_for(conn, [reservation.post(), reservation.credit()])
    posted = ledger.create_transfer(conn, reservation.post(), now)
    if posted is TransferOutcome.PENDING_TRANSFER_NOT_FOUND:
        return SettleResult.NOT_RESERVED, posted
    if posted is TransferOutcome.PENDING_TRANSFER_EXPIRED:
        return SettleResult.EXPIRED, posted
    if not posted.ok_or_exists:
        voided = ledger.create_transfer(conn, reservation.void(), now)
        if not voided.ok_or_exists:
            raise RuntimeError(f"{reservation.saga_id}: post was {posted.value}, void was {voided.value}")
        return SettleResult.REFUSED, posted
    credited = ledger.create_transfer(conn, reservation.credit(), now)
    if credited is TransferOutcome.CREDIT_ACCOUNT_NOT_FOUND:
        # Money in a currency the receiver does not hold opens a wallet in it. The wallet is
        # nearly always there, and a transfer to a missing account changes nothing: so the
        # credit is tried first, and again once the wallet exists.
        ledger.ensure_wallet(conn, reservation.to_user_id, reservation.currency, now)
        credited = ledger.create_transfer(conn, reservation.credit(), now)
    if not credited.ok_or_exists:
        # Clearing holds exactly what was posted into it: anything else is a bug.
        raise RuntimeError(f"{reservation.saga_id}: crediting the receiver was {credited.value}")
    return SettleResult.SETTLED, posted


def release(conn: Connection, reservation: Reservation, *, ledger: LedgerStore, now: datetime) -> None:
    """Void the hold if it still holds funds (idempotent; an expired hold released them already)."""
    reserved = ledger.get_transfer(conn, reservation.pending_id)
    if reserved is None or reserved.pending_status is not PendingStatus.PENDING:
        return
    outcome = ledger.create_transfer(conn, reservation.void(), now)
    if not (outcome.ok_or_exists or outcome is TransferOutcome.PENDING_TRANSFER_EXPIRED):
        raise RuntimeError(f"{reservation.saga_id}: voiding its reservation was {outcome.value}")


def debit_payment(
    conn: Connection, payment_id: str, *, ledger: LedgerStore, timeout_seconds: int, context: EventContext
) -> list[str]:
    """Reserve the payer's funds: a pending transfer from the payer's wallet to clearing."""
    payment = lock_payment(conn, payment_id)
    # Only an approved payment is debited: pending and scored (held and declined ones moved on).
    if payment is None or payment.status != PaymentStatus.PENDING.value or payment.fraud_score is None:
        return []
    reservation = reservation_of(payment)
    outcome = reserve(conn, reservation, ledger=ledger, timeout_seconds=timeout_seconds, now=context.now)
    if outcome is TransferOutcome.EXISTS_WITH_DIFFERENT_TIMEOUT:
        # The same reservation with a review's timeout: the payment was held and released, and
        # its hold is settled as it is. Never a second hold, never a failure.
        return []
    if outcome.ok_or_exists:
        return advance_payment(
            conn,
            payment,
            status=PaymentStatus.PENDING,
            event_type="payment.debited",
            payload=PaymentDebited(**parties(payment), transfer_id=reservation.pending_id),
            context=context,
        )
    return _fail(conn, payment, failure_for_outcome(outcome), context)


def settle_payment(conn: Connection, payment_id: str, *, ledger: LedgerStore, context: EventContext) -> list[str]:
    """Post the reserved funds to clearing and credit the payee, or release them and fail."""
    payment = lock_payment(conn, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING.value:
        return []
    reservation = reservation_of(payment)
    result, posted = settle_reservation(conn, reservation, ledger=ledger, now=context.now)
    if result is SettleResult.NOT_RESERVED:
        return []  # not debited yet: only a payment.debited event may settle it
    if result is not SettleResult.SETTLED:
        return _fail(conn, payment, result.failure(posted), context)
    return advance_payment(
        conn,
        payment,
        status=PaymentStatus.COMPLETED,
        event_type="payment.completed",
        payload=PaymentCompleted(**parties(payment), transfer_id=reservation.credit_id),
        context=context,
    )


# A payment that has not moved money to its payee yet may still be declined.
_DECLINABLE = frozenset({PaymentStatus.PENDING.value, PaymentStatus.HELD.value})


def close_review(
    conn: Connection,
    payment_id: str,
    *,
    status: ReviewStatus,
    decided_by: str | None,
    reason: str | None,
    now: datetime,
) -> Any:
    """Record the decision on the payment's open review; the review's reason codes, or None
    when it has no open review."""
    return conn.execute(
        payment_reviews.update()
        .where(payment_reviews.c.payment_id == payment_id, payment_reviews.c.status == ReviewStatus.OPEN.value)
        .values(status=status.value, decided_by=decided_by, decision_reason=reason, decided_at=now)
        .returning(payment_reviews.c.reasons)
    ).first()


def decline_payment(
    conn: Connection,
    payment_id: str,
    *,
    code: FailureCode,
    ledger: LedgerStore,
    context: EventContext,
    message: str | None = None,
    decided_by: str | None = None,
) -> list[str]:
    """Decline a payment that is pending or held: void any funds reserved for it (a debit in
    flight, or the hold placed for its review), close its open review, and record
    `payment.declined` with `code`. A payment that moved on meanwhile is left alone (no events).

    Every saga step locks the payment row first, so a settlement racing this decline finds the
    payment declined and does nothing; and the reservation it would have posted is void.
    """
    payment = lock_payment(conn, payment_id)
    if payment is None or payment.status not in _DECLINABLE:
        return []
    release(conn, reservation_of(payment), ledger=ledger, now=context.now)
    message = message or FAILURE_MESSAGES.get(code, code.value)
    review = close_review(
        conn, payment.id, status=ReviewStatus.DECLINED, decided_by=decided_by, reason=message, now=context.now
    )
    return advance_payment(
        conn,
        payment,
        status=PaymentStatus.DECLINED,
        event_type="payment.declined",
        payload=PaymentDeclined(
            **parties(payment),
            fraud_score=payment.fraud_score,
            reasons=list(review.reasons) if review is not None else [],
            failure_code=code.value,
            failure_message=message,
        ),
        context=context,
        failure_code=code.value,
        failure_message=message[:200],
    )


def time_out_payment(conn: Connection, payment_id: str, *, ledger: LedgerStore, context: EventContext) -> list[str]:
    """Compensate a payment that stopped moving: release its reservation and fail it.

    A payment still `pending` after the sweeper's bound lost an event or a function on the way.
    Its reserved funds (if the debit happened) are voided, so that nothing stays in clearing, and
    it fails with `saga_timeout`, which tells the payer. A late event for it then finds it failed
    and does nothing.
    """
    payment = lock_payment(conn, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING.value:
        return []  # it moved on meanwhile
    release(conn, reservation_of(payment), ledger=ledger, now=context.now)
    return _fail(conn, payment, FailureCode.SAGA_TIMEOUT, context)


def stuck_payment_ids(conn: Connection, *, now: datetime, stuck_seconds: int, limit: int) -> list[str]:
    """Payments `pending` whose last change is older than `stuck_seconds` (held ones wait for a
    reviewer, not for the saga, and are left alone: an open review expires on its own clock)."""
    return unmoved_since(
        conn, payments, status=PaymentStatus.PENDING.value, now=now, stuck_seconds=stuck_seconds, limit=limit
    )
