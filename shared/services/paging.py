"""Cursor paging, newest first, over any table with `created_at` and `id` columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.http import ApiError

__all__ = ["newest_first_page"]


def _cursor_row(conn: Connection, table: sa.Table, owner: list[Any], item_id: str, param: str, noun: str) -> Any:
    row = conn.execute(sa.select(table.c.created_at, table.c.id).where(*owner, table.c.id == item_id)).first()
    if row is None:
        raise ApiError.invalid("cursor_invalid", f"{param} names no {noun} of yours", param)
    return row


def newest_first_page(
    conn: Connection,
    table: sa.Table,
    *,
    owner: list[Any],
    filters: Sequence[Any] = (),
    limit: int,
    starting_after: str | None,
    ending_before: str | None,
    noun: str,
) -> tuple[Sequence[Any], bool]:
    """A page of the rows the caller owns (`owner`) that meet `filters`, newest first, and
    whether more lie beyond it. A cursor may name any row the caller owns, filtered out or not;
    one that names none is a 400 (`noun` says what the rows are, in its message)."""
    if starting_after and ending_before:
        raise ApiError.invalid("cursor_conflict", "use starting_after or ending_before, not both", "ending_before")
    key = sa.tuple_(table.c.created_at, table.c.id)
    query = sa.select(table).where(*owner, *filters)
    if ending_before:
        cursor = _cursor_row(conn, table, owner, ending_before, "ending_before", noun)
        rows = conn.execute(
            query.where(key > sa.tuple_(sa.literal(cursor.created_at), sa.literal(cursor.id)))
            .order_by(table.c.created_at.asc(), table.c.id.asc())
            .limit(limit + 1)
        ).all()
        return list(reversed(rows[:limit])), len(rows) > limit
    if starting_after:
        cursor = _cursor_row(conn, table, owner, starting_after, "starting_after", noun)
        query = query.where(key < sa.tuple_(sa.literal(cursor.created_at), sa.literal(cursor.id)))
    rows = conn.execute(query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(limit + 1)).all()
    return rows[:limit], len(rows) > limit
