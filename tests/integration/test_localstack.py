"""LocalStack, as the services mode runs it: EventBridge → SQS FIFO with the in-process target."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.cloudevent import new_cloud_event
from schemas.events import PaymentRequested
from shared import topology
from shared.adapters.aws import EventPublisher, aws_client, cloud_event_from_envelope, with_partition
from shared.provision import provision
from shared.runner.localstack import default_localstack_python
from tests.throwaway import LocalStackServer, MotoServer

pytestmark = pytest.mark.integration

SERVE = Path(__file__).resolve().parents[2] / "localstack" / "serve.py"


@pytest.fixture(scope="module")
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    home = tmp_path_factory.mktemp("localstack")
    localstack = LocalStackServer(home)
    moto = MotoServer(home / "moto.log")
    localstack.start()
    moto.start()
    try:
        yield localstack.url, moto.url
    finally:
        moto.stop()
        localstack.stop()


def _event(payer: str) -> dict[str, Any]:
    payment = PaymentRequested(
        payment_id="pay_probe", payer_id=payer, payee_id="usr_b", amount_minor=1, currency="USD", note=""
    )
    return new_cloud_event(
        event_type="payment.requested",
        source_function="payments",
        subject="pay_probe",
        data=payment,
        event_id=f"evt_{uuid.uuid4().hex}",
        time=datetime.now(UTC),
    )


def test_the_in_process_sqs_target_finds_what_it_uses_in_the_pinned_localstack() -> None:
    # serve.py replaces one method of LocalStack's; an upgrade that moves a name fails here.
    check = (
        f"import runpy; module = runpy.run_path({str(SERVE)!r}, run_name='check');"
        "module['_send_to_sqs_in_process']();"
        "from localstack.services.events.target import SqsTargetSender;"
        "assert SqsTargetSender.send_event.__module__ == 'check'"
    )
    done = subprocess.run([str(default_localstack_python()), "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def _receive_all(sqs: Any, queue_url: str, count: int) -> list[dict[str, Any]]:
    """Receive `count` messages, deleting each batch as a consumer does: a FIFO group hands out
    its next message only once the one in flight is gone."""
    messages: list[dict[str, Any]] = []
    while len(messages) < count:
        received = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=5,
            MessageSystemAttributeNames=["MessageGroupId"],
        ).get("Messages")
        assert received, f"{queue_url} gave {len(messages)} of {count}"
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)],
        )
        messages += received
    return messages


def test_each_event_reaches_exactly_its_consumers_queues_in_its_wallet_s_group(endpoints: tuple[str, str]) -> None:
    localstack_url, moto_url = endpoints
    provisioned = provision(endpoint_url=localstack_url, dynamodb_endpoint_url=moto_url)
    publisher = EventPublisher(aws_client("events", endpoint_url=localstack_url), topology.BUS_NAME)
    sqs = aws_client("sqs", endpoint_url=localstack_url)
    events = [_event(f"usr_{n}") for n in range(3)]
    assert publisher.publish(events).all_published

    for consumer in ("score-fraud", "audit"):
        messages = _receive_all(sqs, provisioned.queue_url(consumer), len(events))
        by_id = {cloud_event_from_envelope(m["Body"])["id"]: m for m in messages}
        assert set(by_id) == {e["id"] for e in events}
        for event in events:
            group = by_id[event["id"]]["Attributes"]["MessageGroupId"]
            expected = with_partition(event)[topology.PARTITION_ATTRIBUTE]
            assert group == (expected if consumer != "audit" else "audit")
            assert json.loads(by_id[event["id"]]["Body"])["detail"]["data"] == event["data"]
    for consumer in ("debit-wallet", "settle", "notify", "payout"):
        assert not sqs.receive_message(QueueUrl=provisioned.queue_url(consumer), WaitTimeSeconds=0).get("Messages")
