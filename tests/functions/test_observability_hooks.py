"""The observability hooks through a function's real binding: a consumer continues the trace of
the event it handles and hands it on to the events it records, and a committed step's business
metrics and every request's handler metrics reach DogStatsD."""

from __future__ import annotations

import socket

import pytest
import sqlalchemy as sa
from ddtrace.trace import Span, TraceFilter, tracer

from shared.adapters.tables import events
from shared.observability import metrics
from tests.functions.test_event_functions import _cloud_event, _post

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"


class _Keep(TraceFilter):
    """Keeps finished spans here and sends nothing."""

    def __init__(self) -> None:
        self.spans: list[Span] = []

    def process_trace(self, trace):
        self.spans.extend(trace)
        return None


@pytest.fixture
def finished_spans(runtime):
    kept = _Keep()
    enabled = tracer.enabled
    tracer.enabled = True
    tracer.configure(trace_processors=[kept])
    yield kept.spans
    tracer.configure(trace_processors=[])
    tracer.enabled = enabled


@pytest.fixture
def statsd(runtime):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as agent:
        agent.bind(("127.0.0.1", 0))
        agent.settimeout(0.5)
        metrics.configure_metrics(host="127.0.0.1", port=agent.getsockname()[1], environment="test", version="1")

        def received() -> list[str]:
            lines = []
            while True:
                try:
                    lines += agent.recv(65535).decode().splitlines()
                except TimeoutError:
                    return lines

        yield received
        metrics.configure_metrics(host=None, port=8125, environment="test", version="1")


def _requested(payment) -> dict:
    return {
        "payment_id": payment.id,
        "payer_id": payment.payer_id,
        "payee_id": payment.payee_id,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "note": "",
    }


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_consumer_continues_the_events_trace_and_hands_it_on(
    client_of, runtime, requested_payment, finished_spans, mode
):
    # GIVEN a payment.requested event recorded inside a span of trace TRACE_ID
    event = _cloud_event("payment.requested", _requested(requested_payment), subject=requested_payment.id)
    event["traceparent"] = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"
    # WHEN score-fraud handles it
    assert _post(client_of("score-fraud"), event, mode).status_code == 200
    # THEN its span is a child of the recording span, in the same trace
    (processed,) = [span for span in finished_spans if span.name == "cloudevent.process"]
    assert processed.trace_id == int(TRACE_ID, 16)
    assert processed.parent_id == int(PARENT_SPAN_ID, 16)
    assert (processed.service, processed.resource) == ("score-fraud", "payment.requested")
    step = next(span for span in finished_spans if span.name == "paystream.step")
    assert step.trace_id == processed.trace_id
    # AND the event it recorded carries the trace on
    with runtime.engine.connect() as conn:
        traceparent = conn.execute(
            sa.select(events.c.traceparent).where(
                events.c.subject == requested_payment.id, events.c.type == "payment.approved"
            )
        ).scalar_one()
    assert traceparent.split("-")[1] == TRACE_ID


def test_an_event_without_a_traceparent_starts_a_trace_of_its_own(client_of, requested_payment, finished_spans):
    event = _cloud_event("payment.requested", _requested(requested_payment), subject=requested_payment.id)
    assert _post(client_of("score-fraud"), event, "binary").status_code == 200
    (processed,) = [span for span in finished_spans if span.name == "cloudevent.process"]
    assert processed.parent_id in (None, 0)


def test_a_committed_step_sends_its_business_and_handler_metrics(client_of, requested_payment, statsd):
    event = _cloud_event("payment.requested", _requested(requested_payment), subject=requested_payment.id)
    assert _post(client_of("score-fraud"), event, "binary").status_code == 200
    lines = statsd()
    decision = [line for line in lines if line.startswith("paystream.fraud.decisions:1|c|")]
    assert len(decision) == 1
    assert "decision:approved" in decision[0] and "service:score-fraud" in decision[0]
    assert any(
        line.startswith("paystream.function.duration:") and "outcome:ok" in line and "service:score-fraud" in line
        for line in lines
    )
    # WHEN the same event comes again, the step changes nothing and counts nothing
    assert _post(client_of("score-fraud"), event, "binary").status_code == 200
    assert not [line for line in statsd() if line.startswith("paystream.fraud.decisions")]


def test_a_refused_event_is_measured_as_rejected_not_failed(client_of, statsd):
    event = _cloud_event("payment.requested", {"payment_id": "nope"})
    assert _post(client_of("score-fraud"), event, "binary").status_code == 422
    lines = statsd()
    assert any(line.startswith("paystream.function.duration:") and "outcome:rejected" in line for line in lines)
    assert not [line for line in lines if line.startswith("paystream.function.failures")]
