"""Payment requests: one user asks another for money; the payer pays, declines or lets it expire.

Each change is one database transaction that moves the request along its state machine
(shared.domain.payment_request) and records its event, which projects it into both people's
history. Paying creates an ordinary payment (shared.services.payments.pay_request); when that
payment ends, `settle_for_payment` marks the request paid, or open again, in the same
transaction as the payment's own last step.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.api import RequestMoneyRequest
from schemas.events import (
    PaymentRequestAccepted,
    PaymentRequestCancelled,
    PaymentRequestCreated,
    PaymentRequestDeclined,
    PaymentRequestExpired,
    PaymentRequestPaid,
    PaymentRequestReopened,
)
from shared.adapters.tables import payment_requests
from shared.domain.payment_request import (
    Action,
    Party,
    PaymentRequestStatus,
    is_expired,
    party_for,
    target_of,
    transition,
)
from shared.http import ApiError
from shared.ids import new_id
from shared.privacy import BlindIndex
from shared.services.checks import MOVE_AMOUNT_MINOR_MAX, require_at_most, require_currency
from shared.services.context import EventContext, advance, read_row
from shared.services.identity import find_user
from shared.services.paging import newest_first_page

__all__ = [
    "accept_request",
    "answer_request",
    "create_request",
    "expire_request",
    "expired_request_ids",
    "list_requests",
    "lock_for_action",
    "request_for_user",
    "settle_for_payment",
]

_EVENTS = {
    PaymentRequestStatus.ACCEPTED: ("payment_request.accepted", PaymentRequestAccepted),
    PaymentRequestStatus.PAID: ("payment_request.paid", PaymentRequestPaid),
    PaymentRequestStatus.OPEN: ("payment_request.reopened", PaymentRequestReopened),
    PaymentRequestStatus.DECLINED: ("payment_request.declined", PaymentRequestDeclined),
    PaymentRequestStatus.CANCELLED: ("payment_request.cancelled", PaymentRequestCancelled),
    PaymentRequestStatus.EXPIRED: ("payment_request.expired", PaymentRequestExpired),
}


def _parties(row: Any) -> dict[str, Any]:
    return {
        "payment_request_id": row.id,
        "requester_id": row.requester_id,
        "payer_id": row.payer_id,
        "amount_minor": row.amount_minor,
        "currency": row.currency,
    }


def _read(conn: Connection, request_id: str, *, lock: bool) -> Any:
    return read_row(conn, payment_requests, request_id, lock=lock)


def _advance(
    conn: Connection, row: Any, status: PaymentRequestStatus, context: EventContext, **fields: Any
) -> list[str]:
    """Move the request (checked against the state machine) and record the event of the move.
    `fields` are the event's own fields; `payment_id` is also stored on the request."""
    transition(PaymentRequestStatus(row.status), status)
    stored = {"payment_id": fields["payment_id"]} if "payment_id" in fields else {}
    event_type, payload = _EVENTS[status]
    return [
        advance(
            conn,
            payment_requests,
            row,
            status=status.value,
            event_type=event_type,
            payload=payload(**_parties(row), **fields),
            context=context,
            **stored,
        )
    ]


