"""An event, its projection and its outbox row are written together, on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from schemas.events import PaymentRequested
from shared.adapters.database import as_utc, create_engine
from shared.adapters.outbox import record_event
from shared.adapters.tables import events, outbox, transactions

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    built = create_engine(db_url, pool_size=1)
    yield built
    built.dispose()


def _requested(payment_id: str) -> PaymentRequested:
    return PaymentRequested(
        payment_id=payment_id,
        payer_id=f"usr_{uuid.uuid4().hex}",
        payee_id=f"usr_{uuid.uuid4().hex}",
        amount_minor=500,
        currency="USD",
        note="lunch",
    )


def _record(conn: sa.Connection, payment_id: str) -> str:
    return record_event(
        conn,
        event_type="payment.requested",
        source_function="payments",
        subject=payment_id,
        sequence=1,
        payload=_requested(payment_id),
        now=NOW,
        correlation_id="req_1",
    )


def test_an_event_is_stored_projected_and_queued_in_its_transaction(engine: sa.Engine) -> None:
    payment_id = f"pay_{uuid.uuid4().hex}"
    # WHEN a payment's first event is recorded
    with engine.begin() as conn:
        event_id = _record(conn, payment_id)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(events).where(events.c.id == event_id)).one()
        queued = conn.execute(sa.select(outbox).where(outbox.c.event_id == event_id)).one()
        history: Sequence[str] = (
            conn.execute(sa.select(transactions.c.direction).where(transactions.c.id == payment_id)).scalars().all()
        )
    # THEN it is in the store, in the outbox since it occurred and not yet tried, and in both
    # parties' history
    assert (stored.type, stored.subject, stored.aggregate_sequence) == ("payment.requested", payment_id, 1)
    assert stored.data["note"] == "lunch" and stored.correlation_id == "req_1"
    assert as_utc(queued.created_at) == NOW == as_utc(stored.occurred_at)
    assert queued.attempts == 0 and queued.last_error is None
    assert sorted(history) == ["credit", "debit"]


def test_an_event_recorded_in_a_transaction_that_rolls_back_leaves_nothing(engine: sa.Engine) -> None:
    payment_id = f"pay_{uuid.uuid4().hex}"
    with engine.connect() as conn:
        event_id = _record(conn, payment_id)
        conn.rollback()
        for table, column, value in (
            (events, events.c.id, event_id),
            (outbox, outbox.c.event_id, event_id),
            (transactions, transactions.c.id, payment_id),
        ):
            assert conn.execute(sa.select(sa.func.count()).select_from(table).where(column == value)).scalar_one() == 0
        conn.rollback()
