"""Withdrawals: money leaves a wallet for a linked bank account.

1. `create_withdrawal` (the `wallets` function) reserves the funds at once, a pending transfer
   wallet → payouts with a timeout, stores the withdrawal `pending` and records
   `withdrawal.requested`.
2. `pay_out_withdrawal` (the `payout` function, on that event) asks the gateway to pay the bank
   account, idempotently on the withdrawal id, then posts the reservation (`withdrawal.succeeded`)
   or voids it, returning the funds (`withdrawal.failed`).
3. `time_out_withdrawal` (sweep-sagas) fails a withdrawal still pending after the saga bound and
   voids its reservation; if the reservation's own timeout passed first, the ledger's expiry has
   already returned the funds.

Every step locks the withdrawal and acts only on a `pending` one, so a redelivered event or a
sweep racing the payout changes nothing twice; the gateway's idempotency key makes sure a bank
account is never paid twice for one withdrawal.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from schemas.api import WithdrawalRequest
from schemas.events import WithdrawalFailed, WithdrawalRequested, WithdrawalSucceeded
from shared.adapters.card_gateway import SandboxGateway
from shared.adapters.ledger_store import LedgerStore, system_account_id, wallet_account_id
from shared.adapters.tables import funding_sources, withdrawals
from shared.domain.fx import ExchangeRates
from shared.domain.ledger import PendingStatus, Transfer, TransferFlags, TransferOutcome
from shared.http import ApiError
from shared.ids import new_id
from shared.privacy import PersonalDataVault
from shared.services.checks import (
    MOVE_AMOUNT_MINOR_MAX,
    require_at_most,
    require_currency,
    require_funding_source,
)
from shared.services.context import EventContext, advance, read_row, unmoved_since
from shared.services.limits import check_withdrawal

__all__ = [
    "create_withdrawal",
    "pay_out_withdrawal",
    "stuck_withdrawal_ids",
    "time_out_withdrawal",
    "withdrawal_for_user",
]

PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
# A withdrawal moves once, from pending to one of its final states.
_NEXT_STATUSES = {PENDING: frozenset({SUCCEEDED, FAILED})}
FAILURE_MESSAGES = {
    "no_account": "the bank has no such account; the funds were returned",
    "account_closed": "the bank account is closed; the funds were returned",
    "withdrawal_timeout": "the payout did not complete in time; the funds were returned",
    "reservation_expired": "the reservation expired before the payout; the funds were returned",
}


def _reserve_id(withdrawal_id: str) -> str:
    return f"{withdrawal_id}:reserve"


def _reservation(withdrawal: Any, transfer_id: str, flags: TransferFlags, **fields: Any) -> Transfer:
    """The withdrawal's transfer from the wallet to payouts: the reservation itself (PENDING),
    or its post or void, which name the same accounts and amount."""
    return Transfer(
        id=transfer_id,
        debit_account_id=wallet_account_id(withdrawal.user_id, withdrawal.currency),
        credit_account_id=system_account_id(withdrawal.currency, "payouts"),
        amount_minor=withdrawal.amount_minor,
        currency=withdrawal.currency,
        flags=flags,
        **fields,
    )


def create_withdrawal(
    conn: Connection,
    *,
    user_id: str,
    request: WithdrawalRequest,
    ledger: LedgerStore,
    timeout_seconds: int,
    rates: ExchangeRates,
    context: EventContext,
) -> tuple[Any, list[str]]:
    """Reserve the funds and accept the withdrawal (`pending`), or refuse it with nothing moved:
    a frozen account is a 403 `account_frozen`, a withdrawal over the user's `withdrawal_24h`
    limit a 422 `limit_exceeded` (shared.services.limits, which locks the user's row first)."""
    require_currency(request.currency)
    require_at_most(request.amount, MOVE_AMOUNT_MINOR_MAX, "the withdrawal limit")
    check_withdrawal(
        conn, user_id=user_id, amount_minor=request.amount, currency=request.currency, rates=rates, now=context.now
    )
    source = require_funding_source(
        conn,
        user_id=user_id,
        funding_source_id=request.funding_source_id,
        kind="bank_account",
        refusal=("funding_source_not_a_bank_account", "withdrawals are paid out to a linked bank account, not a card"),
    )
    now = context.now
    withdrawal_id = new_id("wdr")
    ledger.ensure_system_accounts(conn, request.currency, now)
    reserve = Transfer(
        id=_reserve_id(withdrawal_id),
        debit_account_id=wallet_account_id(user_id, request.currency),
        credit_account_id=system_account_id(request.currency, "payouts"),
        amount_minor=request.amount,
        currency=request.currency,
        flags=TransferFlags.PENDING,
        timeout_seconds=timeout_seconds,
    )
    outcome = ledger.create_transfer(conn, reserve, now)
    if outcome in (TransferOutcome.INSUFFICIENT_FUNDS, TransferOutcome.DEBIT_ACCOUNT_NOT_FOUND):
        raise ApiError.invalid(
            "insufficient_funds",
            f"the {request.currency} wallet's available balance is below the amount",
            "amount",
            status=402,
        )
    if outcome is not TransferOutcome.OK:
        raise RuntimeError(f"withdrawal {withdrawal_id}: the reservation was {outcome.value}")
    conn.execute(
        withdrawals.insert().values(
            id=withdrawal_id,
            user_id=user_id,
            funding_source_id=source.id,
            amount_minor=request.amount,
            currency=request.currency,
            status=PENDING,
            version=1,
            created_at=now,
            updated_at=now,
        )
    )
    event_id = context.record(
        conn,
        event_type="withdrawal.requested",
        subject=withdrawal_id,
        payload=WithdrawalRequested(
            withdrawal_id=withdrawal_id,
            user_id=user_id,
            funding_source_id=source.id,
            amount_minor=request.amount,
            currency=request.currency,
            transfer_id=reserve.id,
        ),
    )
    row = conn.execute(sa.select(withdrawals).where(withdrawals.c.id == withdrawal_id)).one()
    return row, [event_id]


def withdrawal_for_user(conn: Connection, withdrawal_id: str, user_id: str) -> Any:
    """The user's withdrawal, or a 404 (also for another user's)."""
    row = conn.execute(
        sa.select(withdrawals).where(withdrawals.c.id == withdrawal_id, withdrawals.c.user_id == user_id)
    ).first()
    if row is None:
        raise ApiError.not_found("withdrawal_not_found", "no such withdrawal", "withdrawal_id")
    return row


def _lock(conn: Connection, withdrawal_id: str) -> Any:
    return read_row(conn, withdrawals, withdrawal_id, lock=True)


def _parties(withdrawal: Any) -> dict[str, Any]:
    return {
        "withdrawal_id": withdrawal.id,
        "user_id": withdrawal.user_id,
        "funding_source_id": withdrawal.funding_source_id,
        "amount_minor": withdrawal.amount_minor,
        "currency": withdrawal.currency,
    }


def _finish(
    conn: Connection,
    withdrawal: Any,
    *,
    status: str,
    payload: Any,
    context: EventContext,
    **fields: Any,
) -> str:
    """Move a pending withdrawal to its final status and record the event."""
    if status not in _NEXT_STATUSES.get(withdrawal.status, frozenset()):
        raise RuntimeError(f"withdrawal {withdrawal.id} cannot go from {withdrawal.status} to {status}")
    return advance(
        conn,
        withdrawals,
        withdrawal,
        status=status,
        event_type=f"withdrawal.{status}",
        payload=payload,
        context=context,
        **fields,
    )


def _fail(conn: Connection, withdrawal: Any, code: str, context: EventContext) -> str:
    payload = WithdrawalFailed(**_parties(withdrawal), failure_code=code, failure_message=FAILURE_MESSAGES[code])
    return _finish(conn, withdrawal, status=FAILED, payload=payload, context=context, failure_code=code)


def _void(conn: Connection, withdrawal: Any, ledger: LedgerStore, now: datetime) -> TransferOutcome:
    void = _reservation(
        withdrawal,
        f"{withdrawal.id}:void",
        TransferFlags.VOID_PENDING_TRANSFER,
        pending_id=_reserve_id(withdrawal.id),
    )
    return ledger.create_transfer(conn, void, now)


def pay_out_withdrawal(
    conn: Connection,
    withdrawal_id: str,
    *,
    ledger: LedgerStore,
    gateway: SandboxGateway,
    privacy: PersonalDataVault,
    context: EventContext,
) -> list[str]:
    """Pay the bank account and post the reservation, or void it and fail the withdrawal."""
    withdrawal = _lock(conn, withdrawal_id)
    if withdrawal is None or withdrawal.status != PENDING:
        return []  # finished already: a redelivery, or the sweep got there first
    now = context.now
    reserved = ledger.get_transfer(conn, _reserve_id(withdrawal.id))
    if reserved is None:
        raise RuntimeError(f"withdrawal {withdrawal.id} has no reservation")
    if reserved.pending_status is not PendingStatus.PENDING:
        # Expired (released by the ledger): paying now would spend funds no longer reserved.
        return [_fail(conn, withdrawal, "reservation_expired", context)]
    sealed: str = conn.execute(
        sa.select(funding_sources.c.gateway_token).where(funding_sources.c.id == withdrawal.funding_source_id)
    ).scalar_one()
    token = privacy.open(conn, withdrawal.user_id, "funding_sources.gateway_token", sealed)
    if token is None:
        # The owner was erased while the withdrawal waited: nowhere to pay to; the money returns.
        return [_fail(conn, withdrawal, "funding_source_unavailable", context)]
    payout = gateway.payout(
        conn,
        token=token,
        amount_minor=withdrawal.amount_minor,
        currency=withdrawal.currency,
        idempotency_key=withdrawal.id,
        now=now,
    )
    if not payout.paid:
        if payout.failure_code is None:
            raise RuntimeError(f"withdrawal {withdrawal.id}: the gateway failed the payout without a code")
        voided = _void(conn, withdrawal, ledger, now)
        if voided not in (TransferOutcome.OK, TransferOutcome.EXISTS):
            raise RuntimeError(f"withdrawal {withdrawal.id}: voiding its reservation was {voided.value}")
        return [_fail(conn, withdrawal, payout.failure_code, context)]
    post = _reservation(
        withdrawal,
        f"{withdrawal.id}:post",
        TransferFlags.POST_PENDING_TRANSFER,
        pending_id=_reserve_id(withdrawal.id),
    )
    posted = ledger.create_transfer(conn, post, now)
    if posted not in (TransferOutcome.OK, TransferOutcome.EXISTS):
        # Checked live above in this transaction: anything else is a bug, and raising undoes
        # the payout record with it.
        raise RuntimeError(f"withdrawal {withdrawal.id}: posting its reservation was {posted.value}")
    payload = WithdrawalSucceeded(**_parties(withdrawal), payout_id=payout.payout_id)
    return [
        _finish(
            conn,
            withdrawal,
            status=SUCCEEDED,
            payload=payload,
            context=context,
            payout_id=payout.payout_id,
        )
    ]


def time_out_withdrawal(
    conn: Connection, withdrawal_id: str, *, ledger: LedgerStore, context: EventContext
) -> list[str]:
    """Fail a withdrawal that stopped moving and return its funds (`withdrawal_timeout`)."""
    withdrawal = _lock(conn, withdrawal_id)
    if withdrawal is None or withdrawal.status != PENDING:
        return []
    reserved = ledger.get_transfer(conn, _reserve_id(withdrawal.id))
    if reserved is not None and reserved.pending_status is PendingStatus.PENDING:
        outcome = _void(conn, withdrawal, ledger, context.now)
        # Expired meanwhile: the ledger's expiry returned the funds already.
        if outcome not in (TransferOutcome.OK, TransferOutcome.EXISTS, TransferOutcome.PENDING_TRANSFER_EXPIRED):
            raise RuntimeError(f"withdrawal {withdrawal.id}: voiding its reservation was {outcome.value}")
    return [_fail(conn, withdrawal, "withdrawal_timeout", context)]


def stuck_withdrawal_ids(conn: Connection, *, now: datetime, stuck_seconds: int, limit: int) -> list[str]:
    """Withdrawals still `pending` whose last change is older than `stuck_seconds`."""
    return unmoved_since(conn, withdrawals, status=PENDING, now=now, stuck_seconds=stuck_seconds, limit=limit)
