"""Traces: one payment is one trace, across every function it passes through.

ddtrace traces HTTP (Flask), SQL (SQLAlchemy; pg8000 has no integration), boto3, Redis and
outgoing requests once a process runs under `ddtrace-run` (the container's entrypoint and the
services mode's launcher) or imports `ddtrace.auto` (the embedded way). What ddtrace cannot
see is the hop through the outbox, EventBridge and SQS: there the trace context travels as the
CloudEvent `traceparent` extension (W3C Trace Context), stored with the event row, and a
consumer continues it explicitly (`continue_trace`). ddtrace's own injection into PutEvents is
off (`DD_BOTOCORE_DISTRIBUTED_TRACING=false`): it would add `_datadog` to the event's Detail.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from ddtrace.propagation.http import HTTPPropagator
from ddtrace.trace import Span, tracer
from pydantic import TypeAdapter

from shared.observability import context
from shared.settings import TelemetrySettings

__all__ = [
    "STEP_SPAN",
    "EVENT_SPAN",
    "continue_trace",
    "current_traceparent",
    "step",
    "reexec_traced",
    "traced_command",
    "tracing_enabled",
    "tracing_environment",
]

# The span of a consumer's handling of one CloudEvent, and of one domain step.
EVENT_SPAN = "cloudevent.process"
STEP_SPAN = "paystream.step"
_TRACEPARENT = "traceparent"
# Set in the environment of a process `reexec_traced` started under ddtrace-run.
_TRACED_MARKER = "PAYSTREAM_TRACED"
# ddtrace integrations this platform relies on; SQLAlchemy is off unless named.
PATCH_MODULES = "sqlalchemy:true,flask:true,botocore:true,redis:true,requests:true"


# The environments below are a child process's (the local runners decide how to start a
# function, or this process again, under ddtrace-run), not where this process reads its own
# configuration: that is TelemetrySettings, whose `tracing_enabled` follows the same rule.
_FLAG = TypeAdapter(bool)


def tracing_enabled(environ: Mapping[str, str]) -> bool:
    """Whether a process running with `environ` sends spans: an agent is named
    (DD_TRACE_AGENT_URL or DD_AGENT_HOST) and DD_TRACE_ENABLED (read as the settings read it)
    does not say otherwise."""
    if not _FLAG.validate_python(environ.get("DD_TRACE_ENABLED", "true")):
        return False
    return bool(environ.get("DD_TRACE_AGENT_URL") or environ.get("DD_AGENT_HOST"))


def tracing_environment(service: str, *, environment: str, version: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The DD_* variables a process of `service` runs under, given the environment `environ` it
    inherits (the local runners set them; knative/ sets the same ones)."""
    return {
        "DD_SERVICE": service,
        "DD_ENV": environ.get("DD_ENV", environment),
        "DD_VERSION": environ.get("DD_VERSION", version),
        "DD_TRACE_ENABLED": "true" if tracing_enabled(environ) else "false",
        "DD_PATCH_MODULES": environ.get("DD_PATCH_MODULES", PATCH_MODULES),
        "DD_BOTOCORE_DISTRIBUTED_TRACING": "false",
        # Log lines get dd.* from shared.observability.logs; ddtrace's own injection would
        # only add the same keys again.
        "DD_LOGS_INJECTION": "false",
        # Instrumentation telemetry and remote configuration talk to a real agent only.
        "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
        "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        # Code origins upload through the debugger endpoint, which the test agent lacks.
        "DD_CODE_ORIGIN_FOR_SPANS_ENABLED": environ.get("DD_CODE_ORIGIN_FOR_SPANS_ENABLED", "false"),
    }


def traced_command(command: list[str]) -> list[str]:
    """`command` run under ddtrace-run (from this interpreter's environment), which patches
    the libraries before the program imports them."""
    return [str(Path(sys.executable).with_name("ddtrace-run")), *command]


def reexec_traced(service: str, settings: TelemetrySettings) -> None:
    """Replace this process by itself under ddtrace-run when tracing is on and it is not traced
    yet: the embedded way is one process, traced as a function's container is."""
    # The marker is not configuration: this function sets it for the process it becomes, so
    # that the new process does not start itself once more.
    if not settings.tracing_enabled or os.environ.get(_TRACED_MARKER):
        return
    os.environ.update(
        tracing_environment(service, environment=settings.environment, version=settings.version, environ=os.environ)
    )
    os.environ[_TRACED_MARKER] = "1"
    command = traced_command([sys.argv[0], *sys.argv[1:]])
    os.execv(command[0], command)  # noqa: S606 - this very process, re-executed under ddtrace-run


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the active span, for an event recorded now; None outside a
    trace or when the propagation style leaves out tracecontext."""
    span = tracer.current_span()
    if span is None:
        return None
    headers: dict[str, str] = {}
    HTTPPropagator.inject(span.context, headers)
    return headers.get(_TRACEPARENT)


@contextlib.contextmanager
def continue_trace(traceparent: str | None, *, resource: str) -> Iterator[Span]:
    """A span of the current function handling one CloudEvent, child of the span that recorded
    the event (its `traceparent`), or the root of a new trace when the event carries none."""
    parent = HTTPPropagator.extract({_TRACEPARENT: traceparent}) if traceparent else None
    if parent is not None and not parent.trace_id:
        parent = None  # a malformed traceparent starts a new trace rather than failing the event
    span = tracer.start_span(
        EVENT_SPAN,
        child_of=parent,
        service=context.function_name(),
        resource=resource,
        span_type="worker",
        activate=True,
    )
    with _finishing(span):
        yield span


@contextlib.contextmanager
def step(name: str) -> Iterator[Span]:
    """A span around one domain step (a saga step, a route's handler), in the current trace."""
    span = tracer.trace(STEP_SPAN, service=context.function_name(), resource=name)
    with _finishing(span):
        yield span


@contextlib.contextmanager
def _finishing(span: Span) -> Iterator[None]:
    """Finish `span`; an exception marks it as an error unless it is the client's (a 4xx)."""
    try:
        yield
    except BaseException as error:
        if _is_failure(error):
            span.set_exc_info(type(error), error, error.__traceback__)
        raise
    finally:
        span.finish()


def _is_failure(error: BaseException) -> bool:
    # ApiError carries `status`, werkzeug's HTTPException (PoisonEvent) `code`.
    status = getattr(error, "status", None) or getattr(error, "code", None)
    return not (isinstance(status, int) and 400 <= status < 500)
