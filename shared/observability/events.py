"""What a consumer adopts from the CloudEvent it handles: its correlation id and its trace."""

from __future__ import annotations

import flask
from cloudevents.http import CloudEvent

from shared.observability.context import bound
from shared.observability.flask_hooks import enter_for_request
from shared.observability.tracing import continue_trace

__all__ = ["adopt_event"]


def adopt_event(event: CloudEvent) -> CloudEvent:
    """Carry on the work of the event's request for the rest of this one: its log lines carry
    the event's `correlationid`, its spans continue the event's `traceparent` (read here,
    explicitly: no tracer reads a CloudEvent extension). Returns the event, unchanged."""
    if flask.has_request_context():
        enter_for_request(bound(correlation=event.get("correlationid")))
        enter_for_request(continue_trace(event.get("traceparent"), resource=event["type"]))
    return event
