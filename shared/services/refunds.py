"""Refunds: the payee of a completed payment returns all or part of it, through a saga of its own.

    POST .../refunds ──► refund.requested ──► debit-wallet ──► refund.debited ──► settle ──► refund.completed
                                                   │ pending: payee → clearing        │ post, clearing → payer
                                                   └► refund.failed                   └► void → refund.failed

What may still be refunded is checked under the payment's row lock and counts the refunds in
flight as well as the completed ones, so that concurrent requests can never return more than was
paid. Every step locks the payment first and the refund second (one lock order, no deadlock).
A completed refund moves the payment to partially_refunded or refunded, with its own event, in
the same transaction. Ledger transfer ids derive from the refund id (shared.services.payments
.Reservation), so a retried step is `exists`, never a second movement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.events import (
    PaymentPartiallyRefunded,
    PaymentRefunded,
    RefundCompleted,
    RefundDebited,
    RefundFailed,
    RefundRequested,
)
from shared.adapters.ledger_store import LedgerStore
from shared.adapters.tables import refunds
from shared.domain.payment import (
    REFUNDABLE_STATUSES,
    FailureCode,
    PaymentStatus,
    RefundStatus,
    failure_for_outcome,
    refund_transition,
    refundable_minor,
    status_after_refunds,
)
from shared.http import ApiError
from shared.ids import new_id
from shared.services.context import EventContext, advance, read_row, unmoved_since
from shared.services.payments import (
    Reservation,
    SettleResult,
    advance_payment,
    lock_payment,
    parties,
    payment_for_user,
    release,
    reserve,
    settle_reservation,
)

__all__ = [
    "REFUNDS_PER_PAYMENT_MAX",
    "debit_refund",
    "list_refunds",
    "refund_for_user",
    "request_refund",
    "settle_refund",
    "stuck_refund_ids",
    "time_out_refund",
]

# A payment takes at most this many refunds (failed ones included), which also bounds its list.
REFUNDS_PER_PAYMENT_MAX = 100
FAILURE_MESSAGES = {
    FailureCode.INSUFFICIENT_FUNDS: "the payee's available balance is too low",
    FailureCode.LEDGER_REJECTED: "the ledger refused the transfer",
    FailureCode.SAGA_TIMEOUT: "the refund did not complete in time",
}
_PAYMENT_EVENTS = {
    PaymentStatus.PARTIALLY_REFUNDED: ("payment.partially_refunded", PaymentPartiallyRefunded),
    PaymentStatus.REFUNDED: ("payment.refunded", PaymentRefunded),
}


def _read(conn: Connection, refund_id: str, *, lock: bool = False) -> Any:
    return read_row(conn, refunds, refund_id, lock=lock)


def _parties(refund: Any) -> dict[str, Any]:
    return {
        "refund_id": refund.id,
        "payment_id": refund.payment_id,
        "payer_id": refund.payer_id,
        "payee_id": refund.payee_id,
        "amount_minor": refund.amount_minor,
        "currency": refund.currency,
    }


def _reservation_of(refund: Any) -> Reservation:
    # The money goes back: from the payment's payee to its payer.
    return Reservation(refund.id, refund.payee_id, refund.payer_id, refund.currency, refund.amount_minor)


def _total(conn: Connection, payment_id: str, statuses: list[RefundStatus]) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(refunds.c.amount_minor), 0)).where(
                refunds.c.payment_id == payment_id, refunds.c.status.in_([s.value for s in statuses])
            )
        ).scalar_one()
    )


def _advance(
    conn: Connection,
    refund: Any,
    *,
    status: RefundStatus,
    event_type: str,
    payload: Any,
    context: EventContext,
    **fields: Any,
) -> list[str]:
    """Move the refund (checked against its state machine) and record the event."""
    if status.value != refund.status:
        refund_transition(RefundStatus(refund.status), status)
    return [
        advance(
            conn,
            refunds,
            refund,
            status=status.value,
            event_type=event_type,
            payload=payload,
            context=context,
            **fields,
        )
    ]


def _fail(conn: Connection, refund: Any, code: FailureCode, context: EventContext) -> list[str]:
    message = FAILURE_MESSAGES.get(code, code.value)
    return _advance(
        conn,
        refund,
        status=RefundStatus.FAILED,
        event_type="refund.failed",
        payload=RefundFailed(**_parties(refund), failure_code=code.value, failure_message=message),
        context=context,
        failure_code=code.value,
        failure_message=message,
    )


def request_refund(
    conn: Connection, *, payment_id: str, user_id: str, amount_minor: int | None, context: EventContext
) -> tuple[Any, list[str]]:
    """The payee asks to return `amount_minor` (or all that is left) of a completed payment."""
    payment_for_user(conn, payment_id, user_id)  # a 404 for anyone but its two parties
    payment = lock_payment(conn, payment_id)
    if user_id != payment.payee_id:
        raise ApiError.forbidden("refund_not_allowed", "only the payee of a payment can refund it")
    if PaymentStatus(payment.status) not in REFUNDABLE_STATUSES:
        raise ApiError.invalid(
            "payment_not_refundable", f"a {payment.status} payment cannot be refunded", "payment_id", status=409
        )
    count = conn.execute(
        sa.select(sa.func.count()).select_from(refunds).where(refunds.c.payment_id == payment_id)
    ).scalar_one()
    if count >= REFUNDS_PER_PAYMENT_MAX:
        raise ApiError.invalid(
            "too_many_refunds", f"a payment takes at most {REFUNDS_PER_PAYMENT_MAX} refunds", "payment_id"
        )
    claimed = _total(conn, payment_id, [s for s in RefundStatus if s.claims_the_amount])
    remaining = refundable_minor(payment.amount_minor, claimed)
    if remaining == 0:
        raise ApiError.invalid("refund_exceeds_payment", "the whole payment is refunded or being refunded", "amount")
    amount = remaining if amount_minor is None else amount_minor
    if amount > remaining:
        raise ApiError.invalid("refund_exceeds_payment", f"at most {remaining} can still be refunded", "amount")
    refund_id = new_id("ref")
    now = context.now
    conn.execute(
        refunds.insert().values(
            id=refund_id,
            payment_id=payment.id,
            payer_id=payment.payer_id,
            payee_id=payment.payee_id,
            amount_minor=amount,
            currency=payment.currency,
            status=RefundStatus.PENDING.value,
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    refund = _read(conn, refund_id)
    event_id = context.record(
        conn, event_type="refund.requested", subject=refund_id, payload=RefundRequested(**_parties(refund))
    )
    return refund, [event_id]


def _lock_both(conn: Connection, refund_id: str) -> tuple[Any, Any]:
    """The refund's payment and the refund, locked in that order; (None, None) if no refund."""
    found = _read(conn, refund_id)
    if found is None:
        return None, None
    payment = lock_payment(conn, found.payment_id)
    return payment, _read(conn, refund_id, lock=True)


