"""Metrics through DogStatsD, named and shaped by the catalogue (shared.observability.catalogue).

The client is the `datadog` package's DogStatsd: the public, documented client, where ddtrace's
copy is a vendored internal. With no agent named (DD_DOGSTATSD_HOST or DD_AGENT_HOST) nothing
is sent. An emitter that names a metric or a tag the catalogue does not declare raises: the
catalogue is what the dashboards and monitors are checked against.

Business metrics come from the events a transaction records, and are sent only once it has
committed: a rolled-back step (to be retried) counts nothing.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from datadog.dogstatsd import DogStatsd
from pydantic import BaseModel
from sqlalchemy import Connection, Engine, event
from sqlalchemy.pool import QueuePool

from shared.observability import context
from shared.observability.catalogue import metric

__all__ = [
    "HIGH_FRAUD_SCORE_MIN",
    "aws_request_made",
    "configure_metrics",
    "emit",
    "event_recorded",
    "metrics_enabled",
    "oldest_message_seen",
    "queue_sampled",
    "request_served",
    "route_tag",
    "watch_engine",
]

# How often the DogStatsD client sends what it aggregated and buffered.
METRICS_FLUSH_INTERVAL_SECONDS = 0.5
# A fraud score from which a decision counts as high risk (the P2 monitor's threshold).
HIGH_FRAUD_SCORE_MIN = 80
# The statuses in which a payment has completed at some point.
_COMPLETED_STATUSES = ("completed", "refunded", "partially_refunded")
# A metric a transaction yields: (name, value, tags).
Sample = tuple[str, float, dict[str, object]]
_PENDING_KEY = "paystream_metrics_pending"
_METHODS = {"count": "increment", "gauge": "gauge", "histogram": "histogram", "distribution": "distribution"}

_client: DogStatsd | None = None
_lock = threading.Lock()


def configure_metrics(*, host: str | None, port: int, environment: str, version: str) -> None:
    """Send metrics to DogStatsD at host:port (no host: send nothing)."""
    global _client
    with _lock:
        if _client is not None:
            _client.close_socket()
        _client = None
        if host:
            _client = DogStatsd(
                host=host,
                port=port,
                constant_tags=[f"env:{environment}", f"version:{version}"],
                # The client's own telemetry and container tagging need a real agent.
                disable_telemetry=True,
                origin_detection_enabled=False,
                # Counts and gauges are summed in the process and everything leaves in a few
                # packets every flush interval, by the client's own thread: a metric on a hot
                # path costs a dictionary update, not a datagram (several per request).
                disable_aggregation=False,
                disable_buffering=False,
                flush_interval=METRICS_FLUSH_INTERVAL_SECONDS,
            )


def metrics_enabled() -> bool:
    return _client is not None


def emit(name: str, value: float, tags: Mapping[str, object] | None = None, *, service: str | None = None) -> None:
    """Send one sample of the catalogue's metric `name` with exactly its declared tags."""
    entry = metric(name)
    tags = dict(tags or {})
    if set(tags) != set(entry.tags):
        raise ValueError(f"{name} takes tags {sorted(entry.tags)}, not {sorted(tags)}")
    client = _client
    if client is None:
        return
    rendered = [f"service:{service or context.function_name()}"]
    rendered += [f"{key}:{value_}" for key, value_ in tags.items()]
    getattr(client, _METHODS[entry.kind])(name, value, tags=rendered)


# -- requests ----------------------------------------------------------------------------------


def _status_class(status: int) -> str:
    return f"{status // 100}xx"


# What Datadog does not keep in a tag value; compiled once, as the tag is made per request.
_TAG_UNSAFE = re.compile(r"[^a-z0-9_:./-]")


def route_tag(route: str) -> str:
    """A route as a tag value, in the characters Datadog keeps in a tag:
    `POST /v1/payments/<payment_id>` → `post_/v1/payments/_payment_id_`."""
    return _TAG_UNSAFE.sub("_", route.lower())


