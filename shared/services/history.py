"""The transaction history: the read model, paged with cursors, and one entry's timeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.tables import events, transactions
from shared.http import ApiError
from shared.services.paging import newest_first_page

__all__ = [
    "EVERY_TRANSACTION",
    "HistoryFilter",
    "STATEMENT_ROWS_MAX",
    "Statement",
    "get_transaction",
    "list_transactions",
    "signed_amount_minor",
    "statement",
    "timeline",
]

TIMELINE_EVENTS_MAX = 100


def _touches(currency: str) -> Any:
    # A conversion touches two wallets: its own currency and its counter currency.
    return sa.or_(transactions.c.currency == currency, transactions.c.counter_currency == currency)


@dataclass(frozen=True)
class HistoryFilter:
    """Conditions every listed transaction meets; None means any."""

    currency: str | None = None
    type: str | None = None
    status: str | None = None
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive

    def conditions(self) -> list[Any]:
        conditions = []
        if self.currency is not None:
            conditions.append(_touches(self.currency))
        if self.type is not None:
            conditions.append(transactions.c.type == self.type)
        if self.status is not None:
            conditions.append(transactions.c.status == self.status)
        if self.created_from is not None:
            conditions.append(transactions.c.created_at >= self.created_from)
        if self.created_to is not None:
            conditions.append(transactions.c.created_at < self.created_to)
        return conditions


# No condition: every transaction of the user's. Frozen, so one instance serves every call.
EVERY_TRANSACTION = HistoryFilter()


def list_transactions(
    conn: Connection,
    *,
    user_id: str,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
    where: HistoryFilter = EVERY_TRANSACTION,
) -> tuple[Sequence[Any], bool]:
    """A page of the user's history that meets `where`, newest first, and whether more lies
    beyond it. A cursor may name any transaction of the user's, filtered out or not."""
    return newest_first_page(
        conn,
        transactions,
        owner=[transactions.c.user_id == user_id],
        filters=where.conditions(),
        limit=limit,
        starting_after=starting_after,
        ending_before=ending_before,
        noun="transaction",
    )


def get_transaction(conn: Connection, *, user_id: str, transaction_id: str) -> Any:
    """One entry of the user's history, or a 404 (also for another user's transaction)."""
    row = conn.execute(
        sa.select(transactions).where(transactions.c.user_id == user_id, transactions.c.id == transaction_id)
    ).first()
    if row is None:
        raise ApiError.not_found("transaction_not_found", "no such transaction", "transaction_id")
    return row


def timeline(conn: Connection, subject: str) -> Sequence[Any]:
    """The events of one payment or top-up, in the order they happened."""
    return conn.execute(
        sa.select(events)
        .where(events.c.subject == subject)
        .order_by(events.c.aggregate_sequence)
        .limit(TIMELINE_EVENTS_MAX)
    ).all()


# A statement longer than this is refused: ask for a shorter range.
STATEMENT_ROWS_MAX = 10_000
# Movements that changed the posted balance, and in which direction. A refunded payment's money
# did move (the refund is a movement of its own); a payment request never moves money itself.
_POSTED_STATUSES = ("completed", "succeeded", "partially_refunded", "refunded")
_NOT_MONEY_TYPES = ("request",)
_SIGN = {"credit": 1, "debit": -1}


@dataclass(frozen=True)
class Statement:
    currency: str
    opening_balance_minor: int
    rows: Sequence[Any]  # transactions rows, oldest first
    closing_balance_minor: int


def _posted(user_id: str, currency: str) -> list[Any]:
    return [
        transactions.c.user_id == user_id,
        _touches(currency),
        transactions.c.status.in_(_POSTED_STATUSES),
        transactions.c.type.not_in(_NOT_MONEY_TYPES),
    ]


def signed_amount_minor(row: Any, currency: str) -> int:
    """What the movement did to the user's `currency` wallet: + credited, - debited. A
    conversion debits its currency and credits its counter currency."""
    if row.currency == currency:
        return _SIGN[row.direction] * row.amount_minor
    if row.counter_currency == currency:
        return row.counter_amount_minor
    raise ValueError(f"transaction {row.id} does not touch {currency}")


def statement(
    conn: Connection, *, user_id: str, currency: str, created_from: datetime, created_to: datetime
) -> Statement:
    """The posted movements of one wallet in [from, to), with the balances around them."""
    signed = sa.case(
        (transactions.c.currency != currency, transactions.c.counter_amount_minor),
        (transactions.c.direction == "credit", transactions.c.amount_minor),
        else_=-transactions.c.amount_minor,
    )
    opening: int | Decimal = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(signed), 0)).where(
            *_posted(user_id, currency), transactions.c.created_at < created_from
        )
    ).scalar_one()
    rows = conn.execute(
        sa.select(transactions)
        .where(
            *_posted(user_id, currency),
            transactions.c.created_at >= created_from,
            transactions.c.created_at < created_to,
        )
        .order_by(transactions.c.created_at, transactions.c.id)
        .limit(STATEMENT_ROWS_MAX + 1)
    ).all()
    if len(rows) > STATEMENT_ROWS_MAX:
        raise ApiError.invalid(
            "statement_too_long", f"more than {STATEMENT_ROWS_MAX} movements: choose a shorter range", "to"
        )
    closing = int(opening) + sum(signed_amount_minor(row, currency) for row in rows)
    return Statement(currency, int(opening), rows, closing)