def debit_refund(
    conn: Connection, refund_id: str, *, ledger: LedgerStore, timeout_seconds: int, context: EventContext
) -> list[str]:
    """Reserve the refund from the payee's wallet: a pending transfer to clearing."""
    _, refund = _lock_both(conn, refund_id)
    if refund is None or refund.status != RefundStatus.PENDING.value:
        return []
    reservation = _reservation_of(refund)
    if ledger.get_transfer(conn, reservation.pending_id) is not None:
        return []  # reserved already: a replayed event
    outcome = reserve(conn, reservation, ledger=ledger, timeout_seconds=timeout_seconds, now=context.now)
    if outcome.ok_or_exists:
        return _advance(
            conn,
            refund,
            status=RefundStatus.PENDING,
            event_type="refund.debited",
            payload=RefundDebited(**_parties(refund), transfer_id=reservation.pending_id),
            context=context,
        )
    return _fail(conn, refund, failure_for_outcome(outcome), context)


def settle_refund(conn: Connection, refund_id: str, *, ledger: LedgerStore, context: EventContext) -> list[str]:
    """Post the reserved refund and credit the payer, then move the payment to partially_refunded
    or refunded; or release the reservation and fail the refund."""
    payment, refund = _lock_both(conn, refund_id)
    if refund is None or refund.status != RefundStatus.PENDING.value:
        return []
    reservation = _reservation_of(refund)
    result, posted = settle_reservation(conn, reservation, ledger=ledger, now=context.now)
    if result is SettleResult.NOT_RESERVED:
        return []  # not debited yet: only a refund.debited event may settle it
    if result is not SettleResult.SETTLED:
        return _fail(conn, refund, result.failure(posted), context)
    recorded = _advance(
        conn,
        refund,
        status=RefundStatus.COMPLETED,
        event_type="refund.completed",
        payload=RefundCompleted(**_parties(refund), transfer_id=reservation.credit_id),
        context=context,
    )
    refunded = _total(conn, refund.payment_id, [RefundStatus.COMPLETED])
    status = status_after_refunds(payment.amount_minor, refunded)
    event_type, payload = _PAYMENT_EVENTS[status]
    return recorded + advance_payment(
        conn,
        payment,
        status=status,
        event_type=event_type,
        payload=payload(**parties(payment), refund_id=refund.id, refunded_minor=refunded),
        context=context,
    )


def time_out_refund(conn: Connection, refund_id: str, *, ledger: LedgerStore, context: EventContext) -> list[str]:
    """Compensate a refund that stopped moving: release its reservation and fail it."""
    _, refund = _lock_both(conn, refund_id)
    if refund is None or refund.status != RefundStatus.PENDING.value:
        return []
    release(conn, _reservation_of(refund), ledger=ledger, now=context.now)
    return _fail(conn, refund, FailureCode.SAGA_TIMEOUT, context)


def stuck_refund_ids(conn: Connection, *, now: datetime, stuck_seconds: int, limit: int) -> list[str]:
    """Refunds still pending whose last change is older than `stuck_seconds`."""
    return unmoved_since(
        conn, refunds, status=RefundStatus.PENDING.value, now=now, stuck_seconds=stuck_seconds, limit=limit
    )


def refund_for_user(conn: Connection, refund_id: str, user_id: str) -> Any:
    """The refund if the user is a party to its payment; a 404 otherwise."""
    row = _read(conn, refund_id)
    if row is None or user_id not in (row.payer_id, row.payee_id):
        raise ApiError.not_found("refund_not_found", "no such refund", "refund_id")
    return row


def list_refunds(conn: Connection, payment_id: str, user_id: str) -> Sequence[Any]:
    """Every refund of the payment (at most REFUNDS_PER_PAYMENT_MAX), oldest first."""
    payment_for_user(conn, payment_id, user_id)
    return conn.execute(
        sa.select(refunds)
        .where(refunds.c.payment_id == payment_id)
        .order_by(refunds.c.created_at, refunds.c.id)
        .limit(REFUNDS_PER_PAYMENT_MAX)
    ).all()
