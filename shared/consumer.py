"""What every CloudEvents function does around its one domain step.

Take the event out of its delivery and give its type the short name functions dispatch on
(`com.paystream.payment.requested` on the wire → `payment.requested`; a Paystream type that
arrives without the prefix is refused). Parse the envelope first and the payload second; an
event that can never be handled (an unknown or unprefixed type, a payload that fails its
schema) is answered 422 so that the delivery moves it to the dead-letter queue at once instead
of retrying it. Claim the event id in `processed_events` in the same transaction as the
effect, so a redelivered event changes nothing. After commit, publish what the step recorded.
Any other exception propagates: functions-framework answers 500 and the message is delivered
again.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pydantic
from cloudevents.exceptions import GenericException as CloudEventsError
from cloudevents.http import CloudEvent, from_dict, from_http
from pydantic import BaseModel
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from werkzeug.exceptions import UnprocessableEntity

from schemas.cloudevent import TYPE_PREFIX, short_type, wire_type
from schemas.events import EVENT_PAYLOADS, UnknownEventType, parse_payload
from shared.adapters import outbox
from shared.adapters.aws import MalformedEnvelope, cloud_event_from_envelope
from shared.adapters.database import is_postgresql
from shared.adapters.tables import processed_events
from shared.bootstrap import Platform, platform
from shared.clock import utc_now
from shared.observability import adopt_event
from shared.observability.tracing import step as traced_step
from shared.services.context import EventContext
from shared.topology import PING_EVENT_TYPE

__all__ = [
    "BATCHED_CONTENT_TYPE",
    "CLOUD_EVENTS_PER_REQUEST_MAX",
    "KNATIVE_SQS_EVENT_TYPE",
    "PoisonEvent",
    "claim",
    "cloud_events_of",
    "handle",
    "parse_event",
    "publish_after_commit",
    "require_ping",
    "unwrap_delivery",
]

logger = logging.getLogger("paystream.consumer")

# The type of the CloudEvents Knative's IntegrationSource makes of SQS messages.
KNATIVE_SQS_EVENT_TYPE = "dev.knative.connector.event.aws-sqs"


# CloudEvents' HTTP binding, batched content mode: a JSON array of structured-mode events.
BATCHED_CONTENT_TYPE = "application/cloudevents-batch+json"
# One request carries at most as many events as one SQS receive returns.
CLOUD_EVENTS_PER_REQUEST_MAX = 10


class PoisonEvent(UnprocessableEntity):
    """An event that no retry can make valid (a 422 for the deliverer: dead-letter it now)."""


def cloud_events_of(request: Any) -> list[CloudEvent]:
    """The CloudEvents of an HTTP request, in any of the binding's content modes: one event
    (binary or structured mode) or a batch (batched mode); each unwrapped from Knative's SQS
    envelope if it comes in one, with the short name of its type. A request that is none of
    these is a PoisonEvent."""
    body = request.get_data()
    if request.mimetype == BATCHED_CONTENT_TYPE:
        try:
            batch = json.loads(body)
        except ValueError as error:
            raise PoisonEvent(description=f"the batch is not JSON: {error}") from None
        if not isinstance(batch, list) or not 1 <= len(batch) <= CLOUD_EVENTS_PER_REQUEST_MAX:
            raise PoisonEvent(description=f"a batch is a JSON array of 1 to {CLOUD_EVENTS_PER_REQUEST_MAX} CloudEvents")
        events = [_cloud_event_of_dict(item) for item in batch]
    else:
        try:
            events = [from_http(dict(request.headers), body)]
        except CloudEventsError as error:
            raise PoisonEvent(description=f"not a CloudEvent: {error}") from None
    return [_unwrap(event) for event in events]


def _cloud_event_of_dict(item: Any) -> CloudEvent:
    if not isinstance(item, dict):
        raise PoisonEvent(description="a batch holds structured-mode CloudEvents (JSON objects)")
    try:
        return from_dict(item)
    except CloudEventsError as error:
        raise PoisonEvent(description=f"not a CloudEvent: {error}") from None


def unwrap_delivery(event: CloudEvent) -> CloudEvent:
    """The Paystream CloudEvent a delivery carries, with the short name of its type, adopted
    for this request's logs and trace.

    The local deliverer posts Paystream's own CloudEvent. Knative's IntegrationSource posts a
    CloudEvent of its own (type `dev.knative.connector.event.aws-sqs`) whose data is the SQS
    message body: the EventBridge envelope, with Paystream's CloudEvent as its detail.
    """
    return adopt_event(_unwrap(event))


def _unwrap(event: CloudEvent) -> CloudEvent:
    if event["type"] == KNATIVE_SQS_EVENT_TYPE:
        event = _from_integration_source(event)
    return _with_short_type(event)


def _with_short_type(event: CloudEvent) -> CloudEvent:
    """The event with its type as code names it. Paystream's types travel prefixed; one that
    arrives without the prefix was not published by Paystream as it is now, and is refused
    rather than guessed at. Another's type (the schedule's ping) is left for the function to
    accept or refuse."""
    event_type = event["type"]
    if event_type.startswith(TYPE_PREFIX):
        attributes = {**event.get_attributes(), "type": short_type(event_type)}
        return CloudEvent(attributes, event.get_data())
    if event_type in EVENT_PAYLOADS:
        raise PoisonEvent(
            description=f"event type {event_type!r} lacks its wire prefix: Paystream publishes "
            f"it as {wire_type(event_type)!r}"
        )
    return event


def _from_integration_source(event: CloudEvent) -> CloudEvent:
    body = event.get_data()
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    try:
        inner = cloud_event_from_envelope(body)
    except MalformedEnvelope as error:
        raise PoisonEvent(description=f"the SQS message is not an EventBridge envelope: {error}") from None
    data = inner.pop("data", None)
    return CloudEvent(inner, data)


def require_ping(event: CloudEvent, function: str) -> None:
    """A scheduled function runs on its schedule's ping only; anything else is a PoisonEvent."""
    if event["type"] != PING_EVENT_TYPE:
        raise PoisonEvent(description=f"{function} is triggered by {PING_EVENT_TYPE} only")


