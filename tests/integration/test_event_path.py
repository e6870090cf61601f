"""The event path against a real moto server: provisioning, publishing, routing, delivery.

Each test starts from an empty moto (the `fresh_moto` fixture resets it) and provisions the
topology of `shared.topology`. The functions are real functions-framework CloudEvent apps
(`fixtures/recording_function.py`), reached through their WSGI app or over HTTP.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from werkzeug.serving import make_server

from schemas.cloudevent import short_type, wire_type
from shared import topology
from shared.adapters.aws import (
    PUT_EVENTS_ENTRIES_MAX,
    EventPublisher,
    MalformedEnvelope,
    Notifier,
    aws_client,
    cloud_event_from_envelope,
)
from shared.consumer import BATCHED_CONTENT_TYPE
from shared.provision import ProvisionedTopology, provision
from shared.runner.deliverer import (
    DLQ_CONSUMER_ATTRIBUTE,
    DLQ_REASON_ATTRIBUTE,
    DLQ_STATUS_ATTRIBUTE,
    Deliverer,
    HttpTransport,
    Scheduler,
    WsgiTransport,
    to_binary_http,
)
from shared.runner.sqs_http import SqsError, SqsOverHttp

pytestmark = pytest.mark.integration

FUNCTION_SOURCE = Path(__file__).parent / "fixtures" / "recording_function.py"
FUNCTION_MODULE = FUNCTION_SOURCE.stem
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
# Bounds of the polling loops below.
DRAIN_RECEIVES_MAX = 20
THREAD_WAIT_SECONDS_MAX = 15
_POLL_INTERVAL_SECONDS = 0.05


# -- fixtures and helpers ---------------------------------------------------------------------


def load_function(target: str) -> tuple[Any, Any]:
    """The functions-framework app of `target` and the module instance it runs."""
    app = functions_framework.create_app(target, str(FUNCTION_SOURCE), "cloudevent")
    # create_app loads a fresh module each time and registers it under the file's stem.
    return app, sys.modules[FUNCTION_MODULE]


def cloud_event(event_type: str = "payment.requested", **overrides: Any) -> dict[str, Any]:
    """A CloudEvent of `event_type` (the short name) as published: its type prefixed."""
    producer = topology.EVENT_TYPES[event_type]
    event = {
        "specversion": "1.0",
        "id": f"evt_{uuid.uuid4().hex}",
        "type": wire_type(event_type),
        "source": topology.cloud_event_source(producer),
        "subject": "pay_0001",
        "time": "2026-03-01T12:00:00Z",
        "datacontenttype": "application/json",
        "correlationid": "req_0001",
        "data": {"payment_id": "pay_0001", "amount_minor": 1999, "currency": "USD"},
    }
    event.update(overrides)
    return event


def drain(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete every message of a queue (FIFO groups unlock only after deletes)."""
    messages: list[dict[str, Any]] = []
    for _ in range(DRAIN_RECEIVES_MAX):
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    raise AssertionError(f"{queue_url} still had messages after {DRAIN_RECEIVES_MAX} receives")


