"""One catalogue of metrics: what the code emits is what the dashboards and monitors query and
what docs/observability.md documents; an emitter cannot send a metric or a tag it does not declare."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from schemas.cloudevent import short_type
from schemas.events import ConversionCompleted, parse_payload
from shared.observability import metrics
from shared.observability.catalogue import CATALOGUE, INTEGRATION_METRICS
from shared.observability.dashboards import DASHBOARDS, dashboard_files, queried_metrics

ROOT = Path(__file__).resolve().parents[2]
DATADOG_MODULE = ROOT / "terraform" / "modules" / "datadog"
EMITTED = {entry.name for entry in CATALOGUE}
DECLARED = EMITTED | {entry.name for entry in INTEGRATION_METRICS}
TAGS_OF = {entry.name: entry.tags for entry in CATALOGUE}
SAMPLES = ROOT / "events" / "samples"


def _terraform_queries() -> set[str]:
    text = "".join(path.read_text() for path in sorted(DATADOG_MODULE.glob("*.tf")))
    return queried_metrics(text)


def _dashboard_queries() -> set[str]:
    return queried_metrics("".join(dashboard_files().values()))


def test_every_metric_a_dashboard_or_monitor_queries_is_declared():
    assert _terraform_queries() and _dashboard_queries()
    assert _terraform_queries() - DECLARED == set()
    assert _dashboard_queries() - DECLARED == set()


def test_the_monitors_the_platform_needs_exist():
    text = (DATADOG_MODULE / "main.tf").read_text()
    for name in (
        "payment service down",
        "transaction failure rate above",
        "database connection failures",
        "high fraud score transactions",
        "response time above",
        "dead letters in",
    ):
        assert name in text, name
    assert set(DASHBOARDS) == {"business", "technical", "infrastructure", "security"}


def test_every_emitted_metric_is_sent_by_some_code_and_shown_somewhere():
    sources = "".join(
        path.read_text()
        for path in sorted((ROOT / "shared").rglob("*.py"))
        if path.name not in ("catalogue.py", "dashboards.py")
    )
    shown = _terraform_queries() | _dashboard_queries()
    for name in EMITTED:
        assert f'"{name}"' in sources, f"{name} is declared but nothing emits it"
        assert name in shown, f"{name} is on no dashboard and in no monitor"


def test_every_metric_is_documented():
    documentation = (ROOT / "docs" / "observability.md").read_text()
    for name in DECLARED:
        assert f"`{name}`" in documentation, f"{name} is not in docs/observability.md"


def test_an_undeclared_metric_or_tag_is_a_programmer_error():
    with pytest.raises(ValueError, match="not in the metrics catalogue"):
        metrics.emit("paystream.nothing", 1)
    with pytest.raises(ValueError, match="takes tags"):
        metrics.emit("paystream.payments", 1, {"status": "completed"})


def test_each_sample_reaches_dogstatsd_with_its_kind_and_tags():
    # GIVEN a UDP socket where the agent's DogStatsD port would be
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as agent:
        agent.bind(("127.0.0.1", 0))
        agent.settimeout(5)
        metrics.configure_metrics(host="127.0.0.1", port=agent.getsockname()[1], environment="test", version="1.2.3")
        try:
            # WHEN a request to a route is served
            metrics.request_served(
                function="payments", route="POST /v1/payments/<payment_id>", status=503, duration_seconds=0.25
            )
            # (the client buffers: several metrics may share a datagram, one line each)
            lines: list[str] = []
            while len(lines) < 4:
                lines += agent.recv(65535).decode().splitlines()
        finally:
            metrics.configure_metrics(host=None, port=8125, environment="test", version="1.2.3")
    # THEN each metric arrives with its kind, the route as a clean tag, and the service tags
    by_name = {re.split(r"[:|]", line)[0]: line for line in lines}
    assert by_name["paystream.function.duration"].startswith("paystream.function.duration:0.25|h|")
    assert "outcome:failed" in by_name["paystream.function.duration"]
    assert "status:503" in by_name["paystream.function.failures"]
    requests_line = by_name["paystream.http.requests"]
    assert requests_line.startswith("paystream.http.requests:1|c|#")
    tags = set(requests_line.strip().split("|#")[1].split(","))
    assert {
        "service:payments",
        "route:post_/v1/payments/_payment_id_",
        "status_class:5xx",
        "env:test",
        "version:1.2.3",
    } <= tags


def test_nothing_is_sent_without_an_agent():
    metrics.configure_metrics(host=None, port=8125, environment="test", version="1")
    assert not metrics.metrics_enabled()
    metrics.emit("paystream.users.signed_up", 1, {"country": "US"})  # no error, nothing sent


@pytest.mark.parametrize("sample", sorted(SAMPLES.glob("*.json")), ids=lambda path: path.stem)
def test_every_events_business_metrics_are_declared_with_their_tags(sample):
    # GIVEN the catalogue's sample of an event type
    envelope = json.loads(sample.read_text())
    event_type = short_type(envelope["type"])
    payload = parse_payload(event_type, envelope["data"])
    # WHEN its business metrics are derived
    for name, value, tags in metrics.business_samples(event_type, payload):
        # THEN each is a declared metric with exactly its declared tags (emit refuses others)
        metrics.emit(name, value, tags)
        assert set(tags) == set(TAGS_OF[name]), name
        assert value >= 0


def test_a_conversion_yields_its_fee_as_revenue_in_the_currency_it_was_kept_in():
    envelope = json.loads((SAMPLES / "conversion.completed.json").read_text())
    payload = parse_payload("conversion.completed", envelope["data"])
    assert isinstance(payload, ConversionCompleted)
    samples = {name: (value, tags) for name, value, tags in metrics.business_samples("conversion.completed", payload)}
    assert samples["paystream.fees.revenue"] == (
        payload.fee_minor,
        {"currency": payload.to_currency, "source": "conversion"},
    )
    assert samples["paystream.conversions"][1]["status"] == "completed"