def parse_event(event: CloudEvent, accepted_types: frozenset[str]) -> BaseModel:
    """The event's payload as its schema's model, or PoisonEvent."""
    event_type = event["type"]
    if event_type not in accepted_types:
        raise PoisonEvent(description=f"this function does not handle {event_type!r} events")
    try:
        return parse_payload(event_type, event.get_data())
    except (UnknownEventType, pydantic.ValidationError, TypeError) as error:
        raise PoisonEvent(description=f"{event_type} payload is invalid: {error}") from None


def claim(conn: Connection, consumer: str, event_id: str) -> bool:
    """Record that `consumer` handles `event_id` now; False if it already did."""
    claiming = _CLAIM_POSTGRESQL if is_postgresql(conn) else _CLAIM_SQLITE
    result = conn.execute(claiming, {"consumer": consumer, "event_id": event_id, "processed_at": utc_now()})
    return result.rowcount == 1


# Built once per dialect (each spells INSERT … ON CONFLICT DO NOTHING through its own construct):
# every event every consumer handles is claimed.
_CLAIM_POSTGRESQL = postgresql.insert(processed_events).on_conflict_do_nothing()
_CLAIM_SQLITE = sqlite.insert(processed_events).on_conflict_do_nothing()


def publish_after_commit(runtime: Platform, event_ids: list[str]) -> None:
    """Hand the events a committed transaction recorded to the background publisher. The
    state change has happened: nothing here can fail the caller, and what the publisher cannot
    send stays in the outbox for the relay."""
    if event_ids:
        runtime.outbox_publisher.submit(event_ids)


def handle(
    consumer: str,
    event: CloudEvent,
    accepted_types: frozenset[str],
    step: Callable[[Connection, Any, EventContext, Platform], list[str]],
) -> None:
    """Run one saga step for `event`, exactly once per event id."""
    event = unwrap_delivery(event)
    payload = parse_event(event, accepted_types)
    runtime = platform()
    context = EventContext(
        producer=consumer,
        now=utc_now(),
        correlation_id=event.get("correlationid"),
        cause_id=event["id"],
        cause_type=event["type"],
    )
    with runtime.engine.begin() as conn:
        if not claim(conn, consumer, event["id"]):
            logger.info("%s: event %s already handled", consumer, event["id"])
            return
        with traced_step(consumer):
            recorded = step(conn, payload, context, runtime)
    publish_after_commit(runtime, recorded)


def relay(runtime: Platform, *, limit: int) -> tuple[int, int]:
    """Publish outbox rows older than a few seconds: the writers publish their own right after
    commit, so only what a crash or an outage left behind is old."""
    return outbox.publish(
        runtime.engine,
        runtime.publisher,
        older_than=utc_now() - timedelta(seconds=runtime.settings.outbox_relay_age_seconds),
        limit=limit,
    )
