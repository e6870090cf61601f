"""Paystream's event catalogue: every event type, its producers, consumers and a real sample.

See :mod:`events.catalogue` and ``events/README.md``.
"""

from events.catalogue import (
    CATALOGUE,
    EVENT_TYPES,
    SAMPLES_DIR,
    EventTypeInfo,
    consumers_of,
    event_types_consumed_by,
    event_types_produced_by,
)

__all__ = [
    "CATALOGUE",
    "EVENT_TYPES",
    "SAMPLES_DIR",
    "EventTypeInfo",
    "consumers_of",
    "event_types_consumed_by",
    "event_types_produced_by",
]
