"""What an operator sees of one payment in the services mode: one trace across every function
(received by Datadog's test agent), JSON log lines without a secret, and DogStatsD metrics."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest
import requests

from shared.functions import FUNCTIONS
from shared.runner.local import free_port
from tests.e2e.client import REQUEST_TIMEOUT_SECONDS, sign_up
from tests.e2e.conftest import _base_env, _free_port_range, _start, _stop

pytestmark = pytest.mark.e2e

TEST_AGENT = str(Path(sys.executable).with_name("ddapm-test-agent"))
AGENT_STARTUP_SECONDS_MAX = 30
TRACE_WAIT_SECONDS_MAX = 60
METRICS_WAIT_SECONDS_MAX = 30
# Thirteen traced function processes import ddtrace at start: slower than an untraced start.
TRACED_STARTUP_SECONDS_MAX = 300
# Every function a completed payment passes through, by its `service` tag.
PAYMENT_SERVICES = {"payments", "score-fraud", "debit-wallet", "settle", "notify", "audit"}


@pytest.fixture(scope="module")
def test_agent(tmp_path_factory):
    """Datadog's APM test agent on free ports; yields its URL."""
    port = free_port()
    # The agent writes through its own copy of the descriptor; ours closes once it has started.
    with open(tmp_path_factory.mktemp("agent") / "agent.log", "wb") as log:
        agent = subprocess.Popen(
            [
                TEST_AGENT,
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--otlp-http-port",
                str(free_port()),
                "--otlp-grpc-port",
                str(free_port()),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + AGENT_STARTUP_SECONDS_MAX
    while True:
        try:
            if requests.get(url + "/test/traces", timeout=1).status_code == 200:
                break
        except requests.RequestException:
            pass
        if agent.poll() is not None or time.monotonic() > deadline:
            agent.kill()
            pytest.fail("ddapm-test-agent did not start")
        time.sleep(0.2)
    yield url
    agent.terminate()
    agent.wait(timeout=10)


class DogStatsdCapture:
    """A UDP socket standing in for the Datadog agent's DogStatsD port; a thread keeps every
    datagram, so that none is lost to a full socket buffer."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.2)
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self.socket.recv(65535)
            except TimeoutError:
                continue
            self.lines.extend(datagram.decode().splitlines())

    def samples(self, name: str) -> list[tuple[float, str, dict[str, str]]]:
        """(value, type, tags) of every sample of `name` received so far."""
        found = []
        for line in list(self.lines):
            head, _, rest = line.partition("|")
            metric, _, value = head.rpartition(":")
            if metric != name:
                continue
            fields = rest.split("|")
            tags = {}
            for field in fields[1:]:
                if field.startswith("#"):
                    tags = dict(tag.partition(":")[::2] for tag in field[1:].split(","))
            found.append((float(value), fields[0], tags))
        return found

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.socket.close()


@pytest.fixture(scope="module")
def statsd():
    capture = DogStatsdCapture()
    yield capture
    capture.close()


@pytest.fixture(scope="module")
def observed(tmp_path_factory, postgres_url, test_agent, statsd, fx_rates_file):
    """The services mode, traced to the test agent and measured to the UDP socket; yields
    (url, the log file)."""
    home = tmp_path_factory.mktemp("observed")
    env = {**_base_env(), "PAYSTREAM_FX_RATES_FILE": str(fx_rates_file)}
    env["PAYSTREAM_DATABASE_URL"] = postgres_url
    env["PAYSTREAM_REDIS_URL"] = os.environ.get("PAYSTREAM_TEST_REDIS", "redis://127.0.0.1:6379/0")
    env["PAYSTREAM_AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    env["PAYSTREAM_DYNAMODB_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    env["DD_TRACE_AGENT_URL"] = test_agent
    env["DD_DOGSTATSD_HOST"] = "127.0.0.1"
    env["DD_DOGSTATSD_PORT"] = str(statsd.socket.getsockname()[1])
    env["DD_ENV"] = "e2e"
    url, process = _start(
        ["--services", "--functions-base-port", str(_free_port_range(len(FUNCTIONS)))],
        env,
        home,
        startup_seconds=TRACED_STARTUP_SECONDS_MAX,
    )
    yield url, home / "platform.log"
    _stop(process, home)


@pytest.fixture(scope="module")
def completed_payment(observed):
    """Alice pays Bob; returns (alice, bob, the completed payment)."""
    url, _ = observed
    alice, bob = sign_up(url, "alice"), sign_up(url, "bob")
    card = alice.add_card()
    assert alice.top_up(card, 10_000).status_code == 201
    answer = alice.pay(bob.email, 2_500, key="lunch")
    assert answer.status_code == 202, answer.text
    payment = alice.wait_final(answer.json()["id"])
    assert payment["status"] == "completed", payment
    return alice, bob, payment


def _spans_by_trace(agent_url: str) -> dict[int, list[dict]]:
    traces = requests.get(agent_url + "/test/traces", timeout=10).json()
    by_trace: dict[int, list[dict]] = defaultdict(list)
    for chunk in traces:
        for span in chunk:
            by_trace[span["trace_id"]].append(span)
    return by_trace


def test_one_payment_is_one_trace_across_every_function(test_agent, completed_payment):
    # GIVEN a completed payment
    _, _, payment = completed_payment
    # WHEN the functions have flushed their spans to the agent
    deadline = time.monotonic() + TRACE_WAIT_SECONDS_MAX
    while True:
        by_trace = _spans_by_trace(test_agent)
        payment_traces = [
            spans for spans in by_trace.values() if any(span["resource"] == "POST /v1/payments" for span in spans)
        ]
        services = {span["service"] for spans in payment_traces for span in spans}
        if services >= PAYMENT_SERVICES or time.monotonic() > deadline:
            break
        time.sleep(1)
    # THEN one trace holds the HTTP function's spans and every saga step's
    assert len(payment_traces) == 1, [len(spans) for spans in payment_traces]
    (spans,) = payment_traces
    assert {span["service"] for span in spans} >= PAYMENT_SERVICES
    # ... each consumer's span continues the trace, and SQL, Redis and boto3 calls are in it
    processed = {span["service"] for span in spans if span["name"] == "cloudevent.process"}
    assert {"score-fraud", "debit-wallet", "settle", "notify", "audit"} <= processed
    names = {span["name"] for span in spans}
    assert {"postgres.query", "redis.command"} <= names, " ".join(sorted(names))
    assert any(name.startswith(("botocore", "aws")) or "dynamodb" in name for name in names), names
    steps = {span["resource"] for span in spans if span["name"] == "paystream.step"}
    assert {"POST /v1/payments", "score-fraud", "debit-wallet", "settle", "notify"} <= steps, steps


def test_no_secret_reaches_a_log_line(observed, completed_payment):
    # GIVEN a run that signed up, logged in, linked a card and paid, plus failed logins
    url, log_file = observed
    alice, bob, _ = completed_payment
    refused = requests.post(
        url + "/v1/oauth/token",
        data={"grant_type": "password", "username": alice.email, "password": "wrong-" + alice.password},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert refused.status_code == 401
    reused = requests.post(
        url + "/v1/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "not-a-token-" + bob.refresh_token},
        timeout=REQUEST_TIMEOUT_SECONDS,
    )
    assert reused.status_code == 401
    time.sleep(1)
    text = log_file.read_text()
    # THEN none of the secrets it handled is in any line
    secrets_seen = [
        alice.password,
        bob.password,
        alice.access_token,
        bob.access_token,
        alice.refresh_token,
        bob.refresh_token,
        "4242424242424242",
        os.environ.get("PAYSTREAM_SECRET_KEY", "no-secret-key-in-this-environment"),
    ]
    for secret in secrets_seen:
        assert secret not in text
    # AND the functions' lines are JSON with their service, correlation id and trace ids
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert lines, text[-2000:]
    services = {line.get("service") for line in lines}
    assert {"users"} <= services, services
    security = [line for line in lines if line.get("security_event")]
    assert {"login_failed", "authentication_failed"} <= {line["security_event"] for line in security}
    assert {line["env"] for line in lines if line["service"] != "paystream"} == {"e2e"}
    assert all("dd.trace_id" in line and "dd.span_id" in line for line in lines)


def _wait_for(statsd: DogStatsdCapture, name: str, predicate=lambda tags: True) -> list:
    deadline = time.monotonic() + METRICS_WAIT_SECONDS_MAX
    while True:
        found = [sample for sample in statsd.samples(name) if predicate(sample[2])]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_a_payment_emits_business_metrics(statsd, completed_payment):
    # GIVEN a completed payment of 2500 USD by a user who signed up for it
    _, _, payment = completed_payment
    # THEN its statuses, volume, completion time, fraud decision and the payer's conversion
    completed = _wait_for(statsd, "paystream.payments", lambda t: t.get("status") == "completed")
    assert completed and completed[0][1] == "c" and completed[0][2]["currency"] == "USD"
    assert completed[0][2]["service"] == "settle" and completed[0][2]["env"] == "e2e"
    assert _wait_for(statsd, "paystream.payments", lambda t: t.get("status") == "pending")
    assert (2500.0, "c") in [(v, kind) for v, kind, _ in statsd.samples("paystream.payments.volume")]
    (elapsed, kind, _), *_ = _wait_for(statsd, "paystream.payments.completion_time")
    assert kind == "d" and 0 <= elapsed < 60
    decisions = _wait_for(statsd, "paystream.fraud.decisions")
    assert {tags["decision"] for _, _, tags in decisions} == {"approved"}
    assert {tags["country"] for _, _, tags in _wait_for(statsd, "paystream.users.signed_up")} == {"US"}
    assert len(_wait_for(statsd, "paystream.users.first_payment")) == 1
    assert _wait_for(statsd, "paystream.topups", lambda t: t.get("status") == "succeeded")


def test_requests_functions_pool_and_queues_emit_technical_metrics(statsd, completed_payment):
    requests_seen = _wait_for(statsd, "paystream.http.requests", lambda t: t.get("route") == "post_/v1/payments")
    assert requests_seen[0][2]["status"] == "202" and requests_seen[0][2]["status_class"] == "2xx"
    assert _wait_for(
        statsd, "paystream.http.request.duration", lambda t: t.get("route") == "get_/v1/payments/_payment_id_"
    )
    # Each function flushes its own metrics: wait for every one, not for the first.
    for service in sorted(PAYMENT_SERVICES):
        assert _wait_for(statsd, "paystream.function.duration", lambda t, s=service: t.get("service") == s), service
    assert _wait_for(statsd, "paystream.database.pool.in_use")
    assert _wait_for(statsd, "paystream.database.pool.waiting")
    assert _wait_for(
        statsd, "paystream.queue.oldest_message_age", lambda t: t.get("queue", "").startswith("paystream-settle")
    )
    # relay-outbox samples every queue and DLQ on its 10-second schedule
    dlq = _wait_for(statsd, "paystream.queue.depth", lambda t: t.get("queue_kind") == "dlq")
    assert dlq and all(value == 0 for value, _, _ in dlq)
    assert _wait_for(statsd, "paystream.security.events", lambda t: t.get("kind") == "login_failed")


def test_a_conversion_emits_its_fee_as_revenue(observed, statsd):
    # GIVEN a user with dollars
    url, _ = observed
    carol = sign_up(url, "carol")
    assert carol.top_up(carol.add_card(), 5_000).status_code == 201
    # WHEN she converts 30.00 USD to euros
    answer = carol.convert({"from_currency": "USD", "to_currency": "EUR", "amount": 3_000})
    assert answer.status_code == 201, answer.text
    conversion = answer.json()
    assert conversion["fee"] > 0
    # THEN the fee the platform kept is revenue in euros, and the conversion is counted
    revenue = _wait_for(statsd, "paystream.fees.revenue", lambda t: t.get("source") == "conversion")
    assert [(value, kind, tags["currency"]) for value, kind, tags in revenue] == [
        (float(conversion["fee"]), "c", "EUR")
    ]
    assert _wait_for(
        statsd, "paystream.conversions", lambda t: t.get("status") == "completed" and t.get("to_currency") == "EUR"
    )
