"""Identifiers: prefixed random UUIDs, so an id says what it names (`pay_…`, `usr_…`)."""

from __future__ import annotations

import uuid

__all__ = ["new_id", "new_event_id"]


def new_id(prefix: str) -> str:
    """A fresh identifier such as `pay_3f2b…` (32 hex digits after the prefix)."""
    return f"{prefix}_{uuid.uuid4().hex}"


def new_event_id() -> str:
    """A fresh CloudEvent id."""
    return str(uuid.uuid4())
