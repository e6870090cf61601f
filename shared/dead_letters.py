"""Dead letters: what the event path could not deliver, for an operator to read, replay or drop.

Every consumer's queue redrives to its own FIFO dead-letter queue (`shared.topology.Route`). A
message lands there because its function refused it (4xx: the deliverer sends it at once, with
its reason as message attributes) or kept failing (5xx: SQS moves it after `max_receive_count`
receives). Redriving sends it back to its consumer's queue; consumers are idempotent on the
CloudEvent id, so a message redriven after it was in fact handled changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from shared.runner.deliverer import (
    DLQ_REASON_ATTRIBUTE,
    DLQ_RECEIVE_COUNT_ATTRIBUTE,
    DLQ_STATUS_ATTRIBUTE,
)
from shared.topology import ROUTES, partition_group, route_for

__all__ = ["DeadLetter", "DeadLetters", "PEEK_SECONDS", "BATCH_MAX", "MESSAGES_PER_CALL_MAX"]

# SQS returns at most 10 messages per receive.
BATCH_MAX = 10
# The most messages one command touches: bounded, and said so when reached.
MESSAGES_PER_CALL_MAX = 1_000
# Messages being read stay invisible at most this long: a read gives them back at once when done,
# and one interrupted gives them back when this runs out.
PEEK_SECONDS = 5


@dataclass(frozen=True)
class DeadLetter:
    consumer: str
    message_id: str
    receipt_handle: str
    body: str
    reason: str
    status: str
    receive_count: str
    event_id: str
    event_type: str
    # The message group it came from (an ordering partition, "p-<n>"); a redrive returns it
    # there, behind the events of the same wallet that are still waiting.
    message_group_id: str

    @classmethod
    def from_message(cls, consumer: str, message: dict[str, Any]) -> DeadLetter:
        attributes = message.get("MessageAttributes", {})

        def attribute(name: str) -> str:
            return attributes.get(name, {}).get("StringValue", "")

        event_id, event_type = "", ""
        try:
            detail = json.loads(message["Body"]).get("detail", {})
            event_id, event_type = str(detail.get("id", "")), str(detail.get("type", ""))
        except (ValueError, AttributeError):
            pass  # a body that is not an envelope is itself the reason it is here
        return cls(
            consumer=consumer,
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message["Body"],
            # No reason attribute: SQS moved it after the function failed max_receive_count times.
            reason=attribute(DLQ_REASON_ATTRIBUTE) or "the function kept failing (redrive policy)",
            status=attribute(DLQ_STATUS_ATTRIBUTE),
            receive_count=attribute(DLQ_RECEIVE_COUNT_ATTRIBUTE)
            or message.get("Attributes", {}).get("ApproximateReceiveCount", ""),
            event_id=event_id,
            event_type=event_type,
            message_group_id=message.get("Attributes", {}).get("MessageGroupId") or partition_group(0),
        )


class DeadLetters:
    """The dead-letter queues of every consumer, reached by their names in the topology."""

    def __init__(self, sqs_client: Any) -> None:
        self._sqs = sqs_client
        self._urls: dict[str, str] = {}

    def _url(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[name]

    def depth(self, queue_name: str) -> int:
        """Approximate number of messages in a queue, visible and in flight."""
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self._url(queue_name),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def summary(self) -> list[tuple[str, int]]:
        """(consumer, approximate number of dead letters) for every consumer."""
        return [(route.consumer, self.depth(route.dlq_name)) for route in ROUTES]

    def _receive(self, consumer: str, *, visibility_seconds: int, limit: int) -> Iterator[DeadLetter]:
        queue_url = self._url(route_for(consumer).dlq_name)
        received = 0
        while received < min(limit, MESSAGES_PER_CALL_MAX):
            messages = self._sqs.receive_message(
                QueueUrl=queue_url,
                MaxNumberOfMessages=min(BATCH_MAX, limit - received),
                VisibilityTimeout=visibility_seconds,
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return
            for message in messages:
                received += 1
                yield DeadLetter.from_message(consumer, message)

    def peek(self, consumer: str, *, limit: int) -> list[DeadLetter]:
        """Up to `limit` dead letters of `consumer`, left in their queue (visible again at once)."""
        letters = list(self._receive(consumer, visibility_seconds=PEEK_SECONDS, limit=limit))
        dlq_url = self._url(route_for(consumer).dlq_name)
        for start in range(0, len(letters), BATCH_MAX):
            self._sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                    for index, letter in enumerate(letters[start : start + BATCH_MAX])
                ],
            )
        return letters

    def redrive(self, consumer: str, *, limit: int, message_id: str | None = None) -> int:
        """Send dead letters back to the consumer's queue (all, up to `limit`, or one by id)."""
        route = route_for(consumer)
        queue_url, dlq_url = self._url(route.queue_name), self._url(route.dlq_name)
        moved = 0
        for letter in self._receive(consumer, visibility_seconds=PEEK_SECONDS * 6, limit=limit):
            if message_id is not None and letter.message_id != message_id:
                continue
            self._sqs.send_message(
                QueueUrl=queue_url,
                MessageBody=letter.body,
                MessageGroupId=letter.message_group_id,
                # Not the body's content hash: the original may still be inside SQS's
                # deduplication window, and the replay must not be taken for it.
                MessageDeduplicationId=f"redrive-{letter.message_id}",
            )
            self._sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=letter.receipt_handle)
            moved += 1
        return moved

    def purge(self, consumer: str, *, limit: int) -> int:
        """Delete up to `limit` dead letters of `consumer`; returns how many."""
        dlq_url = self._url(route_for(consumer).dlq_name)
        deleted = 0
        for letter in self._receive(consumer, visibility_seconds=PEEK_SECONDS * 6, limit=limit):
            self._sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=letter.receipt_handle)
            deleted += 1
        return deleted