def request_served(*, function: str, route: str | None, status: int, duration_seconds: float) -> None:
    """One request answered by `function` (a client route, or a CloudEvent when route is None)."""
    outcome = "failed" if status >= 500 else "rejected" if status >= 400 else "ok"
    emit("paystream.function.duration", duration_seconds, {"outcome": outcome}, service=function)
    if status >= 500:
        emit("paystream.function.failures", 1, {"status": status}, service=function)
    if route is not None:
        status_class = _status_class(status)
        route = route_tag(route)
        emit(
            "paystream.http.requests",
            1,
            {"route": route, "status_class": status_class, "status": status},
            service=function,
        )
        emit(
            "paystream.http.request.duration",
            duration_seconds,
            {"route": route, "status_class": status_class},
            service=function,
        )


def aws_request_made(*, aws_service: str, operation: str) -> None:
    """One call to an AWS API (each attempt: a retry is billed again)."""
    emit("paystream.aws.requests", 1, {"aws_service": aws_service, "operation": operation})


# -- business metrics from recorded events -----------------------------------------------------


def _fraud(payload: Any, decision: str) -> list[Sample]:
    risk = "high" if payload.fraud_score >= HIGH_FRAUD_SCORE_MIN else "normal"
    return [
        ("paystream.fraud.decisions", 1, {"decision": decision, "risk": risk, "currency": payload.currency}),
        ("paystream.fraud.score", payload.fraud_score, {"decision": decision}),
    ]


def _counted(metric: str, status: str) -> Callable[[Any], list[Sample]]:
    return lambda payload: [(metric, 1, {"status": status, "currency": payload.currency})]


def _payment(status: str) -> Callable[[Any], list[Sample]]:
    return _counted("paystream.payments", status)


_SAMPLES_OF_EVENT: dict[str, Callable[[Any], list[Sample]]] = {
    "user.signed_up": lambda p: [("paystream.users.signed_up", 1, {"country": p.country})],
    "topup.succeeded": lambda p: [
        ("paystream.topups", 1, {"status": "succeeded", "currency": p.currency}),
        ("paystream.topups.volume", p.amount_minor, {"currency": p.currency}),
    ],
    "topup.declined": lambda p: [("paystream.topups", 1, {"status": "declined", "currency": p.currency})],
    "payment.requested": _payment("pending"),
    "payment.approved": lambda p: _fraud(p, "approved"),
    "payment.held": lambda p: _payment("held")(p) + _fraud(p, "held"),
    "payment.declined": lambda p: _payment("declined")(p) + _fraud(p, "declined"),
    "payment.failed": _payment("failed"),
    "payment.completed": lambda p: _payment("completed")(p)
    + [("paystream.payments.volume", p.amount_minor, {"currency": p.currency})],
    "refund.requested": _counted("paystream.refunds", "pending"),
    "refund.failed": _counted("paystream.refunds", "failed"),
    "refund.completed": lambda p: _counted("paystream.refunds", "completed")(p)
    + [("paystream.refunds.volume", p.amount_minor, {"currency": p.currency})],
    "conversion.completed": lambda p: [
        (
            "paystream.conversions",
            1,
            {"status": "completed", "from_currency": p.from_currency, "to_currency": p.to_currency},
        ),
        ("paystream.fees.revenue", p.fee_minor, {"currency": p.to_currency, "source": "conversion"}),
    ],
    "conversion.failed": lambda p: [
        (
            "paystream.conversions",
            1,
            {"status": "failed", "from_currency": p.from_currency, "to_currency": p.to_currency},
        ),
    ],
    "withdrawal.requested": _counted("paystream.withdrawals", "pending"),
    "withdrawal.failed": _counted("paystream.withdrawals", "failed"),
    "withdrawal.succeeded": lambda p: _counted("paystream.withdrawals", "succeeded")(p)
    + [("paystream.withdrawals.volume", p.amount_minor, {"currency": p.currency})],
}


