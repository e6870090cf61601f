"""The event store and its outbox.

`record_event` writes an event into the append-only `events` store and its id into `outbox`, in
the caller's transaction, so that a state change and the events it causes commit together; the
same transaction projects it into the transaction history (shared.services.projection).
`publish` sends outbox rows to EventBridge and deletes the ones the bus accepted: right after
commit by the writer, and on a schedule by `relay-outbox` for anything a crash left behind.
Consumers are idempotent on the event id, so an event published twice is handled once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Connection, Engine

from schemas.cloudevent import new_cloud_event
from schemas.events import parse_payload
from shared.adapters.aws import EventPublisher
from shared.adapters.database import as_utc, is_postgresql, read_only
from shared.adapters.tables import events, outbox
from shared.ids import new_event_id
from shared.observability.metrics import event_recorded
from shared.observability.tracing import current_traceparent
from shared.services.projection import ProjectedEvent, project

__all__ = ["record_event", "publish", "cloud_event_of", "OUTBOX_ERROR_LENGTH_MAX"]

logger = logging.getLogger("paystream.outbox")

OUTBOX_ERROR_LENGTH_MAX = 500

# Built once: every step of the saga records events, and a statement built per call is coerced
# and its cache key computed again each time it runs.
_INSERT_EVENT = events.insert()
_INSERT_OUTBOX = outbox.insert()
# On PostgreSQL the event and its outbox row (created when the event occurred, not yet tried)
# are one statement, a round trip fewer for every event; SQLite has no INSERT in a WITH.
_RECORDED = (
    events.insert()
    .values({column.name: sa.bindparam(column.name) for column in events.c})
    .returning(events.c.id, events.c.occurred_at)
    .cte("recorded")
)
_INSERT_EVENT_AND_OUTBOX = outbox.insert().from_select(
    ["event_id", "created_at", "attempts"],
    sa.select(_RECORDED.c.id, _RECORDED.c.occurred_at, sa.literal(0, sa.Integer)),
)


def record_event(
    conn: Connection,
    *,
    event_type: str,
    source_function: str,
    subject: str,
    sequence: int,
    payload: BaseModel,
    now: datetime,
    correlation_id: str | None,
) -> str:
    """Append one event, project it and queue it for publication; returns its id (the
    CloudEvent id)."""
    event_id = new_event_id()
    data = payload.model_dump(mode="json")
    event = {
        "id": event_id,
        "type": event_type,
        "source": source_function,
        "subject": subject,
        "aggregate_sequence": sequence,
        "data": data,
        "correlation_id": correlation_id,
        "occurred_at": now,
        "traceparent": current_traceparent(),
    }
    if is_postgresql(conn):
        conn.execute(_INSERT_EVENT_AND_OUTBOX, event)
    else:
        conn.execute(_INSERT_EVENT, event)
        conn.execute(_INSERT_OUTBOX, {"event_id": event_id, "created_at": now, "attempts": 0})
    project(conn, ProjectedEvent(event_type, subject, data, now))
    event_recorded(conn, event_type=event_type, payload=payload, now=now)
    return event_id


def cloud_event_of(row: Any) -> dict[str, Any]:
    """The structured CloudEvent of a stored event row."""
    return new_cloud_event(
        event_type=row.type,
        source_function=row.source,
        subject=row.subject,
        data=parse_payload(row.type, row.data),
        event_id=row.id,
        time=as_utc(row.occurred_at),
        correlation_id=row.correlation_id,
        traceparent=row.traceparent,
    )


def publish(
    engine: Engine,
    publisher: EventPublisher,
    *,
    event_ids: Sequence[str] | None = None,
    older_than: datetime | None = None,
    limit: int,
) -> tuple[int, int]:
    """Publish outbox rows (the given ids, or the oldest `limit` created before `older_than`).

    Returns (published, failed). Failures stay in the outbox with their error for the relay.
    """
    query = (
        sa.select(events)
        .join(outbox, outbox.c.event_id == events.c.id)
        .order_by(outbox.c.created_at, events.c.subject, events.c.aggregate_sequence)
        .limit(limit)
    )
    if event_ids is not None:
        if not event_ids:
            return 0, 0
        query = query.where(outbox.c.event_id.in_(list(event_ids)))
    if older_than is not None:
        query = query.where(outbox.c.created_at < older_than)
    # No transaction is held across the call to the bus: a slow endpoint must not hold database
    # locks (on SQLite, the one write lock). Two publishers may then send the same row; consumers
    # are idempotent on the event id, so a duplicate is harmless and a loss is impossible.
    with read_only(engine).connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return 0, 0
    result = publisher.publish([cloud_event_of(row) for row in rows])
    with engine.begin() as conn:
        if result.published_ids:
            conn.execute(outbox.delete().where(outbox.c.event_id.in_(list(result.published_ids))))
        for event_id, error in result.failed.items():
            conn.execute(
                outbox.update()
                .where(outbox.c.event_id == event_id)
                .values(
                    attempts=outbox.c.attempts + 1,
                    last_error=str(error)[:OUTBOX_ERROR_LENGTH_MAX],
                )
            )
    if result.failed:
        logger.warning("outbox: %d events not accepted by the bus", len(result.failed))
    return len(result.published_ids), len(result.failed)
