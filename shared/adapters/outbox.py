"""The event store and its outbox.

`record_event` writes an event into the append-only `events` store and its id into `outbox`, in
the caller's transaction, so that a state change and the events it causes commit together; the
same transaction projects it into the transaction history (shared.services.projection).
`publish` sends outbox rows to EventBridge and deletes the ones the bus accepted: on a schedule,
by `relay-outbox`, for anything a crash or an outage left behind.

Right after commit the writer's process publishes what it recorded itself: `RecordedEvents`
keeps the CloudEvents a transaction recorded from its commit until the background publisher
takes them, so that publishing reads nothing back from the database (`publish_recorded`), and
the rows of published events are deleted many at a time (`forget`), a moment later. Until then
they are young rows, which the relay leaves alone (`outbox_relay_age_seconds`). Consumers are
idempotent on the event id, so an event published twice is handled once.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, event

from schemas.cloudevent import new_cloud_event
from schemas.events import parse_payload
from shared.adapters.aws import EventPublisher, PublishResult
from shared.adapters.database import as_utc, is_postgresql, read_only
from shared.adapters.tables import events, outbox
from shared.ids import new_event_id
from shared.observability.metrics import event_recorded
from shared.observability.tracing import current_traceparent
from shared.services.projection import ProjectedEvent, project

__all__ = [
    "OUTBOX_ERROR_LENGTH_MAX",
    "RECORDED_EVENTS_MAX",
    "RecordedEvents",
    "cloud_event_of",
    "forget",
    "publish",
    "publish_recorded",
    "record_event",
]

logger = logging.getLogger("paystream.outbox")

OUTBOX_ERROR_LENGTH_MAX = 500
# CloudEvents kept between their transaction's commit and their publication; beyond this the
# oldest are dropped, and the publisher reads those back from the outbox instead.
RECORDED_EVENTS_MAX = 10_000
# Where a transaction keeps the CloudEvents it records until it commits or rolls back.
_RECORDED_KEY = "paystream_outbox_recorded"

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
    traceparent = current_traceparent()
    event = {
        "id": event_id,
        "type": event_type,
        "source": source_function,
        "subject": subject,
        "aggregate_sequence": sequence,
        "data": data,
        "correlation_id": correlation_id,
        "occurred_at": now,
        "traceparent": traceparent,
    }
    if is_postgresql(conn):
        conn.execute(_INSERT_EVENT_AND_OUTBOX, event)
    else:
        conn.execute(_INSERT_EVENT, event)
        conn.execute(_INSERT_OUTBOX, {"event_id": event_id, "created_at": now, "attempts": 0})
    project(conn, ProjectedEvent(event_type, subject, data, now))
    event_recorded(conn, event_type=event_type, payload=payload, now=now)
    conn.info.setdefault(_RECORDED_KEY, {})[event_id] = new_cloud_event(
        event_type=event_type,
        source_function=source_function,
        subject=subject,
        data=payload,
        event_id=event_id,
        time=now,
        correlation_id=correlation_id,
        traceparent=traceparent,
    )
    return event_id


class RecordedEvents:
    """The CloudEvents this process's transactions recorded, from their commit until the
    publisher takes them: at most `RECORDED_EVENTS_MAX`, the oldest dropped first."""

    def __init__(self, size_max: int = RECORDED_EVENTS_MAX) -> None:
        self._events: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._size_max = size_max
        self._lock = threading.Lock()

    def watch(self, engine: Engine) -> None:
        """Keep what each transaction on `engine` recorded once it commits; forget it if it
        rolls back. (SQLAlchemy's commit event comes just before the database's commit: an
        event kept for a commit that then fails is never submitted, and ages out.)"""

        @event.listens_for(engine, "commit")
        def _committed(conn: Connection) -> None:
            recorded = _take_recorded(conn)
            if recorded:
                with self._lock:
                    self._events.update(recorded)
                    while len(self._events) > self._size_max:
                        self._events.popitem(last=False)

        @event.listens_for(engine, "rollback")
        def _rolled_back(conn: Connection) -> None:
            _take_recorded(conn)

    def take(self, event_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The CloudEvents of `event_ids` still kept, removed from the keeping."""
        with self._lock:
            return {event_id: self._events.pop(event_id) for event_id in event_ids if event_id in self._events}


def _take_recorded(conn: Connection) -> dict[str, dict[str, Any]]:
    # A connection the database dropped mid-transaction is invalidated; reading its `info`
    # would raise over the error that invalidated it (see metrics._take_pending).
    if conn.invalidated:
        return {}
    return conn.info.pop(_RECORDED_KEY, {})


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
    older_than: datetime | None = None,
    limit: int,
) -> tuple[int, int]:
    """Publish the oldest `limit` outbox rows (created before `older_than`, if given) and delete
    the ones the bus accepted: the relay's pass.

    Returns (published, failed). Failures stay in the outbox with their error for the next pass.
    """
    query = (
        sa.select(events)
        .join(outbox, outbox.c.event_id == events.c.id)
        .order_by(outbox.c.created_at, events.c.subject, events.c.aggregate_sequence)
        .limit(limit)
    )
    if older_than is not None:
        query = query.where(outbox.c.created_at < older_than)
    # No transaction is held across the call to the bus: a slow endpoint must not hold database
    # locks (on SQLite, the one write lock). Two publishers may then send the same row; consumers
    # are idempotent on the event id, so a duplicate is harmless and a loss is impossible.
    with read_only(engine).connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        return 0, 0
    result = _publish(engine, publisher, [cloud_event_of(row) for row in rows])
    forget(engine, result.published_ids)
    return len(result.published_ids), len(result.failed)


def publish_recorded(
    engine: Engine,
    publisher: EventPublisher,
    event_ids: Sequence[str],
    recorded: Mapping[str, dict[str, Any]],
) -> tuple[str, ...]:
    """Publish committed events, given by id, that this process recorded: from `recorded`
    where it still has them, read back from the outbox otherwise. Returns the ids the bus
    accepted, whose rows the caller deletes (`forget`); failures are noted on their rows."""
    missing = [event_id for event_id in event_ids if event_id not in recorded]
    cloud_events = [recorded[event_id] for event_id in event_ids if event_id in recorded]
    if missing:
        with read_only(engine).connect() as conn:
            rows = conn.execute(
                sa.select(events).join(outbox, outbox.c.event_id == events.c.id).where(outbox.c.event_id.in_(missing))
            ).all()
        cloud_events += [cloud_event_of(row) for row in rows]
    if not cloud_events:
        return ()
    return _publish(engine, publisher, cloud_events).published_ids


def forget(engine: Engine, event_ids: Sequence[str]) -> None:
    """Delete the outbox rows of published events, in one statement."""
    if event_ids:
        with engine.begin() as conn:
            conn.execute(outbox.delete().where(outbox.c.event_id.in_(list(event_ids))))


def _publish(engine: Engine, publisher: EventPublisher, cloud_events: list[dict[str, Any]]) -> PublishResult:
    """Put the CloudEvents on the bus, in the outbox's order; note each failure on its row."""
    result = publisher.publish(cloud_events)
    if result.failed:
        with engine.begin() as conn:
            for event_id, error in result.failed.items():
                conn.execute(
                    outbox.update()
                    .where(outbox.c.event_id == event_id)
                    .values(
                        attempts=outbox.c.attempts + 1,
                        last_error=str(error)[:OUTBOX_ERROR_LENGTH_MAX],
                    )
                )
        logger.warning("outbox: %d events not accepted by the bus", len(result.failed))
    return result
