"""Logs, traces and metrics: what an operator sees of Paystream (docs/observability.md).

The hooks in the rest of the code are one call each; everything else lives here.
"""

from ddtrace.trace import tracer

from shared.observability.context import bound, correlation_id, function_name, process_service
from shared.observability.events import adopt_event, adopt_events
from shared.observability.flask_hooks import (
    enter_for_request,
    install_request_hooks,
    note_route,
    request_id,
)
from shared.observability.logs import configure_logging, redact
from shared.observability.metrics import configure_metrics, event_recorded, watch_engine
from shared.observability.security import security_event, security_event_of_refusal
from shared.observability.tracing import tracing_enabled, tracing_environment
from shared.settings import TelemetrySettings, load_settings

__all__ = [
    "adopt_event",
    "adopt_events",
    "bound",
    "configure",
    "configure_logging",
    "enter_for_request",
    "event_recorded",
    "install_request_hooks",
    "note_route",
    "observability_summary",
    "correlation_id",
    "function_name",
    "process_service",
    "redact",
    "request_id",
    "security_event",
    "security_event_of_refusal",
    "tracing_enabled",
    "tracing_environment",
    "watch_engine",
]


def configure(settings: TelemetrySettings) -> None:
    """Set up the process's logs (and, once configured, its traces and metrics) from the
    settings; called once per process by shared.bootstrap, safe to call again."""
    # DD_ENV and DD_VERSION, where set, are the unified service tags the spans carry too.
    configure_logging(
        environment=settings.service_environment,
        version=settings.service_version,
        level=settings.log_level,
        service=settings.datadog_service,
    )
    configure_metrics(
        host=settings.dogstatsd_host,
        port=settings.dogstatsd_port,
        environment=settings.service_environment,
        version=settings.service_version,
    )
    if not settings.tracing_enabled:
        # Spans are still made (their ids join log lines to work), but nothing is sent to an
        # agent that is not there.
        tracer.enabled = False


def observability_summary(settings: TelemetrySettings | None = None) -> list[str]:
    """Where this process's signals go, for `paystream up` to print (None: the settings read
    from the environment now)."""
    settings = settings or load_settings(TelemetrySettings)
    statsd = settings.dogstatsd_host
    return [
        "logs: JSON lines on standard error (this terminal), every function's; PAYSTREAM_LOG_LEVEL sets the level",
        f"traces: sent to {settings.trace_agent}"
        if settings.tracing_enabled
        else "traces: off (set DD_TRACE_AGENT_URL, e.g. to a test agent: see docs/observability.md)",
        f"metrics: DogStatsD at {statsd}:{settings.dogstatsd_port}"
        if statsd
        else "metrics: off (set DD_DOGSTATSD_HOST or DD_AGENT_HOST)",
    ]


# Connected at import, before any app serves its first request: every function module imports
# this package through shared.http or shared.consumer.
install_request_hooks()
