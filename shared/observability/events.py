"""What a consumer adopts from the CloudEvent it handles: its correlation id and its trace."""

from __future__ import annotations

import flask
from cloudevents.http import CloudEvent

from shared.observability.context import bound
from shared.observability.flask_hooks import enter_for_request
from shared.observability.tracing import continue_trace

__all__ = ["adopt_event", "adopt_events"]


def adopt_event(event: CloudEvent) -> CloudEvent:
    """Carry on the work of the event's request for the rest of this one: its log lines carry
    the event's `correlationid`, its spans continue the event's `traceparent` (read here,
    explicitly: no tracer reads a CloudEvent extension). Returns the event, unchanged."""
    if flask.has_request_context():
        enter_for_request(bound(correlation=event.get("correlationid")))
        enter_for_request(continue_trace(event.get("traceparent"), resource=event["type"]))
    return event


def adopt_events(events: list[CloudEvent]) -> list[CloudEvent]:
    """`adopt_event` for the events of one request: one is adopted whole; of a batch, each
    event's trace gets a span of this request (its log lines keep the request's own
    correlation id, since they speak for every event of the batch). Returns the events."""
    if len(events) == 1:
        return [adopt_event(events[0])]
    if flask.has_request_context():
        for event in events:
            enter_for_request(continue_trace(event.get("traceparent"), resource=event["type"]))
    return events
