"""The payment saga: accept, score, debit, settle. Each step is one database transaction that
moves the payment along its state machine, writes the ledger, updates the read model and
records the next event in the outbox.

Steps are safe to run twice: a step whose payment has already moved on does nothing, and ledger
transfer ids are derived from the payment id, so a retried debit is `exists`, never a second debit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.api import PaymentRequest
from schemas.events import (
    PaymentApproved,
    PaymentCompleted,
    PaymentDebited,
    PaymentDeclined,
    PaymentFailed,
    PaymentHeld,
    PaymentRequested,
)
from shared.adapters.database import as_utc, is_postgresql
from shared.adapters.ledger_store import LedgerStore, system_account_id, wallet_account_id
from shared.adapters.outbox import record_event
from shared.adapters.tables import payments, transactions, users
from shared.domain.fraud import FraudAssessment, FraudDecision
from shared.domain.ledger import PendingStatus, Transfer, TransferFlags, TransferOutcome
from shared.domain.money import is_supported_currency
from shared.domain.payment import FailureCode, PaymentStatus, failure_for_outcome, transition
from shared.http import ApiError
from shared.ids import new_id

__all__ = [
    "PAYMENT_AMOUNT_MINOR_MAX",
    "account_age_seconds",
    "EventContext",
    "create_payment",
    "payment_for_user",
    "score_payment",
    "debit_payment",
    "settle_payment",
    "stuck_payment_ids",
    "time_out_payment",
]

PAYMENT_AMOUNT_MINOR_MAX = 10**12
FAILURE_MESSAGES = {
    FailureCode.INSUFFICIENT_FUNDS: "the payer's available balance is too low",
    FailureCode.FRAUD_DECLINED: "the payment was declined by risk review",
    FailureCode.LEDGER_REJECTED: "the ledger refused the transfer",
    FailureCode.SAGA_TIMEOUT: "the payment did not complete in time",
}


@dataclass(frozen=True)
class EventContext:
    """Who is producing the next events, when, and for which request."""

    producer: str
    now: datetime
    correlation_id: str | None


def _lock_payment(conn: Connection, payment_id: str) -> Any:
    query = sa.select(payments).where(payments.c.id == payment_id)
    if is_postgresql(conn):
        # One saga step at a time per payment; SQLite's BEGIN IMMEDIATE already serializes.
        query = query.with_for_update()
    return conn.execute(query).first()


def _advance(
    conn: Connection,
    payment: Any,
    *,
    status: PaymentStatus,
    event_type: str,
    payload: Any,
    context: EventContext,
    **fields: Any,
) -> str:
    """Move the payment (checked against the state machine), project it, record the event."""
    current = PaymentStatus(payment.status)
    if status != current:
        transition(current, status)
    version = payment.version + 1
    updated = conn.execute(
        payments.update()
        .where(payments.c.id == payment.id, payments.c.version == payment.version)
        .values(status=status.value, version=version, updated_at=context.now, **fields)
    )
    if updated.rowcount != 1:
        raise RuntimeError(f"payment {payment.id} changed concurrently")
    conn.execute(
        transactions.update()
        .where(transactions.c.id == payment.id)
        .values(status=status.value, failure_code=fields.get("failure_code"), updated_at=context.now)
    )
    return record_event(
        conn,
        event_type=event_type,
        source_function=context.producer,
        subject=payment.id,
        sequence=version,
        payload=payload,
        now=context.now,
        correlation_id=context.correlation_id,
    )


def _find_payee(conn: Connection, to: str) -> Any:
    to = to.strip()
    condition = users.c.email == to.lower() if "@" in to else users.c.id == to
    return conn.execute(sa.select(users).where(condition)).first()


def create_payment(
    conn: Connection, *, payer_id: str, request: PaymentRequest, context: EventContext
) -> tuple[Any, list[str]]:
    """Accept a payment: validate it, store it `pending` and record `payment.requested`."""
    if not is_supported_currency(request.currency):
        raise ApiError.invalid(
            "currency_not_supported", f"{request.currency} is not a supported currency", "currency"
        )
    if request.amount > PAYMENT_AMOUNT_MINOR_MAX:
        raise ApiError.invalid("amount_too_large", "the amount is above the payment limit", "amount")
    payee = _find_payee(conn, request.to)
    if payee is None:
        raise ApiError.not_found("payee_not_found", "no user has this email or id", "to")
    if payee.id == payer_id:
        raise ApiError.invalid("cannot_pay_self", "a payment needs a payee other than the payer", "to")
    payment_id = new_id("pay")
    now = context.now
    conn.execute(
        payments.insert().values(
            id=payment_id,
            payer_id=payer_id,
            payee_id=payee.id,
            amount_minor=request.amount,
            currency=request.currency,
            note=request.note,
            status=PaymentStatus.PENDING.value,
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    for user_id, direction, counterparty in ((payer_id, "debit", payee.id), (payee.id, "credit", payer_id)):
        conn.execute(
            transactions.insert().values(
                id=payment_id,
                user_id=user_id,
                type="payment",
                direction=direction,
                amount_minor=request.amount,
                currency=request.currency,
                status=PaymentStatus.PENDING.value,
                counterparty_id=counterparty,
                description=request.note,
                created_at=now,
                updated_at=now,
            )
        )
    event_id = record_event(
        conn,
        event_type="payment.requested",
        source_function=context.producer,
        subject=payment_id,
        sequence=1,
        payload=PaymentRequested(
            payment_id=payment_id,
            payer_id=payer_id,
            payee_id=payee.id,
            amount_minor=request.amount,
            currency=request.currency,
            note=request.note,
        ),
        now=now,
        correlation_id=context.correlation_id,
    )
    return conn.execute(sa.select(payments).where(payments.c.id == payment_id)).one(), [event_id]


def payment_for_user(conn: Connection, payment_id: str, user_id: str) -> Any:
    """The payment if the user is its payer or payee; a 404 otherwise, whether or not it exists."""
    row = conn.execute(sa.select(payments).where(payments.c.id == payment_id)).first()
    if row is None or user_id not in (row.payer_id, row.payee_id):
        raise ApiError.not_found("payment_not_found", "no such payment", "payment_id")
    return row


def _parties(payment: Any) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "payer_id": payment.payer_id,
        "payee_id": payment.payee_id,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
    }


def _fail(conn: Connection, payment: Any, code: FailureCode, context: EventContext) -> str:
    message = FAILURE_MESSAGES.get(code, code.value)
    return _advance(
        conn,
        payment,
        status=PaymentStatus.FAILED,
        event_type="payment.failed",
        payload=PaymentFailed(**_parties(payment), failure_code=code.value, failure_message=message),
        context=context,
        failure_code=code.value,
        failure_message=message,
    )


def account_age_seconds(conn: Connection, user_id: str, now: datetime) -> int:
    created = conn.execute(sa.select(users.c.created_at).where(users.c.id == user_id)).scalar_one()
    return max(0, int((now - as_utc(created)).total_seconds()))


def score_payment(
    conn: Connection, payment_id: str, assessment: FraudAssessment, context: EventContext
) -> list[str]:
    """Apply the fraud decision to a pending payment: approve, hold for review, or decline."""
    payment = _lock_payment(conn, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING.value or payment.fraud_score is not None:
        return []  # already scored: a redelivery or a replayed event
    reasons = [reason.value for reason in assessment.reasons]
    common = {**_parties(payment), "fraud_score": assessment.score, "reasons": reasons}
    if assessment.decision is FraudDecision.APPROVE:
        event_id = _advance(
            conn, payment, status=PaymentStatus.PENDING, event_type="payment.approved",
            payload=PaymentApproved(**common), context=context, fraud_score=assessment.score,
        )
    elif assessment.decision is FraudDecision.REVIEW:
        event_id = _advance(
            conn, payment, status=PaymentStatus.HELD, event_type="payment.held",
            payload=PaymentHeld(**common), context=context, fraud_score=assessment.score,
        )
    else:
        code = FailureCode.FRAUD_DECLINED
        event_id = _advance(
            conn, payment, status=PaymentStatus.DECLINED, event_type="payment.declined",
            payload=PaymentDeclined(**common, failure_code=code.value), context=context,
            fraud_score=assessment.score, failure_code=code.value,
            failure_message=FAILURE_MESSAGES[code],
        )
    return [event_id]


def debit_transfer_id(payment_id: str) -> str:
    return f"{payment_id}:debit"


def _reservation(payment: Any, transfer_id: str, flags: TransferFlags, **fields: Any) -> Transfer:
    """A transfer of the payment's amount from the payer's wallet to clearing: the reservation
    itself (PENDING), or its post or void, which name the same accounts and amount."""
    return Transfer(
        id=transfer_id,
        debit_account_id=wallet_account_id(payment.payer_id, payment.currency),
        credit_account_id=system_account_id(payment.currency, "clearing"),
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        flags=flags,
        **fields,
    )


def _void_reservation(conn: Connection, payment: Any, *, ledger: LedgerStore, now: datetime) -> TransferOutcome:
    """Release the payment's reservation (idempotent: the void's id is the payment's)."""
    void = _reservation(
        payment,
        f"{payment.id}:void",
        TransferFlags.VOID_PENDING_TRANSFER,
        pending_id=debit_transfer_id(payment.id),
    )
    return ledger.create_transfer(conn, void, now)


