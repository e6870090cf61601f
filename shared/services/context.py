"""What every use case that records events is told about the work it does, and the two ways it
records them: the first event of a new aggregate, and a move of a versioned row with its event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Connection

from shared.adapters.database import is_postgresql
from shared.adapters.outbox import record_event

__all__ = ["EventContext", "advance", "read_row", "unmoved_since"]


@dataclass(frozen=True)
class EventContext:
    """Who is producing the next events, when, and for which request (and, in a consumer, the
    CloudEvent it handles: its id and the short name of its type)."""

    producer: str
    now: datetime
    correlation_id: str | None
    cause_id: str | None = None
    cause_type: str | None = None

    def record(self, conn: Connection, *, event_type: str, subject: str, payload: BaseModel, sequence: int = 1) -> str:
        """Record the `sequence`th event of `subject` (1: the one that creates it); its id."""
        return record_event(
            conn,
            event_type=event_type,
            source_function=self.producer,
            subject=subject,
            sequence=sequence,
            payload=payload,
            now=self.now,
            correlation_id=self.correlation_id,
        )


def read_row(conn: Connection, table: sa.Table, row_id: str, *, lock: bool) -> Any:
    """`table`'s row with that id, or None. With `lock`, it stays locked until the transaction
    ends, so that one change at a time is made to it (on PostgreSQL; SQLite's BEGIN IMMEDIATE
    already serializes every writer)."""
    return conn.execute(_select_by_id(table, lock and is_postgresql(conn)), {"row_id": row_id}).first()


# The statements below are built once per table (a handful), not per call: a statement object
# built anew is coerced and its cache key computed again every time it runs.
@cache
def _select_by_id(table: sa.Table, lock: bool) -> sa.Select[Any]:
    query = sa.select(table).where(table.c.id == sa.bindparam("row_id"))
    return query.with_for_update() if lock else query


@cache
def _update_version(table: sa.Table) -> sa.Update:
    # The columns to set are the keys of the parameters it runs with.
    return table.update().where(table.c.id == sa.bindparam("row_id"), table.c.version == sa.bindparam("row_version"))


def advance(
    conn: Connection,
    table: sa.Table,
    row: Any,
    *,
    status: str,
    event_type: str,
    payload: BaseModel,
    context: EventContext,
    **fields: Any,
) -> str:
    """Move `row` of `table` to `status` (with `fields`) as its next version and record the
    event that says so; its id. The row must be as it was read: a concurrent change is a bug
    of the caller's locking, so it raises rather than overwrite."""
    version = row.version + 1
    updated = conn.execute(
        _update_version(table),
        {
            "row_id": row.id,
            "row_version": row.version,
            "status": status,
            "version": version,
            "updated_at": context.now,
            **fields,
        },
    )
    if updated.rowcount != 1:
        raise RuntimeError(f"{table.name} row {row.id} changed concurrently")
    return context.record(conn, event_type=event_type, subject=row.id, payload=payload, sequence=version)


def unmoved_since(
    conn: Connection, table: sa.Table, *, status: str, now: datetime, stuck_seconds: int, limit: int
) -> list[str]:
    """Ids of `table`'s rows still in `status` whose last change is older than `stuck_seconds`,
    the longest unmoved first: the sagas a sweeper compensates."""
    return list(
        conn.execute(
            sa.select(table.c.id)
            .where(table.c.status == status, table.c.updated_at < now - timedelta(seconds=stuck_seconds))
            .order_by(table.c.updated_at)
            .limit(limit)
        ).scalars()
    )
