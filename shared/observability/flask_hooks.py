"""One hook for every request a functions-framework app serves, HTTP or CloudEvent.

Flask's signals are sent for every app of the process, so the functions need no code of their
own: when a request starts, the function (the app's name is the function's target) and the
request id are bound for its logs; when it ends, its duration and outcome are measured. Work
that belongs to the request (a span continuing an event's trace, a bound correlation id) is
entered on the request's exit stack and left when the request is torn down.

The request id lives here, not in shared.http, so that the hooks need nothing of the HTTP layer:
shared.http depends on observability, never the other way round.
"""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

import flask

from shared.ids import new_id
from shared.observability import context, metrics

__all__ = [
    "enter_for_request",
    "install_request_hooks",
    "note_route",
    "request_function",
    "request_id",
]

_STACK_KEY = "paystream_observability_stack"
_START_KEY = "paystream_observability_start"
_ROUTE_KEY = "paystream_route"
_REQUEST_ID_KEY = "paystream_request_id"
REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")
_installed = False


def request_id() -> str:
    """The request's id: the client's `X-Request-Id` when well-formed, else a fresh one."""
    cached = flask.g.get(_REQUEST_ID_KEY)
    if cached:
        return cached
    incoming = flask.request.headers.get("X-Request-Id", "")
    value = incoming if REQUEST_ID_PATTERN.match(incoming) else new_id("req")
    setattr(flask.g, _REQUEST_ID_KEY, value)
    return value


def request_function(app: flask.Flask) -> str:
    """The function an app serves: its target (`score_fraud`) is the name with underscores."""
    return app.name.replace("_", "-")


def enter_for_request(manager: contextlib.AbstractContextManager[Any]) -> Any:
    """Enter `manager` until the current request is torn down (or at once out of a request)."""
    if not flask.has_request_context():
        raise RuntimeError("enter_for_request needs a request context")
    stack: contextlib.ExitStack | None = flask.g.get(_STACK_KEY)
    if stack is None:
        stack = contextlib.ExitStack()
        setattr(flask.g, _STACK_KEY, stack)
    return stack.enter_context(manager)


def note_route(endpoint: str) -> None:
    """Name the route (`POST /v1/payments/<payment_id>`) the request matched, for its metrics."""
    setattr(flask.g, _ROUTE_KEY, endpoint)


def _started(sender: flask.Flask, **_: Any) -> None:
    setattr(flask.g, _START_KEY, time.perf_counter())
    enter_for_request(context.bound(function=request_function(sender), correlation=request_id()))


def _finished(sender: flask.Flask, response: flask.Response, **_: Any) -> None:
    started = flask.g.get(_START_KEY)
    if started is None:
        return
    metrics.request_served(
        function=request_function(sender),
        route=flask.g.get(_ROUTE_KEY),
        status=response.status_code,
        duration_seconds=time.perf_counter() - started,
    )


def _torn_down(sender: flask.Flask, exc: BaseException | None = None, **_: Any) -> None:
    stack: contextlib.ExitStack | None = flask.g.pop(_STACK_KEY, None)
    if stack is None:
        return
    if exc is None:
        stack.close()
    else:
        stack.__exit__(type(exc), exc, exc.__traceback__)


def install_request_hooks() -> None:
    """Connect the hooks to Flask's signals, once per process."""
    global _installed
    if _installed:
        return
    flask.request_started.connect(_started)
    flask.request_finished.connect(_finished)
    flask.request_tearing_down.connect(_torn_down)
    _installed = True