def debit_payment(
    conn: Connection, payment_id: str, *, ledger: LedgerStore, timeout_seconds: int, context: EventContext
) -> list[str]:
    """Reserve the payer's funds: a pending transfer from the payer's wallet to clearing."""
    payment = _lock_payment(conn, payment_id)
    # Only an approved payment is debited: pending and scored (held and declined ones moved on).
    if payment is None or payment.status != PaymentStatus.PENDING.value or payment.fraud_score is None:
        return []
    ledger.ensure_system_accounts(conn, payment.currency, context.now)
    transfer = _reservation(
        payment, debit_transfer_id(payment.id), TransferFlags.PENDING, timeout_seconds=timeout_seconds
    )
    outcome = ledger.create_transfer(conn, transfer, context.now)
    if outcome in (TransferOutcome.OK, TransferOutcome.EXISTS):
        return [
            _advance(
                conn, payment, status=PaymentStatus.PENDING, event_type="payment.debited",
                payload=PaymentDebited(**_parties(payment), transfer_id=transfer.id), context=context,
            )
        ]
    if outcome is TransferOutcome.DEBIT_ACCOUNT_NOT_FOUND:
        # No wallet in this currency means no funds in it.
        return [_fail(conn, payment, FailureCode.INSUFFICIENT_FUNDS, context)]
    return [_fail(conn, payment, failure_for_outcome(outcome), context)]


