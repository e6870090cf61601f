"""The transaction history as a projection of the event store (CQRS).

Every state change is an event appended to `events` (shared.adapters.outbox.record_event), and
the `transactions` read model behind `GET /v1/transactions` is written only here, by a projector
per event type. The same projectors run in two places:

- live: record_event projects each event in the transaction that appends it, so the history
  is up to date the moment the change commits;
- on demand: `rebuild` (`paystream projections rebuild`) empties the read model and replays the
  whole store, aggregate by aggregate in sequence order.

Because both paths are this one function per event type, a rebuild equals the live projection;
a test proves it over a real history. A projector sees only its event and reference data that
never changes (a funding source's brand and last digits), never other read-model state written
by another aggregate, so replay order across aggregates does not matter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from shared.adapters.database import as_utc, is_postgresql
from shared.adapters.tables import events, funding_sources, transactions
from shared.domain.money import Money

__all__ = ["ProjectedEvent", "project", "projected_types", "rebuild", "REBUILD_BATCH_ROWS"]

# Events are read from the store in batches of this many rows while rebuilding.
REBUILD_BATCH_ROWS = 1_000


@dataclass(frozen=True)
class ProjectedEvent:
    """What a projector sees of one stored event."""

    type: str
    subject: str
    data: Mapping[str, Any]
    occurred_at: datetime


Projector = Callable[[Connection, ProjectedEvent], None]
_PROJECTORS: dict[str, Projector] = {}


def _projects(*event_types: str) -> Callable[[Projector], Projector]:
    def register(projector: Projector) -> Projector:
        for event_type in event_types:
            if event_type in _PROJECTORS:
                raise RuntimeError(f"two projectors for {event_type}")
            _PROJECTORS[event_type] = projector
        return projector

    return register


def projected_types() -> frozenset[str]:
    """The event types that change the transaction history."""
    return frozenset(_PROJECTORS)


def project(conn: Connection, event: ProjectedEvent) -> None:
    """Apply one event to the read model; events that change no history are ignored."""
    projector = _PROJECTORS.get(event.type)
    if projector is not None:
        projector(conn, event)


def rebuild(conn: Connection) -> int:
    """Empty the read model and replay every stored event into it; returns the events replayed.

    Runs in the caller's transaction: readers see the old history until it commits. On
    PostgreSQL the read model is locked against writers first: a writer still in flight finishes
    before the replay reads the store, and a later one projects after the rebuild commits (its
    event, appended before its projection, is invisible to the replay), so no event is missed
    or projected twice while the platform runs. SQLite's single write lock does the same.
    """
    if is_postgresql(conn):
        conn.execute(sa.text("LOCK TABLE transactions IN EXCLUSIVE MODE"))
    conn.execute(transactions.delete())
    replayed = 0
    query = (
        sa.select(events.c.type, events.c.subject, events.c.data, events.c.occurred_at)
        .where(events.c.type.in_(sorted(_PROJECTORS)))
        .order_by(events.c.subject, events.c.aggregate_sequence)
        .execution_options(yield_per=REBUILD_BATCH_ROWS)
    )
    for row in conn.execute(query):
        project(conn, ProjectedEvent(row.type, row.subject, row.data, as_utc(row.occurred_at)))
        replayed += 1
    return replayed


# Built once, as every event projects through one of them; the columns an insert sets are the
# keys of the parameters it runs with.
_INSERT = transactions.insert()
_MOVE = transactions.update().where(transactions.c.id == sa.bindparam("subject"))


def _row(event: ProjectedEvent, **values: Any) -> dict[str, Any]:
    """One history row, created and last changed when `event` happened."""
    return {**values, "created_at": event.occurred_at, "updated_at": event.occurred_at}


def _insert(conn: Connection, event: ProjectedEvent, **values: Any) -> None:
    conn.execute(_INSERT, _row(event, **values))


def _insert_both_sides(
    conn: Connection,
    event: ProjectedEvent,
    *,
    id: str,
    type: str,
    status: str,
    description: str,
    debited: str,
    credited: str,
) -> None:
    """One row for each of the two people a movement (or a request for one) concerns."""
    data = event.data
    conn.execute(
        _INSERT,
        [
            _row(
                event,
                id=id,
                user_id=user_id,
                type=type,
                direction=direction,
                amount_minor=data["amount_minor"],
                currency=data["currency"],
                status=status,
                counterparty_id=counterparty,
                description=description,
            )
            for user_id, direction, counterparty in ((debited, "debit", credited), (credited, "credit", debited))
        ],
    )


# The events that only move an existing entry on: its status after each. The payment's money did
# move when it is refunded: its row stays a posted movement, and each refund has its own.
_STATUS_AFTER = {
    "payment.approved": "pending",
    "payment.debited": "pending",
    "payment.held": "held",
    # A reviewer approved it: pending again until settle completes it.
    "payment.released": "pending",
    "payment.declined": "declined",
    "payment.failed": "failed",
    "payment.completed": "completed",
    "payment.partially_refunded": "partially_refunded",
    "payment.refunded": "refunded",
    "refund.debited": "pending",
    "refund.completed": "completed",
    "refund.failed": "failed",
    "withdrawal.succeeded": "succeeded",
    "withdrawal.failed": "failed",
    "payment_request.accepted": "accepted",
    "payment_request.paid": "paid",
    "payment_request.reopened": "open",
    "payment_request.declined": "declined",
    "payment_request.cancelled": "cancelled",
    "payment_request.expired": "expired",
}


@_projects(*_STATUS_AFTER)
def _moved(conn: Connection, event: ProjectedEvent) -> None:
    conn.execute(
        _MOVE,
        {
            "subject": event.subject,
            "status": _STATUS_AFTER[event.type],
            "failure_code": event.data.get("failure_code"),
            "updated_at": event.occurred_at,
        },
    )


@_projects("topup.succeeded", "topup.declined")
def _topup(conn: Connection, event: ProjectedEvent) -> None:
    data = event.data
    source = conn.execute(
        sa.select(funding_sources.c.brand, funding_sources.c.last4).where(
            funding_sources.c.id == data["funding_source_id"]
        )
    ).one()
    _insert(
        conn,
        event,
        id=data["topup_id"],
        user_id=data["user_id"],
        type="topup",
        direction="credit",
        amount_minor=data["amount_minor"],
        currency=data["currency"],
        status="succeeded" if event.type == "topup.succeeded" else "declined",
        description=f"Top-up from {source.brand or 'card'} ending {source.last4}",
        failure_code=data.get("decline_code"),
    )


@_projects("payment.requested")
def _payment_requested(conn: Connection, event: ProjectedEvent) -> None:
    data = event.data
    _insert_both_sides(
        conn,
        event,
        id=data["payment_id"],
        type="payment",
        status="pending",
        description=data["note"],
        debited=data["payer_id"],
        credited=data["payee_id"],
    )


@_projects("refund.requested")
def _refund_requested(conn: Connection, event: ProjectedEvent) -> None:
    data = event.data
    # The money goes back: debited from the payment's payee, credited to its payer.
    _insert_both_sides(
        conn,
        event,
        id=data["refund_id"],
        type="refund",
        status="pending",
        description=f"Refund of payment {data['payment_id']}",
        debited=data["payee_id"],
        credited=data["payer_id"],
    )


@_projects("payment_request.created")
def _payment_request_created(conn: Connection, event: ProjectedEvent) -> None:
    data = event.data
    # A request moves no money (statements leave it out); its rows show who asked whom.
    _insert_both_sides(
        conn,
        event,
        id=data["payment_request_id"],
        type="request",
        status="open",
        description=data["note"],
        debited=data["payer_id"],
        credited=data["requester_id"],
    )


@_projects("conversion.completed", "conversion.failed")
def _conversion(conn: Connection, event: ProjectedEvent) -> None:
    # One row for the two wallets a conversion touches: `amount_minor` of `currency` left one,
    # `counter_amount_minor` of `counter_currency` entered the other (statements and the currency
    # filter read both sides). A failed conversion moved nothing and has no counter side.
    data = event.data
    completed = event.type == "conversion.completed"
    sent = Money(data["amount_minor"], data["from_currency"]).format()
    description = (
        f"Converted {sent} to {Money(data['receive_minor'], data['to_currency']).format()}"
        if completed
        else f"Conversion of {sent} to {data['to_currency']}"
    )
    _insert(
        conn,
        event,
        id=data["conversion_id"],
        user_id=data["user_id"],
        type="conversion",
        direction="debit",
        amount_minor=data["amount_minor"],
        currency=data["from_currency"],
        counter_amount_minor=data["receive_minor"] if completed else None,
        counter_currency=data["to_currency"] if completed else None,
        status="completed" if completed else "failed",
        description=description,
        failure_code=data.get("failure_code"),
    )


@_projects("withdrawal.requested")
def _withdrawal_requested(conn: Connection, event: ProjectedEvent) -> None:
    data = event.data
    last4: str = conn.execute(
        sa.select(funding_sources.c.last4).where(funding_sources.c.id == data["funding_source_id"])
    ).scalar_one()
    _insert(
        conn,
        event,
        id=data["withdrawal_id"],
        user_id=data["user_id"],
        type="withdrawal",
        direction="debit",
        amount_minor=data["amount_minor"],
        currency=data["currency"],
        status="pending",
        description=f"Withdrawal to bank account ending {last4}",
    )
