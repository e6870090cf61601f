"""What every use case that records events is told about the work it does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["EventContext"]


@dataclass(frozen=True)
class EventContext:
    """Who is producing the next events, when, and for which request."""

    producer: str
    now: datetime
    correlation_id: str | None
