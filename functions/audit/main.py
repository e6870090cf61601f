"""audit: append every event to the hash-chained audit record in DynamoDB."""

from __future__ import annotations

import functions_framework
from cloudevents.conversion import to_dict
from cloudevents.http import CloudEvent

from shared.bootstrap import platform
from shared.consumer import parse_event, unwrap_delivery
from shared.topology import EVENT_TYPES

ACCEPTED_TYPES = frozenset(EVENT_TYPES)


@functions_framework.cloud_event
def audit(event: CloudEvent) -> None:
    event = unwrap_delivery(event)
    # Validate first: the audit record keeps only events that are what they claim to be.
    parse_event(event, ACCEPTED_TYPES)
    # Idempotent on the event id: a redelivered event returns the record already appended.
    platform().audit_chain.append(to_dict(event))
