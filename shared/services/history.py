"""The transaction history: the read model, paged with cursors, and one entry's timeline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.tables import events, transactions
from shared.http import ApiError

__all__ = [
    "HistoryFilter",
    "STATEMENT_ROWS_MAX",
    "Statement",
    "get_transaction",
    "list_transactions",
    "statement",
    "timeline",
]

TIMELINE_EVENTS_MAX = 100


def _cursor_row(conn: Connection, user_id: str, transaction_id: str, param: str) -> Any:
    row = conn.execute(
        sa.select(transactions.c.created_at, transactions.c.id).where(
            transactions.c.user_id == user_id, transactions.c.id == transaction_id
        )
    ).first()
    if row is None:
        raise ApiError.invalid("cursor_invalid", f"{param} names no transaction of yours", param)
    return row


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
            conditions.append(transactions.c.currency == self.currency)
        if self.type is not None:
            conditions.append(transactions.c.type == self.type)
        if self.status is not None:
            conditions.append(transactions.c.status == self.status)
        if self.created_from is not None:
            conditions.append(transactions.c.created_at >= self.created_from)
        if self.created_to is not None:
            conditions.append(transactions.c.created_at < self.created_to)
        return conditions


def list_transactions(
    conn: Connection,
    *,
    user_id: str,
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
    where: HistoryFilter = HistoryFilter(),
) -> tuple[list[Any], bool]:
    """A page of the user's history that meets `where`, newest first, and whether more lies
    beyond it. A cursor may name any transaction of the user's, filtered out or not."""
    if starting_after and ending_before:
        raise ApiError.invalid(
            "cursor_conflict", "use starting_after or ending_before, not both", "ending_before"
        )
    key = sa.tuple_(transactions.c.created_at, transactions.c.id)
    query = sa.select(transactions).where(transactions.c.user_id == user_id, *where.conditions())
    newest_first = [transactions.c.created_at.desc(), transactions.c.id.desc()]
    if ending_before:
        cursor = _cursor_row(conn, user_id, ending_before, "ending_before")
        rows = conn.execute(
            query.where(key > sa.tuple_(sa.literal(cursor.created_at), sa.literal(cursor.id)))
            .order_by(transactions.c.created_at.asc(), transactions.c.id.asc())
            .limit(limit + 1)
        ).all()
        return list(reversed(rows[:limit])), len(rows) > limit
    if starting_after:
        cursor = _cursor_row(conn, user_id, starting_after, "starting_after")
        query = query.where(key < sa.tuple_(sa.literal(cursor.created_at), sa.literal(cursor.id)))
    rows = conn.execute(query.order_by(*newest_first).limit(limit + 1)).all()
    return rows[:limit], len(rows) > limit


def get_transaction(conn: Connection, *, user_id: str, transaction_id: str) -> Any:
    """One entry of the user's history, or a 404 (also for another user's transaction)."""
    row = conn.execute(
        sa.select(transactions).where(
            transactions.c.user_id == user_id, transactions.c.id == transaction_id
        )
    ).first()
    if row is None:
        raise ApiError.not_found("transaction_not_found", "no such transaction", "transaction_id")
    return row


def timeline(conn: Connection, subject: str) -> list[Any]:
    """The events of one payment or top-up, in the order they happened."""
    return conn.execute(
        sa.select(events)
        .where(events.c.subject == subject)
        .order_by(events.c.aggregate_sequence)
        .limit(TIMELINE_EVENTS_MAX)
    ).all()


# A statement longer than this is refused: ask for a shorter range.
STATEMENT_ROWS_MAX = 10_000
# Movements that changed the posted balance, and in which direction.
_POSTED_STATUSES = ("completed", "succeeded")
_SIGN = {"credit": 1, "debit": -1}


@dataclass(frozen=True)
class Statement:
    currency: str
    opening_balance_minor: int
    rows: list[Any]  # transactions rows, oldest first
    closing_balance_minor: int


def _posted(user_id: str, currency: str) -> list[Any]:
    return [
        transactions.c.user_id == user_id,
        transactions.c.currency == currency,
        transactions.c.status.in_(_POSTED_STATUSES),
    ]


def statement(
    conn: Connection, *, user_id: str, currency: str, created_from: datetime, created_to: datetime
) -> Statement:
    """The posted movements of one wallet in [from, to), with the balances around them."""
    signed = sa.case((transactions.c.direction == "credit", transactions.c.amount_minor),
                     else_=-transactions.c.amount_minor)
    opening = conn.execute(
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
    closing = int(opening) + sum(_SIGN[row.direction] * row.amount_minor for row in rows)
    return Statement(currency, int(opening), rows, closing)