def create_request(
    conn: Connection,
    *,
    requester_id: str,
    body: RequestMoneyRequest,
    context: EventContext,
    email_index: BlindIndex | None = None,
) -> tuple[Any, list[str]]:
    """Ask `body.payer` for money: store the request `open` and record `payment_request.created`.
    A payer named by e-mail address is found through `email_index`."""
    require_currency(body.currency)
    require_at_most(body.amount, MOVE_AMOUNT_MINOR_MAX, "the payment limit")
    payer = find_user(conn, body.payer, email_index=email_index)
    if payer is None:
        raise ApiError.not_found("payer_not_found", "no user has this email or id", "from")
    if payer.id == requester_id:
        raise ApiError.invalid("cannot_request_from_self", "a request needs a payer other than you", "from")
    request_id = new_id("prq")
    now = context.now
    expires_at = now + timedelta(days=body.expires_in_days)
    conn.execute(
        payment_requests.insert().values(
            id=request_id,
            requester_id=requester_id,
            payer_id=payer.id,
            amount_minor=body.amount,
            currency=body.currency,
            note=body.note,
            status=PaymentRequestStatus.OPEN.value,
            expires_at=expires_at,
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    row = _read(conn, request_id, lock=False)
    event_id = context.record(
        conn,
        event_type="payment_request.created",
        subject=request_id,
        payload=PaymentRequestCreated(**_parties(row), note=body.note, expires_at=expires_at),
    )
    return row, [event_id]


def request_for_user(conn: Connection, request_id: str, user_id: str) -> Any:
    """The request if the user is its requester or payer; a 404 otherwise, whether or not it exists."""
    row = _read(conn, request_id, lock=False)
    if row is None or user_id not in (row.requester_id, row.payer_id):
        raise ApiError.not_found("payment_request_not_found", "no such payment request", "payment_request_id")
    return row


def list_requests(
    conn: Connection, *, user_id: str, limit: int, starting_after: str | None, ending_before: str | None
) -> tuple[Sequence[Any], bool]:
    """The requests the user made or was asked to pay, newest first, a page at a time."""
    return newest_first_page(
        conn,
        payment_requests,
        owner=[sa.or_(payment_requests.c.requester_id == user_id, payment_requests.c.payer_id == user_id)],
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        noun="payment request",
    )


def lock_for_action(conn: Connection, request_id: str, user_id: str, action: Action, now: datetime) -> Any:
    """The request, locked, if `user_id` may take `action` on it now; the contract's error if not:
    404 for a stranger, 403 for the wrong party, 409 for a request that is no longer open."""
    request_for_user(conn, request_id, user_id)
    row = _read(conn, request_id, lock=True)
    party = Party.PAYER if user_id == row.payer_id else Party.REQUESTER
    if party is not party_for(action):
        who = "payer" if party_for(action) is Party.PAYER else "requester"
        raise ApiError.forbidden("payment_request_wrong_party", f"only the request's {who} can {action.value} it")
    status = PaymentRequestStatus(row.status)
    if is_expired(status, row.expires_at, now):
        raise ApiError.invalid("payment_request_expired", "this payment request has expired", status=409)
    if status in (PaymentRequestStatus.ACCEPTED, PaymentRequestStatus.PAID):
        raise ApiError.invalid(
            "payment_request_already_paid",
            "this payment request is paid or being paid"
            if status is PaymentRequestStatus.ACCEPTED
            else "this payment request is paid",
            status=409,
        )
    if status is not PaymentRequestStatus.OPEN:
        raise ApiError.invalid("payment_request_not_open", f"this payment request is {status.value}", status=409)
    return row


def accept_request(conn: Connection, row: Any, payment_id: str, context: EventContext) -> list[str]:
    """The payer paid: `payment_id` is on its way, and the request waits for it."""
    return _advance(conn, row, target_of(Action.PAY), context, payment_id=payment_id)


def answer_request(
    conn: Connection, request_id: str, *, user_id: str, action: Action, context: EventContext
) -> tuple[Any, list[str]]:
    """Decline (the payer) or cancel (the requester) an open request."""
    if action is Action.PAY:
        raise ValueError("a request is paid through shared.services.payments.pay_request")
    row = lock_for_action(conn, request_id, user_id, action, context.now)
    recorded = _advance(conn, row, target_of(action), context)
    return _read(conn, request_id, lock=False), recorded


# Built once: every payment that ends asks whether it pays a request.
_ACCEPTED_FOR_PAYMENT = sa.select(payment_requests.c.id).where(
    payment_requests.c.payment_id == sa.bindparam("payment_id"),
    payment_requests.c.status == PaymentRequestStatus.ACCEPTED.value,
)


def settle_for_payment(
    conn: Connection, payment_id: str, *, completed: bool, failure_code: str | None, context: EventContext
) -> list[str]:
    """The payment a request is waiting for ended: the request is paid, or open again. Nothing
    happens for a payment that pays no request."""
    found = conn.execute(_ACCEPTED_FOR_PAYMENT, {"payment_id": payment_id}).first()
    if found is None:
        return []
    row = _read(conn, found.id, lock=True)
    if completed:
        return _advance(conn, row, PaymentRequestStatus.PAID, context, payment_id=payment_id)
    return _advance(
        conn,
        row,
        PaymentRequestStatus.OPEN,
        context,
        payment_id=payment_id,
        failure_code=failure_code or "payment_failed",
    )


# Open requests an erasure closes at once; an account with more is a bug or an attack.
OPEN_REQUESTS_CLOSED_MAX = 1_000


def close_requests_of(conn: Connection, user_id: str, context: EventContext) -> list[str]:
    """Close every open request the user is a party of, as they leave (an erasure): cancelled
    when they asked, declined when they were asked. Nobody pays a closed account. The events."""
    rows = conn.execute(
        sa.select(payment_requests)
        .where(
            payment_requests.c.status == PaymentRequestStatus.OPEN.value,
            sa.or_(payment_requests.c.requester_id == user_id, payment_requests.c.payer_id == user_id),
        )
        .order_by(payment_requests.c.id)
        .limit(OPEN_REQUESTS_CLOSED_MAX)
        .with_for_update()
    ).all()
    recorded: list[str] = []
    for row in rows:
        action = Action.CANCEL if row.requester_id == user_id else Action.DECLINE
        recorded += _advance(conn, row, target_of(action), context)
    return recorded


def expired_request_ids(conn: Connection, *, now: datetime, limit: int) -> list[str]:
    """Open requests whose time ran out, soonest first."""
    return list(
        conn.execute(
            sa.select(payment_requests.c.id)
            .where(
                payment_requests.c.status == PaymentRequestStatus.OPEN.value,
                payment_requests.c.expires_at <= now,
            )
            .order_by(payment_requests.c.expires_at)
            .limit(limit)
        ).scalars()
    )


def expire_request(conn: Connection, request_id: str, context: EventContext) -> list[str]:
    """Mark an open request past its expiry `expired` (nothing if it moved on meanwhile)."""
    row = _read(conn, request_id, lock=True)
    if row is None or not (
        row.status == PaymentRequestStatus.OPEN.value
        and is_expired(PaymentRequestStatus.OPEN, row.expires_at, context.now)
    ):
        return []
    return _advance(conn, row, PaymentRequestStatus.EXPIRED, context, expires_at=row.expires_at)
