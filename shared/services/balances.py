"""A user's balances as clients and operators see them: one entry per currency wallet."""

from __future__ import annotations

from sqlalchemy import Connection

from schemas.api import WalletResponse
from shared.adapters.ledger_store import LedgerStore

__all__ = ["wallet_balances"]


def wallet_balances(conn: Connection, user_id: str, *, ledger: LedgerStore) -> list[WalletResponse]:
    """Each wallet of `user_id`, where `pending` is what payments in flight hold back from
    `available`."""
    return [
        WalletResponse(currency=w.currency, available=w.available, pending=w.debits_pending)
        for w in ledger.wallets_of(conn, user_id)
    ]