def settle_payment(conn: Connection, payment_id: str, *, ledger: LedgerStore, context: EventContext) -> list[str]:
    """Post the reserved funds to clearing and credit the payee, or release them and fail."""
    payment = _lock_payment(conn, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING.value:
        return []
    now = context.now
    pending_id = debit_transfer_id(payment.id)
    post = _reservation(
        payment, f"{payment.id}:post", TransferFlags.POST_PENDING_TRANSFER, pending_id=pending_id
    )
    posted = ledger.create_transfer(conn, post, now)
    if posted is TransferOutcome.PENDING_TRANSFER_NOT_FOUND:
        return []  # not debited yet: only a payment.debited event may settle it
    if posted not in (TransferOutcome.OK, TransferOutcome.EXISTS):
        if posted is TransferOutcome.PENDING_TRANSFER_EXPIRED:
            return [_fail(conn, payment, FailureCode.SAGA_TIMEOUT, context)]
        voided = _void_reservation(conn, payment, ledger=ledger, now=now)
        if voided not in (TransferOutcome.OK, TransferOutcome.EXISTS):
            raise RuntimeError(f"payment {payment.id}: post was {posted.value}, void was {voided.value}")
        return [_fail(conn, payment, failure_for_outcome(posted), context)]
    # A payment in a currency the payee does not hold opens a wallet in it.
    ledger.ensure_wallet(conn, payment.payee_id, payment.currency, now)
    credit = Transfer(
        id=f"{payment.id}:credit",
        debit_account_id=system_account_id(payment.currency, "clearing"),
        credit_account_id=wallet_account_id(payment.payee_id, payment.currency),
        amount_minor=payment.amount_minor,
        currency=payment.currency,
    )
    credited = ledger.create_transfer(conn, credit, now)
    if credited not in (TransferOutcome.OK, TransferOutcome.EXISTS):
        # Clearing holds exactly what was posted into it: anything else is a bug.
        raise RuntimeError(f"payment {payment.id}: crediting the payee was {credited.value}")
    return [
        _advance(
            conn, payment, status=PaymentStatus.COMPLETED, event_type="payment.completed",
            payload=PaymentCompleted(**_parties(payment), transfer_id=credit.id), context=context,
        )
    ]


def time_out_payment(
    conn: Connection, payment_id: str, *, ledger: LedgerStore, context: EventContext
) -> list[str]:
    """Compensate a payment that stopped moving: release its reservation and fail it.

    A payment still `pending` after the sweeper's bound lost an event or a function on the way.
    Its reserved funds (if the debit happened) are voided, so that nothing stays in clearing, and
    it fails with `saga_timeout`, which tells the payer. A late event for it then finds it failed
    and does nothing.
    """
    payment = _lock_payment(conn, payment_id)
    if payment is None or payment.status != PaymentStatus.PENDING.value:
        return []  # it moved on meanwhile
    pending_id = debit_transfer_id(payment.id)
    reserved = ledger.get_transfer(conn, pending_id)
    if reserved is not None and reserved.pending_status is PendingStatus.PENDING:
        outcome = _void_reservation(conn, payment, ledger=ledger, now=context.now)
        # Expired meanwhile: the expiry released the funds already.
        if outcome not in (TransferOutcome.OK, TransferOutcome.EXISTS, TransferOutcome.PENDING_TRANSFER_EXPIRED):
            raise RuntimeError(f"payment {payment.id}: voiding its reservation was {outcome.value}")
    return [_fail(conn, payment, FailureCode.SAGA_TIMEOUT, context)]


def stuck_payment_ids(conn: Connection, *, now: datetime, stuck_seconds: int, limit: int) -> list[str]:
    """Payments `pending` whose last change is older than `stuck_seconds` (held ones wait for a
    reviewer, not for the saga, and are left alone)."""
    return list(
        conn.execute(
            sa.select(payments.c.id)
            .where(
                payments.c.status == PaymentStatus.PENDING.value,
                payments.c.updated_at < now - timedelta(seconds=stuck_seconds),
            )
            .order_by(payments.c.updated_at)
            .limit(limit)
        ).scalars()
    )
