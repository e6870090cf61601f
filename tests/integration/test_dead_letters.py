"""`paystream dlq` against a real moto server: list, show, redrive exactly once, purge."""

from __future__ import annotations

import json
import uuid

import pytest

from shared.adapters.aws import aws_client
from shared.cli import main
from shared.dead_letters import DeadLetters
from shared.provision import provision

pytestmark = pytest.mark.integration


def _envelope(event_type: str = "payment.requested") -> tuple[str, str]:
    event_id = str(uuid.uuid4())
    body = json.dumps(
        {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": event_type,
            "source": "paystream.payments",
            "detail": {
                "id": event_id,
                "type": event_type,
                "source": "/paystream/payments",
                "specversion": "1.0",
                "data": {},
            },
        }
    )
    return event_id, body


@pytest.fixture
def sqs(moto_endpoint, monkeypatch):
    monkeypatch.setenv("PAYSTREAM_AWS_ENDPOINT_URL", moto_endpoint)
    topology = provision(endpoint_url=moto_endpoint)
    client = aws_client("sqs", endpoint_url=moto_endpoint)
    # Other tests share the session's moto server: start from empty queues (PurgeQueue allows
    # one call a minute, so drain them instead).
    for url in (topology.queue_url("score-fraud"), topology.dlq_url("score-fraud")):
        while messages := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
            for message in messages:
                client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return client, topology


def _dead_letter(sqs, topology, reason: str | None) -> str:
    event_id, body = _envelope()
    attributes = {"paystream-reason": {"DataType": "String", "StringValue": reason}} if reason else {}
    sqs.send_message(
        QueueUrl=topology.dlq_url("score-fraud"),
        MessageBody=body,
        MessageGroupId="score-fraud",
        MessageDeduplicationId=event_id,
        MessageAttributes=attributes,
    )
    return event_id


def test_dead_letters_are_listed_with_their_reason_and_left_in_place(sqs, capsys):
    client, topology = sqs
    event_id = _dead_letter(client, topology, "score-fraud answered 422: payload is invalid")
    letters = DeadLetters(client).peek("score-fraud", limit=10)
    assert [(d.event_id, d.reason) for d in letters] == [(event_id, "score-fraud answered 422: payload is invalid")]
    # The summary counts it, and listing did not take it away.
    assert main(["dlq", "list"]) == 0
    assert any(line.split() == ["score-fraud", "1"] for line in capsys.readouterr().out.splitlines())
    assert main(["dlq", "show", letters[0].message_id, "--consumer", "score-fraud"]) == 0
    assert event_id in capsys.readouterr().out


def test_a_redriven_dead_letter_is_back_on_its_queue_once(sqs):
    client, topology = sqs
    event_id = _dead_letter(client, topology, None)
    assert main(["dlq", "redrive", "--consumer", "score-fraud"]) == 0
    received = client.receive_message(
        QueueUrl=topology.queue_url("score-fraud"), MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["id"] for m in received] == [event_id]
    assert DeadLetters(client).peek("score-fraud", limit=10) == []


def test_purge_needs_yes_and_then_deletes(sqs):
    client, topology = sqs
    _dead_letter(client, topology, "poison")
    with pytest.raises(SystemExit):
        main(["dlq", "purge", "--consumer", "score-fraud"])
    assert main(["dlq", "purge", "--consumer", "score-fraud", "--yes"]) == 0
    assert DeadLetters(client).peek("score-fraud", limit=10) == []