def queue_depth(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + THREAD_WAIT_SECONDS_MAX
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(_POLL_INTERVAL_SECONDS)
    raise AssertionError(f"timed out waiting until {what}")


@pytest.fixture
def http_function() -> Iterator[tuple[str, Any]]:
    """The `record` function served over HTTP by a werkzeug server thread: (URL, module)."""
    app, module = load_function("record")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", module
    finally:
        server.shutdown()
        thread.join(THREAD_WAIT_SECONDS_MAX)


# -- provisioning -----------------------------------------------------------------------------


def test_provisioning_creates_the_whole_topology_and_is_idempotent(fresh_moto: str) -> None:
    # GIVEN an empty endpoint
    sqs = aws_client("sqs", endpoint_url=fresh_moto)
    events = aws_client("events", endpoint_url=fresh_moto)

    # WHEN the topology is provisioned twice
    first = provision(endpoint_url=fresh_moto)
    second = provision(endpoint_url=fresh_moto)

    # THEN the second run found and kept what the first one made
    assert first == second
    queue_urls = sqs.list_queues(QueueNamePrefix=topology.RESOURCE_PREFIX)["QueueUrls"]
    assert len(queue_urls) == 2 * len(topology.ROUTES) + 1

    target_dlq = sqs.get_queue_attributes(QueueUrl=first.target_dlq_url, AttributeNames=["All"])
    assert "FifoQueue" not in target_dlq["Attributes"]  # EventBridge wants a standard queue

    for route in topology.ROUTES:
        queue = first.queue(route.consumer)
        attributes = sqs.get_queue_attributes(QueueUrl=queue.queue_url, AttributeNames=["All"])["Attributes"]
        assert attributes["FifoQueue"] == "true"
        assert attributes["ContentBasedDeduplication"] == "true"
        assert attributes["VisibilityTimeout"] == str(route.visibility_timeout_seconds)
        redrive = json.loads(attributes["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"] == queue.dlq_arn
        assert int(redrive["maxReceiveCount"]) == route.max_receive_count
        policy = json.loads(attributes["Policy"])
        (statement,) = policy["Statement"]
        assert statement["Action"] == "sqs:SendMessage"
        assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == sorted(queue.rule_arns)
        assert len(queue.rule_arns) == len(route.rules)

        dlq = sqs.get_queue_attributes(QueueUrl=queue.dlq_url, AttributeNames=["All"])["Attributes"]
        assert dlq["FifoQueue"] == "true"
        assert queue.dlq_url.endswith(route.dlq_name)

        for partition_rule in route.rules:
            rule = events.describe_rule(Name=partition_rule.rule_name, EventBusName=topology.BUS_NAME)
            assert rule["State"] == "ENABLED"
            assert json.loads(rule["EventPattern"]) == partition_rule.event_pattern
            (target,) = events.list_targets_by_rule(Rule=partition_rule.rule_name, EventBusName=topology.BUS_NAME)[
                "Targets"
            ]
            assert target["Id"] == partition_rule.target_id
            assert target["Arn"] == queue.queue_arn
            assert target["SqsParameters"] == {"MessageGroupId": partition_rule.message_group_id}
            assert target["DeadLetterConfig"] == {"Arn": first.target_dlq_arn}
        if route.partitioned:
            assert [rule.event_pattern["detail"] for rule in route.rules] == [
                {"partition": [f"p-{n}"]} for n in range(topology.ORDERING_PARTITIONS)
            ]

    topics = aws_client("sns", endpoint_url=fresh_moto).list_topics()["Topics"]
    assert sorted(t["TopicArn"] for t in topics) == sorted(first.topic_arns.values())
    table = aws_client("dynamodb", endpoint_url=fresh_moto).describe_table(TableName=topology.AUDIT_TABLE_NAME)["Table"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_provision_command_line_prints_a_summary(fresh_moto: str) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "shared.provision", "--endpoint-url", fresh_moto],
        cwd=REPOSITORY_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "paystream-score-fraud.fifo" in completed.stdout
    assert topology.AUDIT_TABLE_NAME in completed.stdout


# -- publishing and routing -------------------------------------------------------------------


def test_a_payment_request_reaches_exactly_score_fraud_and_audit(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN a payment.requested CloudEvent
    event = cloud_event("payment.requested")

    # WHEN it is published
    result = publisher.publish([event])

    # THEN it is in the queues of its consumers, as the CloudEvent inside an EventBridge envelope
    assert result.published_ids == (event["id"],) and result.all_published
    for consumer in ("score-fraud", "audit"):
        (message,) = drain(sqs, provisioned.queue_url(consumer))
        envelope = json.loads(message["Body"])
        assert envelope["source"] == "paystream.payments"
        assert envelope["detail-type"] == "com.paystream.payment.requested"
        delivered = cloud_event_from_envelope(message["Body"])
        # The publisher adds the partition, from the subject when the event names no wallet.
        partition = f"p-{topology.partition_of(event['subject'])}"
        assert delivered == {**event, "partition": partition}
        # score-fraud's group is the partition; audit's one chain has one group.
        group = partition if consumer == "score-fraud" else consumer
        assert message["Attributes"]["MessageGroupId"] == group
    # AND in no other queue
    for consumer in ("debit-wallet", "settle", "notify"):
        assert drain(sqs, provisioned.queue_url(consumer)) == []


def test_every_event_type_reaches_exactly_the_consumers_the_topology_names(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN one event of every type: more than one PutEvents call's worth
    events = [cloud_event(event_type) for event_type in topology.EVENT_TYPES]
    assert len(events) > PUT_EVENTS_ENTRIES_MAX

    # WHEN they are published together
    result = publisher.publish(events)

    # THEN each queue holds exactly the types routed to it, in publishing order
    assert result.published_ids == tuple(e["id"] for e in events)
    for route in topology.ROUTES:
        received = [
            cloud_event_from_envelope(m["Body"])["type"] for m in drain(sqs, provisioned.queue_url(route.consumer))
        ]
        expected = [e["type"] for e in events if route.consumer in topology.consumers_of(short_type(e["type"]))]
        assert received == expected, route.consumer


def test_publishing_to_a_missing_bus_reports_every_event_as_failed(fresh_moto: str) -> None:
    # GIVEN no bus at all (nothing provisioned)
    publisher = EventPublisher(aws_client("events", endpoint_url=fresh_moto), "no-such-bus")
    events = [cloud_event() for _ in range(3)]

    # WHEN events are published
    result = publisher.publish(events)

    # THEN none is claimed as published, and each says why
    assert result.published_ids == ()
    assert result.failed_ids == tuple(e["id"] for e in events)
    assert set(result.failed.values()) == {"ResourceNotFoundException"}
    assert all(failure.error_message for failure in result.failures)


class _PartlyRejectingEvents:
    """A PutEvents stand-in that rejects every second entry, as EventBridge may do."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append(len(Entries))
        results = [
            {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}
            if index % 2
            else {"EventId": str(uuid.uuid4())}
            for index, _ in enumerate(Entries)
        ]
        return {"FailedEntryCount": len(Entries) // 2, "Entries": results}


def test_entries_that_eventbridge_rejects_are_never_claimed_as_published() -> None:
    client = _PartlyRejectingEvents()
    events = [cloud_event() for _ in range(12)]

    result = EventPublisher(client, topology.BUS_NAME).publish(events)

    assert client.calls == [PUT_EVENTS_ENTRIES_MAX, 2]
    assert result.published_ids == tuple(e["id"] for e in events[0::2])
    assert result.failed_ids == tuple(e["id"] for e in events[1::2])
    assert {f.error_code for f in result.failures} == {"ThrottlingException"}


def test_an_event_of_an_unknown_type_is_refused_before_anything_is_sent() -> None:
    client = _PartlyRejectingEvents()
    for wrong in ("x.y", "com.paystream.x.y", "payment.requested"):
        # (the last: a type as code names it, not as the wire carries it)
        with pytest.raises(ValueError, match="not in the topology"):
            EventPublisher(client, topology.BUS_NAME).publish([cloud_event(), {**cloud_event(), "type": wrong}])
    assert client.calls == []


def test_notifier_publishes_to_the_channel_topic(provisioned: ProvisionedTopology, fresh_moto: str) -> None:
    sns = aws_client("sns", endpoint_url=fresh_moto)
    notifier = Notifier(sns)

    message_id = notifier.publish("email", "Payment\nreceived", "You received $19.99", attributes={"user_id": "usr_1"})

    assert message_id
    assert notifier.topic_arn("email") == provisioned.topic_arns["email"]
    with pytest.raises(ValueError):
        notifier.publish("pigeon", "s", "m")


def eventbridge_envelope(detail: Any, **changes: Any) -> str:
    """An SQS message body as EventBridge writes it for a rule's target (`None` drops a key)."""
    envelope = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail.get("type", "com.paystream.x.y") if isinstance(detail, dict) else "com.paystream.x.y",
        "source": "paystream.payments",
        "account": "123456789012",
        "time": "2026-03-01T12:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
        **changes,
    }
    return json.dumps({key: value for key, value in envelope.items() if value is not None})


def test_the_cloud_event_comes_out_of_its_envelope_without_ddtraces_key() -> None:
    # GIVEN an envelope whose detail a tracer added its context to
    event = cloud_event()
    body = eventbridge_envelope({**event, "_datadog": {"x-datadog-trace-id": "1"}})
    # THEN the CloudEvent comes out as published, as bytes or text
    assert cloud_event_from_envelope(body) == event
    assert cloud_event_from_envelope(body.encode("utf-8")) == event


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe", "^body is not UTF-8"),
        ("not json", "^body is not JSON"),
        ("[1, 2]", "^body is a JSON list, not an object$"),
        (json.dumps({"detail": {}}), "^not an EventBridge envelope: no version, id, source, time, "),
        (eventbridge_envelope(cloud_event(), **{"detail-type": None}), "^not an EventBridge envelope: no detail-type$"),
        (eventbridge_envelope(cloud_event(), time="yesterday"), "^not an EventBridge envelope: time: "),
        (eventbridge_envelope("x"), "^envelope detail is not a JSON object$"),
        (eventbridge_envelope({"id": "1"}), "^detail is not a CloudEvent: no specversion, type, source$"),
        (
            eventbridge_envelope(cloud_event(), **{"detail-type": "com.paystream.payment.approved"}),
            "^detail-type 'com.paystream.payment.approved' differs from CloudEvent type",
        ),
        # The envelope and the event must agree on the type as on the wire.
        (eventbridge_envelope(cloud_event(), **{"detail-type": "payment.requested"}), "differs"),
    ],
)
def test_anything_but_an_eventbridge_envelope_is_malformed(body: str | bytes, reason: str) -> None:
    with pytest.raises(MalformedEnvelope, match=reason):
        cloud_event_from_envelope(body)


def test_binary_mode_carries_every_attribute_as_a_header() -> None:
    event = cloud_event()

    headers, body = to_binary_http(event)

    assert headers["ce-id"] == event["id"]
    assert headers["ce-type"] == "com.paystream.payment.requested"
    assert headers["ce-source"] == "/paystream/payments"
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-subject"] == "pay_0001"
    assert headers["ce-time"] == "2026-03-01T12:00:00Z"
    assert headers["ce-correlationid"] == "req_0001"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == event["data"]


# -- delivery ---------------------------------------------------------------------------------


def test_the_deliverer_posts_the_event_in_binary_mode_to_the_function_and_deletes_it(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN score-fraud's real functions-framework app and a published payment request
    app, function = load_function("record")
    deliverer = Deliverer(sqs, provisioned, WsgiTransport({"score-fraud": app}), consumers=["score-fraud"])
    event = cloud_event()
    publisher.publish([event])

    # WHEN the deliverer runs once
    stats = deliverer.run_once("score-fraud")

    # THEN the function got the CloudEvent, attributes and data intact, and the queue is empty
    assert (stats.received, stats.delivered, stats.retried, stats.dead_lettered) == (1, 1, 0, 0)
    ((attributes, data),) = function.RECEIVED
    assert {k: attributes[k] for k in ("id", "type", "source", "subject", "time", "correlationid")} == {
        k: event[k] for k in ("id", "type", "source", "subject", "time", "correlationid")
    }
    assert data == event["data"]
    assert queue_depth(sqs, provisioned.queue_url("score-fraud")) == 0
    assert queue_depth(sqs, provisioned.dlq_url("score-fraud")) == 0
    assert deliverer.stats("score-fraud").delivered == 1


def test_the_deliverer_threads_deliver_over_http(
    provisioned: ProvisionedTopology,
    publisher: EventPublisher,
    sqs: Any,
    http_function: tuple[str, Any],
) -> None:
    # GIVEN the function served over HTTP and running deliverer threads for two queues
    url, function = http_function
    transport = HttpTransport({"score-fraud": url, "audit": url})
    deliverer = Deliverer(sqs, provisioned, transport, consumers=["score-fraud", "audit"], wait_seconds=1)
    deliverer.start()
    try:
        # WHEN an event for both is published
        event = cloud_event()
        publisher.publish([event])

        # THEN both deliveries arrive and both queues empty
        wait_until(lambda: len(function.RECEIVED) == 2, "both consumers got the event")
        wait_until(lambda: deliverer.stats().delivered == 2, "both deliveries are counted")
    finally:
        assert deliverer.stop(timeout=THREAD_WAIT_SECONDS_MAX)
        transport.close()
    assert {attributes["id"] for attributes, _ in function.RECEIVED} == {event["id"]}
    assert queue_depth(sqs, provisioned.queue_url("score-fraud")) == 0
    assert queue_depth(sqs, provisioned.queue_url("audit")) == 0


def test_a_failing_function_gets_the_event_again_until_sqs_dead_letters_it(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN a function that always raises, and no backoff so redelivery is immediate
    app, _ = load_function("fail")
    deliverer = Deliverer(sqs, provisioned, WsgiTransport({"score-fraud": app}), retry_backoff_base_seconds=0)
    event = cloud_event()
    publisher.publish([event])
    max_receive_count = topology.route_for("score-fraud").max_receive_count

    # WHEN the deliverer tries max_receive_count times, then receives once more
    for attempt in range(1, max_receive_count + 1):
        stats = deliverer.run_once("score-fraud")
        assert (stats.received, stats.retried) == (1, 1), attempt
    last = deliverer.run_once("score-fraud")

    # THEN SQS's redrive policy has moved the message to the dead-letter queue
    assert last.received == 0
    assert deliverer.stats("score-fraud").retried == max_receive_count
    assert queue_depth(sqs, provisioned.queue_url("score-fraud")) == 0
    (dead,) = drain(sqs, provisioned.dlq_url("score-fraud"))
    assert cloud_event_from_envelope(dead["Body"])["id"] == event["id"]


def test_a_function_answering_4xx_sends_the_event_to_the_dead_letter_queue_at_once(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    app, _ = load_function("reject")
    deliverer = Deliverer(sqs, provisioned, WsgiTransport({"score-fraud": app}))
    event = cloud_event()
    publisher.publish([event])

    stats = deliverer.run_once("score-fraud")

    assert (stats.delivered, stats.dead_lettered, stats.retried) == (0, 1, 0)
    assert queue_depth(sqs, provisioned.queue_url("score-fraud")) == 0
    (dead,) = drain(sqs, provisioned.dlq_url("score-fraud"))
    assert cloud_event_from_envelope(dead["Body"])["id"] == event["id"]
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert attributes[DLQ_STATUS_ATTRIBUTE] == "422"
    assert attributes[DLQ_CONSUMER_ATTRIBUTE] == "score-fraud"
    assert "422" in attributes[DLQ_REASON_ATTRIBUTE]
    assert event["id"] in attributes[DLQ_REASON_ATTRIBUTE]


def test_a_body_that_is_not_an_eventbridge_envelope_is_dead_lettered_without_calling_the_function(
    provisioned: ProvisionedTopology, sqs: Any
) -> None:
    # GIVEN a message that no rule wrote
    app, function = load_function("record")
    deliverer = Deliverer(sqs, provisioned, WsgiTransport({"settle": app}))
    sqs.send_message(QueueUrl=provisioned.queue_url("settle"), MessageBody="hello", MessageGroupId="settle")

    # WHEN it is delivered
    stats = deliverer.run_once("settle")

    # THEN it is in the dead-letter queue with the reason, and the function never saw it
    assert stats.dead_lettered == 1
    assert function.RECEIVED == []
    (dead,) = drain(sqs, provisioned.dlq_url("settle"))
    assert dead["Body"] == "hello"
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert attributes[DLQ_REASON_ATTRIBUTE].startswith("malformed envelope: body is not JSON")
    assert attributes[DLQ_STATUS_ATTRIBUTE] == "none"
    assert queue_depth(sqs, provisioned.queue_url("settle")) == 0


def test_a_failing_event_holds_back_the_events_behind_it_so_order_is_kept(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN three events, and a function that fails on the first for now
    app, function = load_function("record")
    deliverer = Deliverer(sqs, provisioned, WsgiTransport({"debit-wallet": app}), retry_backoff_base_seconds=0)
    events = [cloud_event("payment.approved") for _ in range(3)]
    publisher.publish(events)
    function.FAIL_IDS.add(events[0]["id"])

    # WHEN it fails once
    first = deliverer.run_once("debit-wallet")

    # THEN nothing behind it was delivered; the rest of the batch went back to the queue
    assert (first.received, first.retried, first.delivered, first.released) == (3, 1, 0, 2)
    assert function.RECEIVED == []

    # WHEN the function recovers
    function.FAIL_IDS.clear()
    for _ in range(DRAIN_RECEIVES_MAX):
        if deliverer.stats("debit-wallet").delivered == len(events):
            break
        deliverer.run_once("debit-wallet")

    # THEN all three arrive, in their original order, and only once each
    assert [attributes["id"] for attributes, _ in function.RECEIVED] == [e["id"] for e in events]
    assert queue_depth(sqs, provisioned.queue_url("debit-wallet")) == 0


def test_a_deliverer_thread_retries_after_the_backoff_and_keeps_the_order(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN a running deliverer, and settle's function failing on the first of two events
    app, function = load_function("record")
    deliverer = Deliverer(sqs, provisioned, WsgiTransport({"settle": app}), consumers=["settle"])
    events = [cloud_event("payment.debited") for _ in range(2)]
    function.FAIL_IDS.add(events[0]["id"])
    deliverer.start()
    try:
        publisher.publish(events)
        wait_until(lambda: deliverer.stats().retried >= 1, "the first delivery failed")

        # WHEN the function recovers
        function.FAIL_IDS.clear()

        # THEN after the backoff both arrive, in order
        wait_until(lambda: deliverer.stats().delivered == 2, "both events are delivered")
    finally:
        assert deliverer.stop(timeout=THREAD_WAIT_SECONDS_MAX)
    assert [attributes["id"] for attributes, _ in function.RECEIVED] == [e["id"] for e in events]
    assert queue_depth(sqs, provisioned.queue_url("settle")) == 0


def test_deliverer_threads_survive_an_unreachable_endpoint() -> None:
    # GIVEN an SQS client for an endpoint where nothing listens
    dead_sqs = aws_client("sqs", endpoint_url="http://127.0.0.1:9")
    queues = {
        "notify": (
            "http://127.0.0.1:9/000000000000/q.fifo",
            "http://127.0.0.1:9/000000000000/d.fifo",
        )
    }
    deliverer = Deliverer(dead_sqs, queues, WsgiTransport({}), wait_seconds=0)

    # WHEN it runs
    deliverer.start()
    try:
        wait_until(lambda: deliverer.stats().endpoint_errors >= 1, "an endpoint error is counted")
        # THEN the thread is still alive, backing off
        assert all(t.is_alive() for t in deliverer._threads)
    finally:
        assert deliverer.stop(timeout=THREAD_WAIT_SECONDS_MAX)


def test_the_scheduler_pings_the_scheduled_function() -> None:
    app, function = load_function("record")
    scheduler = Scheduler(WsgiTransport({"relay-outbox": app}))

    status = scheduler.tick("relay-outbox")

    assert status == 200
    ((attributes, _),) = function.RECEIVED
    assert attributes["type"] == topology.PING_EVENT_TYPE
    assert attributes["source"] == "/apis/v1/namespaces/paystream/pingsources/relay-outbox"


class _RecordingTransport:
    """A consumer that answers with the next status of `answers` (200 once they run out) and
    keeps every request it got."""

    def __init__(self, *answers: int) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self._answers = list(answers)

    def post(self, consumer: str, headers: dict[str, str], body: bytes) -> int:
        self.requests.append((headers, body))
        return self._answers.pop(0) if self._answers else 200

    def event_ids(self, start: int = 0) -> list[str]:
        """The ids of the events posted from request `start` on, a batch's in its order."""
        ids: list[str] = []
        for headers, body in self.requests[start:]:
            if headers.get("Content-Type") == BATCHED_CONTENT_TYPE:
                ids += [event["id"] for event in json.loads(body)]
            else:
                ids.append(headers["ce-id"])
        return ids


def test_a_batched_consumer_gets_what_one_receive_returned_in_one_request(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN five events on audit's queue (a batched route)
    assert topology.route_for("audit").batched
    events = [cloud_event() for _ in range(5)]
    publisher.publish(events)
    transport = _RecordingTransport()
    deliverer = Deliverer(sqs, provisioned, transport, consumers=["audit"])
    # WHEN the deliverer runs until the queue is empty
    while deliverer.run_once("audit").received:
        pass
    # THEN the events came in batched content mode, in order, each once, and are deleted
    batches = [
        json.loads(body) for headers, body in transport.requests if headers.get("Content-Type") == BATCHED_CONTENT_TYPE
    ]
    assert [e["id"] for batch in batches for e in batch] == [e["id"] for e in events]
    assert len(transport.requests) < len(events)
    assert queue_depth(sqs, provisioned.queue_url("audit")) == 0


def test_a_refused_batch_is_delivered_one_at_a_time_so_only_the_poison_event_is_dead_lettered(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    # GIVEN three events for audit, and an audit that refuses the batch and then the second event
    events = [cloud_event() for _ in range(3)]
    publisher.publish(events)
    transport = _RecordingTransport(422, 200, 422, 200)
    deliverer = Deliverer(sqs, provisioned, transport, consumers=["audit"], batch_size=3)
    # WHEN one receive returns all three
    received = 0
    while received < 3:
        received += deliverer.run_once("audit").received
    assert received == 3, "one receive returned all three"
    # THEN after the batch came each event on its own, and only the refused one is dead-lettered
    assert transport.requests[0][0]["Content-Type"] == BATCHED_CONTENT_TYPE
    assert transport.event_ids(1) == [e["id"] for e in events]
    (dead,) = drain(sqs, provisioned.dlq_url("audit"))
    assert cloud_event_from_envelope(dead["Body"])["id"] == events[1]["id"]
    assert queue_depth(sqs, provisioned.queue_url("audit")) == 0


def test_a_failed_batch_waits_and_comes_back_whole(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any
) -> None:
    events = [cloud_event() for _ in range(3)]
    publisher.publish(events)
    transport = _RecordingTransport(503)
    deliverer = Deliverer(sqs, provisioned, transport, consumers=["audit"], retry_backoff_base_seconds=0)
    delivered = 0
    for _ in range(10):
        delivered += deliverer.run_once("audit").delivered
        if delivered == 3:
            break
    assert delivered == 3
    assert deliverer.stats("audit").retried == 1
    # (the failed batch's first message backs off; the rest may come back before it)
    assert sorted(transport.event_ids(1)) == sorted(e["id"] for e in events)


def test_the_deliverer_s_own_sqs_client_answers_what_boto3_answers(
    provisioned: ProvisionedTopology, publisher: EventPublisher, sqs: Any, fresh_moto: str
) -> None:
    # GIVEN the services mode's SQS client of the deliverer, beside boto3
    lean = SqsOverHttp(fresh_moto, region="us-east-1")
    url = provisioned.queue_url("score-fraud")
    publisher.publish([cloud_event(), cloud_event()])
    # WHEN it receives, changes a visibility and deletes
    received = lean.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=1,
        MessageSystemAttributeNames=["MessageGroupId", "ApproximateReceiveCount"],
    )
    messages = received["Messages"]
    for message in messages:
        lean.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    deleted = lean.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(again)]
    )
    # THEN the answers have boto3's shapes, and an error raises with AWS's code
    assert {m["Attributes"]["MessageGroupId"] for m in messages} <= {f"p-{n}" for n in range(8)}
    assert len(deleted["Successful"]) == len(again) and not deleted.get("Failed")
    assert [m["MessageId"] for m in again] == [m["MessageId"] for m in messages]
    assert queue_depth(sqs, url) == 0
    with pytest.raises(SqsError) as refused:
        lean.receive_message(QueueUrl=url + "-missing", MaxNumberOfMessages=1)
    assert "NonExistentQueue" in refused.value.code or "QueueDoesNotExist" in refused.value.code
    lean.close()
