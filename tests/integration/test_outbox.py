"""The outbox hands what a transaction recorded to this process's publisher when it commits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest
import sqlalchemy as sa

from schemas.events import PaymentRequested
from shared.adapters.aws import EventPublisher
from shared.adapters.database import create_engine
from shared.adapters.outbox import RecordedEvents, cloud_event_of, publish_recorded, record_event
from shared.adapters.tables import events, outbox

pytestmark = pytest.mark.integration


class _Bus:
    """An EventPublisher stand-in that accepts everything and keeps what it was given."""

    def __init__(self) -> None:
        self.sent: list[dict] = []

    def publish(self, cloud_events):
        from shared.adapters.aws import PublishResult

        self.sent += cloud_events
        return PublishResult(published_ids=tuple(e["id"] for e in cloud_events), failures=())


def _record(conn, payment_id: str) -> str:
    return record_event(
        conn,
        event_type="payment.requested",
        source_function="payments",
        subject=payment_id,
        sequence=1,
        payload=PaymentRequested(
            payment_id=payment_id, payer_id="usr_a", payee_id="usr_b", amount_minor=1250, currency="EUR", note="rent"
        ),
        now=datetime(2026, 12, 4, 18, 0, 0, 123456, tzinfo=UTC),
        correlation_id="req_outbox_test_1",
    )


def test_a_committed_event_is_kept_exactly_as_the_outbox_would_give_it(db_url: str) -> None:
    engine = create_engine(db_url)
    recorded = RecordedEvents()
    recorded.watch(engine)
    # WHEN a transaction records an event and commits
    with engine.begin() as conn:
        event_id = _record(conn, "pay_outbox_kept")
    # THEN the process keeps it, equal to what the relay would read back from the store
    kept = recorded.take([event_id])
    with engine.connect() as conn:
        row = conn.execute(sa.select(events).where(events.c.id == event_id)).one()
    assert kept == {event_id: cloud_event_of(row)}
    assert recorded.take([event_id]) == {}  # taken once
    engine.dispose()


def test_a_rolled_back_event_is_not_kept(db_url: str) -> None:
    engine = create_engine(db_url)
    recorded = RecordedEvents()
    recorded.watch(engine)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        event_id = _record(conn, "pay_outbox_rolled_back")
        raise RuntimeError("the step failed after recording")
    # The next transaction on the same pooled connection does not carry it over either.
    with engine.begin() as conn:
        other = _record(conn, "pay_outbox_after")
    assert recorded.take([event_id, other]).keys() == {other}
    engine.dispose()


def test_an_event_no_longer_kept_is_read_back_from_the_outbox(db_url: str) -> None:
    engine = create_engine(db_url)
    with engine.begin() as conn:  # recorded by another process: nothing kept here
        event_id = _record(conn, "pay_outbox_read_back")
    bus = _Bus()
    published = publish_recorded(engine, cast(EventPublisher, bus), [event_id], {})
    with engine.connect() as conn:
        row = conn.execute(sa.select(events).where(events.c.id == event_id)).one()
        still_queued = conn.execute(sa.select(outbox.c.event_id).where(outbox.c.event_id == event_id)).all()
    assert published == (event_id,)
    assert bus.sent == [cloud_event_of(row)]
    assert len(still_queued) == 1  # deleted later, with others (`forget`)
    engine.dispose()