def _completion_samples(conn: Connection, payload: Any, now: datetime) -> list[Sample]:
    """Accept→completed time, and whether this is the payer's first completed payment."""
    from shared.adapters.database import as_utc
    from shared.adapters.tables import payments

    others = (
        sa.select(sa.func.count())
        .select_from(payments)
        .where(
            payments.c.payer_id == payload.payer_id,
            payments.c.id != payload.payment_id,
            payments.c.status.in_(_COMPLETED_STATUSES),
        )
        .scalar_subquery()
    )
    row = conn.execute(
        sa.select(payments.c.created_at, others.label("others")).where(payments.c.id == payload.payment_id)
    ).first()
    if row is None:
        return []
    samples: list[Sample] = [
        (
            "paystream.payments.completion_time",
            (now - as_utc(row.created_at)).total_seconds(),
            {"currency": payload.currency},
        ),
    ]
    if row.others == 0:
        samples.append(("paystream.users.first_payment", 1, {"currency": payload.currency}))
    return samples


def business_samples(event_type: str, payload: BaseModel) -> list[Sample]:
    """The business metrics an event of `event_type` yields by itself: (name, value, tags)."""
    samples_of = _SAMPLES_OF_EVENT.get(event_type)
    return samples_of(payload) if samples_of is not None else []


def event_recorded(conn: Connection, *, event_type: str, payload: BaseModel, now: datetime) -> None:
    """Note the business metrics of an event the transaction on `conn` records; they are sent
    when it commits (see watch_engine), dropped if it rolls back."""
    if _client is None:
        return
    samples = business_samples(event_type, payload)
    if not samples:
        return
    if event_type == "payment.completed":
        samples += _completion_samples(conn, payload, now)
    service = context.function_name()
    conn.info.setdefault(_PENDING_KEY, []).extend((sample, service) for sample in samples)


# -- the database --------------------------------------------------------------------------------


def _take_pending(conn: Connection) -> list[tuple[Sample, str | None]]:
    """The samples the transaction on `conn` noted, removed from it. A connection the database
    dropped mid-transaction is invalidated, and its samples go with it: reading its `info` then
    would raise over the error that invalidated it (the rollback event fires all the same)."""
    if conn.invalidated:
        return []
    return conn.info.pop(_PENDING_KEY, [])


def watch_engine(engine: Engine) -> None:
    """Measure `engine`: its pool (in use, waiting), its connection errors, and send the
    business metrics of each transaction when it commits."""

    @event.listens_for(engine, "commit")
    def _committed(conn: Connection) -> None:
        for (name, value, tags), service in _take_pending(conn):
            emit(name, value, tags, service=service)

    @event.listens_for(engine, "rollback")
    def _rolled_back(conn: Connection) -> None:
        _take_pending(conn)

    @event.listens_for(engine, "handle_error")
    def _failed(exception_context: Any) -> None:
        if exception_context.is_disconnect or exception_context.connection is None:
            emit("paystream.database.connection_errors", 1)

    pool = engine.pool

    # These run on every checkout and checkin: with no agent to send to, they return before
    # emit() looks the metric up in the catalogue.
    # PostgreSQL and SQLite files pool with QueuePool, the pool that counts what is checked out.
    def _in_use(*_: Any) -> None:
        if _client is not None and isinstance(pool, QueuePool):
            emit("paystream.database.pool.in_use", pool.checkedout())

    event.listen(pool, "checkout", _in_use)
    event.listen(pool, "checkin", _in_use)

    # The pool has no event for a thread that starts waiting: count the threads inside
    # pool.connect(), which is where the engine waits for a free connection.
    waiting = [0]
    waiting_lock = threading.Lock()
    connect = pool.connect

    def _waiting(change: int) -> None:
        with waiting_lock:
            waiting[0] += change
            if _client is not None:
                emit("paystream.database.pool.waiting", waiting[0])

    def counted_connect() -> Any:
        _waiting(+1)
        try:
            return connect()
        finally:
            _waiting(-1)

    pool.connect = counted_connect  # type: ignore[method-assign]


# -- queues ---------------------------------------------------------------------------------------


def queue_sampled(*, queue: str, queue_kind: str, depth: int) -> None:
    emit("paystream.queue.depth", depth, {"queue": queue, "queue_kind": queue_kind})


def oldest_message_seen(*, queue: str, sent_epoch_ms: int) -> None:
    """The age of the oldest message a receive returned (a FIFO queue's head)."""
    emit("paystream.queue.oldest_message_age", max(0.0, time.time() - sent_epoch_ms / 1000), {"queue": queue})
