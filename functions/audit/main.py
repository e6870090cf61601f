"""audit: append every event to the hash-chained audit record in DynamoDB.

Knative's IntegrationSource posts one event per request (binary mode); the local deliverer posts
what one receive returned as a batch (batched mode), appended in one DynamoDB transaction. Either
way the request answers only once its events are in the chain.
"""

from __future__ import annotations

import flask
import functions_framework
from cloudevents.conversion import to_dict

from shared.bootstrap import platform
from shared.consumer import cloud_events_of, parse_event
from shared.observability import adopt_events
from shared.topology import EVENT_TYPES

ACCEPTED_TYPES = frozenset(EVENT_TYPES)


@functions_framework.http
def audit(request: flask.Request) -> str:
    if request.method != "POST":
        flask.abort(405)
    events = adopt_events(cloud_events_of(request))
    for event in events:
        # Validate first: the audit record keeps only events that are what they claim to be.
        parse_event(event, ACCEPTED_TYPES)
    # Idempotent on the event id: a redelivered event returns the record already appended.
    platform().audit_chain.append_all([to_dict(event) for event in events])
    return "OK"  # what the CloudEvent bindings of the other consumers answer
