"""What a log line, a span and a metric need to know about the work in hand.

A process may serve several functions (the embedded way runs all of them in one), and its
threads serve one request or event at a time: the function and the correlation id are kept in
context variables, set for the duration of one piece of work and reset afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

__all__ = ["bound", "correlation_id", "function_name", "name_process", "process_service"]

# The service of the process when no function is at work (the supervisor, a CLI command).
DEFAULT_SERVICE = "paystream"

_function: ContextVar[str | None] = ContextVar("paystream_function", default=None)
_correlation_id: ContextVar[str | None] = ContextVar("paystream_correlation_id", default=None)
_process_service = DEFAULT_SERVICE


def name_process(service: str | None) -> None:
    """Set the process's `service` tag (the settings' DD_SERVICE; None: paystream). Called when
    logging is configured, before any line that carries it is written."""
    global _process_service
    _process_service = service or DEFAULT_SERVICE


def process_service() -> str:
    """The process's `service` tag: DD_SERVICE (one function per container), else paystream."""
    return _process_service


def function_name() -> str:
    """The function at work in this thread, else the process's service."""
    return _function.get() or process_service()


def correlation_id() -> str | None:
    """The correlation id (X-Request-Id of the request that started the work), if any."""
    return _correlation_id.get()


@contextlib.contextmanager
def bound(*, function: str | None = None, correlation: str | None = None) -> Iterator[None]:
    """Name the function and the correlation id of the work done inside the block."""
    function_token = _function.set(function) if function else None
    correlation_token = _correlation_id.set(correlation) if correlation else None
    try:
        yield
    finally:
        if correlation_token is not None:
            _correlation_id.reset(correlation_token)
        if function_token is not None:
            _function.reset(function_token)
