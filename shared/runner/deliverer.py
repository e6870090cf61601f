"""The local stand-in for Knative's IntegrationSource: SQS queues -> CloudEvent functions.

For every consumer queue a daemon thread long-polls SQS, takes the CloudEvent out of the
EventBridge envelope and POSTs it in binary mode to the consumer's functions-framework binding,
through a `Transport`: `HttpTransport` for one process per function (the local-services way),
`WsgiTransport` for the embedded way (the function's real Flask app, no socket).

What happens to a message follows the function's answer (docs/architecture.md, the event path):

- 2xx: delivered; the message is deleted.
- 4xx, or a body that is not an EventBridge envelope: it can never be handled. It is sent to the
  queue's dead-letter queue at once, with attributes `paystream-reason`, `paystream-consumer`
  and `paystream-status`, and deleted from the queue.
- 5xx, no answer or any transport error: retried. Its visibility timeout becomes an exponential
  backoff on its receive count, and the rest of the batch is released untouched so that FIFO
  order holds. After `max_receive_count` receives, SQS's redrive policy moves it to the
  dead-letter queue itself.

Ordering (docs/ordering.md): a queue holds one message group per ordering partition ("p-<n>"),
and SQS hands out a group's messages only while none of the group is in flight. Messages of a
batch are handled one at a time, in order; when one must be retried, the messages of *its*
group behind it are released untouched (so its wallet's order holds) while the other groups'
messages go on. The failed message's backoff keeps it in flight, which locks its group and only
its group. While a group of a queue is backing off, the queue is received one message at a
time (every receive counts against a message's `maxReceiveCount`, so batching behind a poison
message would push innocent messages of its group to the dead-letter queue with it). While any
group of a queue is locked (backing off, or held by another of its threads) the queue is
short-polled every `BACKOFF_POLL_INTERVAL_SECONDS`: moto answers a long poll over a locked group
by spinning, which starves every other call it serves.

`workers_per_queue` threads may serve one queue: SQS gives each a different group, so different
wallets are delivered at the same time and one wallet's events never are. Their receives are
made one at a time (only the deliveries overlap): moto takes a group's lock after it has chosen
the messages, so two receives at the same moment could both be handed one group's messages.

`Scheduler` is the local stand-in for a Knative PingSource: it posts a ping CloudEvent to each
scheduled function every `Schedule.every_seconds`.
"""

from __future__ import annotations

import base64
import enum
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from cloudevents.conversion import to_binary
from cloudevents.http import CloudEvent
from werkzeug.test import Client

from shared.adapters.aws import MalformedEnvelope, cloud_event_from_envelope
from shared.consumer import BATCHED_CONTENT_TYPE
from shared.observability.metrics import oldest_message_seen
from shared.runner.keepalive import KeepAliveClient, NoAnswer
from shared.topology import PING_EVENT_TYPE, SCHEDULES, Schedule, route_for

__all__ = [
    "DLQ_CONSUMER_ATTRIBUTE",
    "DLQ_REASON_ATTRIBUTE",
    "DLQ_REASON_CHARS_MAX",
    "DLQ_RECEIVE_COUNT_ATTRIBUTE",
    "DLQ_STATUS_ATTRIBUTE",
    "BACKOFF_POLL_INTERVAL_SECONDS",
    "BATCH_WINDOW_SECONDS",
    "WORKERS_PER_QUEUE_MAX",
    "ENDPOINT_ERROR_BACKOFF_BASE_SECONDS",
    "ENDPOINT_ERROR_BACKOFF_CAP_SECONDS",
    "HTTP_CONNECT_TIMEOUT_SECONDS",
    "HTTP_READ_TIMEOUT_SECONDS",
    "NO_ANSWER_STATUS",
    "PING_SOURCE_NAMESPACE",
    "RECEIVE_BATCH_SIZE_MAX",
    "RECEIVE_WAIT_SECONDS_MAX",
    "RETRY_BACKOFF_BASE_SECONDS",
    "RETRY_BACKOFF_CAP_SECONDS",
    "Deliverer",
    "DeliveryStats",
    "HttpTransport",
    "QueueEndpoints",
    "Scheduler",
    "Transport",
    "WsgiTransport",
    "ping_cloud_event",
    "to_binary_http",
]

logger = logging.getLogger(__name__)

# The status a Transport reports when the function gave no answer (refused, timed out).
NO_ANSWER_STATUS = 599

# SQS limits: at most 10 messages per receive, at most 20 seconds of long poll.
RECEIVE_BATCH_SIZE_MAX = 10
RECEIVE_WAIT_SECONDS_MAX = 20

# Visibility backoff of a failed message: base * 2 ** (receive_count - 1), capped.
RETRY_BACKOFF_BASE_SECONDS = 1
RETRY_BACKOFF_CAP_SECONDS = 300
# Short-poll interval of a queue while one of its groups is backing off (see the module doc).
BACKOFF_POLL_INTERVAL_SECONDS = 0.25
# Threads polling one queue: at most one per message group helps.
WORKERS_PER_QUEUE_MAX = 16
# Pause of a queue thread after the endpoint itself failed: base * 2 ** (failures - 1), capped.
ENDPOINT_ERROR_BACKOFF_BASE_SECONDS = 1
ENDPOINT_ERROR_BACKOFF_CAP_SECONDS = 30
_ENDPOINT_ERROR_EXPONENT_MAX = 16

# What a received message must carry: its group (ordering), its receive count (backoff) and
# when it was sent (the oldest-message metric).
_RECEIVED_ATTRIBUTES = ("MessageGroupId", "ApproximateReceiveCount", "SentTimestamp")
# While a queue keeps delivering, the next receive waits this long after a batch that was not
# full, so that one receive and one delete serve several messages (the endpoint's cost is per
# call). A queue that was quiet is received at once: a lone message is not held up.
BATCH_WINDOW_SECONDS = 0.1

# A function has this long to answer one CloudEvent. The read timeout stays well below a
# queue's visibility timeout (30 s), or a slow answer would let SQS hand the message out twice.
HTTP_CONNECT_TIMEOUT_SECONDS = 2
HTTP_READ_TIMEOUT_SECONDS = 10
# A message is only started if this much of its visibility timeout is left.
_VISIBILITY_MARGIN_SECONDS = HTTP_CONNECT_TIMEOUT_SECONDS + HTTP_READ_TIMEOUT_SECONDS + 1

# Dead-lettered messages carry these attributes; the reason is cut to a readable length.
DLQ_REASON_ATTRIBUTE = "paystream-reason"
DLQ_CONSUMER_ATTRIBUTE = "paystream-consumer"
DLQ_STATUS_ATTRIBUTE = "paystream-status"
DLQ_RECEIVE_COUNT_ATTRIBUTE = "paystream-receive-count"
DLQ_REASON_CHARS_MAX = 500
# `paystream-status` of a message that never reached the function (a malformed envelope).
_NO_STATUS = "none"

# The namespace in the PingSource source URI, as a Knative PingSource would set it.
PING_SOURCE_NAMESPACE = "paystream"

_THREAD_JOIN_TIMEOUT_SECONDS = 5.0
# stop(): how long it waits for each thread before it looks at what they still hold.
_STOP_JOIN_SLICE_SECONDS = 0.05
_STOP_POLL_SECONDS = 0.05


# --------------------------------------------------------------------------------------------
# Transports
# --------------------------------------------------------------------------------------------


@runtime_checkable
class Transport(Protocol):
    """Posts one binary-mode CloudEvent to a consumer and returns the HTTP status.

    A transport returns `NO_ANSWER_STATUS` (599) or raises when the function did not answer.
    """

    def post(self, consumer: str, headers: dict[str, str], body: bytes) -> int: ...


class HttpTransport(Transport):
    """Posts over HTTP to each consumer's base URL, e.g. ``{"score-fraud": "http://127.0.0.1:8101"}``."""

    def __init__(
        self,
        base_urls: Mapping[str, str],
        *,
        connect_timeout_seconds: float = HTTP_CONNECT_TIMEOUT_SECONDS,
        read_timeout_seconds: float = HTTP_READ_TIMEOUT_SECONDS,
    ) -> None:
        self._clients = {
            consumer: KeepAliveClient(
                url,
                connect_timeout_seconds=connect_timeout_seconds,
                read_timeout_seconds=read_timeout_seconds,
            )
            for consumer, url in base_urls.items()
        }

    def post(self, consumer: str, headers: dict[str, str], body: bytes) -> int:
        if consumer not in self._clients:
            raise LookupError(f"HttpTransport has no URL for consumer {consumer!r}")
        try:
            return self._clients[consumer].request("POST", "/", body, headers).status
        except NoAnswer as error:
            logger.warning("no answer from %s: %s", consumer, error)
            return NO_ANSWER_STATUS

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


class WsgiTransport(Transport):
    """Posts straight into each consumer's WSGI app (werkzeug's test client, no socket).

    Used by the embedded way: the app is the function's real functions-framework binding
    (`functions_framework.create_app(target, source, "cloudevent")`).
    """

    def __init__(self, apps: Mapping[str, Callable[..., Any]]) -> None:
        self._clients = {consumer: Client(app) for consumer, app in apps.items()}
        # The test client keeps cookies and state: one caller at a time per app.
        self._locks = {consumer: threading.Lock() for consumer in apps}

    def post(self, consumer: str, headers: dict[str, str], body: bytes) -> int:
        if consumer not in self._clients:
            raise LookupError(f"WsgiTransport has no app for consumer {consumer!r}")
        with self._locks[consumer]:
            response = self._clients[consumer].post("/", headers=headers, data=body)
            try:
                return response.status_code
            finally:
                response.close()


def to_binary_http(cloud_event: dict) -> tuple[dict[str, str], bytes]:
    """Binary-mode HTTP headers (ce-id, ce-type, ..., one ce-<name> per extension) and body.

    The body is the event's `data` as JSON (or raw bytes for `data_base64`). Content-Type is the
    event's `datacontenttype`, application/json when the event does not say.
    """
    attributes = {
        key: value for key, value in cloud_event.items() if key not in ("data", "data_base64") and value is not None
    }
    if "data_base64" in cloud_event:
        data: Any = base64.b64decode(cloud_event["data_base64"])
    else:
        data = cloud_event.get("data")
    if data is not None and "datacontenttype" not in attributes:
        attributes["datacontenttype"] = "application/json"
    headers, body = to_binary(CloudEvent(attributes, data))
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode("utf-8")
    return {str(name): str(value) for name, value in headers.items()}, body


# --------------------------------------------------------------------------------------------
# Deliverer
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueEndpoints:
    """Where one consumer's messages come from and where the undeliverable ones go."""

    queue_url: str
    dlq_url: str
    visibility_timeout_seconds: int = 30


@dataclass
class DeliveryStats:
    """Counters of one queue (or of all of them), cumulative unless returned by `run_once`."""

    received: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    retried: int = 0
    released: int = 0
    endpoint_errors: int = 0

    def add(self, other: DeliveryStats) -> None:
        for item in fields(self):
            setattr(self, item.name, getattr(self, item.name) + getattr(other, item.name))


class Deliverer:
    """Delivers every consumer queue's messages to its function through `transport`.

    `topology` is a `shared.provision.ProvisionedTopology`, or a mapping of consumer to
    `QueueEndpoints` or to a ``(queue_url, dlq_url)`` pair. `consumers` narrows the set.
    """

    def __init__(
        self,
        sqs_client: Any,
        topology: Any,
        transport: Transport,
        *,
        consumers: Iterable[str] | None = None,
        wait_seconds: int = 1,
        batch_size: int = 10,
        retry_backoff_base_seconds: int = RETRY_BACKOFF_BASE_SECONDS,
        retry_backoff_cap_seconds: int = RETRY_BACKOFF_CAP_SECONDS,
        workers_per_queue: int = 1,
        batch_window_seconds: float = BATCH_WINDOW_SECONDS,
    ) -> None:
        if not 1 <= workers_per_queue <= WORKERS_PER_QUEUE_MAX:
            raise ValueError(f"workers_per_queue must be between 1 and {WORKERS_PER_QUEUE_MAX}")
        if not 1 <= batch_size <= RECEIVE_BATCH_SIZE_MAX:
            raise ValueError(f"batch_size must be between 1 and {RECEIVE_BATCH_SIZE_MAX}")
        if not 0 <= wait_seconds <= RECEIVE_WAIT_SECONDS_MAX:
            raise ValueError(f"wait_seconds must be between 0 and {RECEIVE_WAIT_SECONDS_MAX}")
        if retry_backoff_base_seconds < 0 or retry_backoff_cap_seconds < retry_backoff_base_seconds:
            raise ValueError("retry backoff needs 0 <= base <= cap")
        self._sqs = sqs_client
        self._transport = transport
        endpoints = _queue_endpoints(topology)
        selected = list(endpoints) if consumers is None else list(consumers)
        unknown = [consumer for consumer in selected if consumer not in endpoints]
        if unknown:
            raise KeyError(f"no queue for consumers {unknown}; known: {sorted(endpoints)}")
        self._endpoints = {consumer: endpoints[consumer] for consumer in selected}
        self._wait_seconds = wait_seconds
        self._batch_size = batch_size
        self._retry_backoff_base_seconds = retry_backoff_base_seconds
        self._retry_backoff_cap_seconds = retry_backoff_cap_seconds
        self._workers_per_queue = workers_per_queue
        self._batch_window_seconds = batch_window_seconds
        self._stats = {consumer: DeliveryStats() for consumer in self._endpoints}
        # Per consumer, the message groups whose head failed and is backing off, each with the
        # monotonic time after which it is forgotten (SQS may have dead-lettered the head by then).
        self._backing_off: dict[str, dict[str, float]] = {consumer: {} for consumer in self._endpoints}
        self._lock = threading.Lock()
        self._receive_locks = {consumer: threading.Lock() for consumer in self._endpoints}
        # Messages each queue's threads hold in flight: their groups are locked meanwhile.
        self._in_flight = dict.fromkeys(self._endpoints, 0)
        # The consumers that take a receive's messages in one request (shared.topology).
        self._batched = {consumer: _route_batched(consumer) for consumer in self._endpoints}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def consumers(self) -> tuple[str, ...]:
        return tuple(self._endpoints)

    def stats(self, consumer: str | None = None) -> DeliveryStats:
        """A copy of the cumulative counters of `consumer`, or of all queues together."""
        total = DeliveryStats()
        with self._lock:
            for name, stats in self._stats.items():
                if consumer is None or name == consumer:
                    total.add(stats)
        return total

    # -- threads ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start one daemon thread per queue."""
        if self._threads:
            raise RuntimeError("the deliverer is already started")
        # A new event: a thread of an earlier start still in its long poll keeps the old one,
        # which is set, and ends when the poll returns.
        self._stop = threading.Event()
        for consumer in self._endpoints:
            for worker in range(self._workers_for(consumer)):
                thread = threading.Thread(
                    target=self._run,
                    args=(consumer, self._stop),
                    name=f"deliver-{consumer}-{worker}",
                    daemon=True,
                )
                thread.start()
                self._threads.append(thread)

    def stop(self, timeout: float = _THREAD_JOIN_TIMEOUT_SECONDS) -> bool:
        """Ask the threads to stop and wait up to `timeout` seconds for the messages they hold;
        True if none holds one any more.

        A thread finishes the messages it is delivering. One waiting in a long poll delivers
        nothing after this: what the poll returns is released to the queue untouched, and the
        thread ends then (a daemon thread, which the process need not wait for).
        """
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, min(deadline - time.monotonic(), _STOP_JOIN_SLICE_SECONDS)))
        while time.monotonic() < deadline:
            with self._lock:
                holding = {consumer: n for consumer, n in self._in_flight.items() if n}
            if not holding:
                break
            time.sleep(_STOP_POLL_SECONDS)
        else:
            logger.warning("deliverer still holds messages after %.1f s: %s", timeout, holding)
            self._threads = []
            return False
        self._threads = []
        return True

    def _run(self, consumer: str, stop: threading.Event) -> None:
        consecutive_failures = 0
        # Whether the last receive returned messages: the queue is busy while two in a row do.
        busy = False
        while not stop.is_set():
            try:
                stats = self.run_once(consumer)
                consecutive_failures = 0
                if not stats.received and self._short_polling(consumer):
                    stop.wait(BACKOFF_POLL_INTERVAL_SECONDS)
                elif busy and 0 < stats.received < self._batch_size:
                    stop.wait(self._batch_window_seconds)
                busy = stats.received > 0
            except Exception:
                consecutive_failures += 1
                pause = _exponential(
                    ENDPOINT_ERROR_BACKOFF_BASE_SECONDS,
                    ENDPOINT_ERROR_BACKOFF_CAP_SECONDS,
                    consecutive_failures,
                )
                logger.exception(
                    "delivery loop of %s failed (%d in a row); pausing %s s",
                    consumer,
                    consecutive_failures,
                    pause,
                )
                with self._lock:
                    self._stats[consumer].endpoint_errors += 1
                stop.wait(pause)

    # -- one pass -----------------------------------------------------------------------------

    def run_once(self, consumer: str) -> DeliveryStats:
        """One ReceiveMessage on `consumer`'s queue and the handling of what it returned.

        Endpoint errors (SQS unreachable) propagate; the thread loop catches and backs off.
        """
        endpoints = self._endpoints[consumer]
        pass_stats = DeliveryStats()
        careful = bool(self._groups_backing_off(consumer))
        with self._receive_locks[consumer]:
            response = self._sqs.receive_message(
                QueueUrl=endpoints.queue_url,
                MaxNumberOfMessages=1 if careful else self._batch_size,
                WaitTimeSeconds=0 if self._short_polling(consumer) else self._wait_seconds,
                # Only what delivery reads: every attribute more is work for the endpoint.
                MessageSystemAttributeNames=list(_RECEIVED_ATTRIBUTES),
            )
            messages: Sequence[dict[str, Any]] = response.get("Messages", [])
            with self._lock:
                self._in_flight[consumer] += len(messages)
        if self._stop.is_set() and messages:
            # Stopped during the poll: hand the messages back for whoever delivers next.
            try:
                self._release(endpoints, messages, pass_stats)
            finally:
                with self._lock:
                    self._in_flight[consumer] -= len(messages)
            return pass_stats
        received_at = time.monotonic()
        if messages and "SentTimestamp" in messages[0].get("Attributes", {}):
            oldest_message_seen(
                queue=route_for(consumer).queue_name,
                sent_epoch_ms=int(messages[0]["Attributes"]["SentTimestamp"]),
            )
        pass_stats.received = len(messages)
        finished: list[dict[str, Any]] = []
        held_back: list[dict[str, Any]] = []
        # Groups of this batch whose message failed: the rest of each waits, so order holds.
        stopped_groups: set[str] = set()
        try:
            together = (
                self._deliver_together(consumer, endpoints, messages, pass_stats)
                if self._batched[consumer] and len(messages) > 1
                else None
            )
            if together is _Outcome.FINISHED:
                finished.extend(messages)
                messages_left: Sequence[dict[str, Any]] = ()
            elif together is _Outcome.RETRY:
                held_back.extend(messages[1:])
                messages_left = ()
            else:
                # One at a time: not a batched consumer, a lone message, or a batch refused
                # whole (4xx), whose poison event is found by its own answer.
                messages_left = messages
            for index, message in enumerate(messages_left):
                left_seconds = endpoints.visibility_timeout_seconds - (time.monotonic() - received_at)
                if index > 0 and left_seconds < _VISIBILITY_MARGIN_SECONDS:
                    # Not enough visibility left to be sure of one more delivery: hand the rest
                    # back rather than risk SQS giving them to someone else mid-delivery.
                    held_back.extend(messages[index:])
                    break
                group = _message_group(message)
                if group in stopped_groups:
                    held_back.append(message)
                    continue
                outcome = self._handle(consumer, endpoints, message, pass_stats)
                if outcome == _Outcome.FINISHED:
                    finished.append(message)
                    # The group's head is through: its followers may come in batches again.
                    with self._lock:
                        self._backing_off[consumer].pop(group, None)
                    continue
                stopped_groups.add(group)
        finally:
            try:
                self._release(endpoints, held_back, pass_stats)
                self._delete(endpoints, finished)
            finally:
                with self._lock:
                    self._in_flight[consumer] -= len(messages)
                    self._stats[consumer].add(pass_stats)
        return pass_stats

    def _deliver_together(
        self,
        consumer: str,
        endpoints: QueueEndpoints,
        messages: Sequence[dict[str, Any]],
        stats: DeliveryStats,
    ) -> _Outcome | None:
        """Post the batch's events in one request (CloudEvents' batched content mode).

        FINISHED when the consumer took them all; RETRY when it failed (the first message backs
        off, which keeps its group locked); None when the batch cannot go together (a malformed
        envelope) or was refused whole (4xx): then each goes on its own.
        """
        try:
            batch = [cloud_event_from_envelope(message["Body"]) for message in messages]
        except MalformedEnvelope:
            return None
        body = json.dumps(batch, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        status = self._post(consumer, {"Content-Type": BATCHED_CONTENT_TYPE}, body, f"a batch of {len(batch)}")
        if 200 <= status < 300:
            stats.delivered += len(messages)
            return _Outcome.FINISHED
        if 400 <= status < 500:
            logger.warning("%s refused a batch of %d with %d: one at a time", consumer, len(batch), status)
            return None
        self._back_off(consumer, endpoints, messages[0], status, stats)
        return _Outcome.RETRY

    def _handle(
        self,
        consumer: str,
        endpoints: QueueEndpoints,
        message: dict[str, Any],
        stats: DeliveryStats,
    ) -> _Outcome:
        try:
            cloud_event = cloud_event_from_envelope(message["Body"])
        except MalformedEnvelope as error:
            logger.warning("malformed message %s on %s: %s", message["MessageId"], consumer, error)
            return self._dead_letter(consumer, endpoints, message, f"malformed envelope: {error}", None, stats)
        headers, body = to_binary_http(cloud_event)
        status = self._post(consumer, headers, body, cloud_event["id"])
        if 200 <= status < 300:
            stats.delivered += 1
            return _Outcome.FINISHED
        if 400 <= status < 500:
            logger.warning(
                "%s rejected %s (%s) with %d: dead-lettering",
                consumer,
                cloud_event["id"],
                cloud_event["type"],
                status,
            )
            return self._dead_letter(
                consumer,
                endpoints,
                message,
                f"{consumer} answered HTTP {status} to {cloud_event['type']} {cloud_event['id']}",
                status,
                stats,
            )
        # 5xx, no answer, or a status that means nothing here (1xx, 3xx): try again later.
        self._back_off(consumer, endpoints, message, status, stats)
        return _Outcome.RETRY

    def _post(self, consumer: str, headers: dict[str, str], body: bytes, what: str) -> int:
        """The consumer's answer to one request; NO_ANSWER_STATUS if it gave none."""
        try:
            return self._transport.post(consumer, headers, body)
        except Exception as error:  # noqa: BLE001 - any failure to get an answer is a retry
            logger.warning("posting %s to %s failed: %s", what, consumer, error)
            return NO_ANSWER_STATUS

    def _back_off(
        self,
        consumer: str,
        endpoints: QueueEndpoints,
        message: dict[str, Any],
        status: int,
        stats: DeliveryStats,
    ) -> None:
        """Leave `message` for redelivery after a backoff on its receive count; its group waits."""
        receive_count = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        delay = _exponential(self._retry_backoff_base_seconds, self._retry_backoff_cap_seconds, receive_count)
        logger.warning(
            "%s answered %d to message %s (receive %d); retrying in %d s",
            consumer,
            status,
            message["MessageId"],
            receive_count,
            delay,
        )
        self._set_visibility(endpoints, message, delay)
        stats.retried += 1
        self._note_backing_off(consumer, message, delay, endpoints)

    def _dead_letter(
        self,
        consumer: str,
        endpoints: QueueEndpoints,
        message: dict[str, Any],
        reason: str,
        status: int | None,
        stats: DeliveryStats,
    ) -> _Outcome:
        receive_count = message.get("Attributes", {}).get("ApproximateReceiveCount", "1")
        try:
            self._sqs.send_message(
                QueueUrl=endpoints.dlq_url,
                MessageBody=message["Body"],
                # Its own group (its ordering partition), so the DLQ keeps a wallet's order.
                MessageGroupId=_message_group(message) or consumer,
                # A second dead-lettering of the same message (after a failed delete) is dropped
                # by the DLQ's deduplication.
                MessageDeduplicationId=message["MessageId"],
                MessageAttributes={
                    DLQ_REASON_ATTRIBUTE: _string_attribute(reason[:DLQ_REASON_CHARS_MAX]),
                    DLQ_CONSUMER_ATTRIBUTE: _string_attribute(consumer),
                    DLQ_STATUS_ATTRIBUTE: _string_attribute(_NO_STATUS if status is None else str(status)),
                    DLQ_RECEIVE_COUNT_ATTRIBUTE: _string_attribute(str(receive_count)),
                },
            )
        except Exception as error:  # noqa: BLE001 - keep the message; it comes back and retries
            logger.warning("could not dead-letter %s on %s: %s", message["MessageId"], consumer, error)
            stats.retried += 1
            self._note_backing_off(consumer, message, 0, endpoints)
            return _Outcome.RETRY
        stats.dead_lettered += 1
        return _Outcome.FINISHED

    def _workers_for(self, consumer: str) -> int:
        """One thread for a queue with a single group: a second could only wait on the first."""
        try:
            partitioned = route_for(consumer).partitioned
        except KeyError:
            partitioned = True
        return self._workers_per_queue if partitioned else 1

    def _note_backing_off(
        self, consumer: str, message: dict[str, Any], delay_seconds: int, endpoints: QueueEndpoints
    ) -> None:
        forget_at = time.monotonic() + delay_seconds + endpoints.visibility_timeout_seconds
        with self._lock:
            self._backing_off[consumer][_message_group(message)] = forget_at

    def _short_polling(self, consumer: str) -> bool:
        """Whether some group of the queue is locked (a head backing off, or messages another
        thread holds): moto answers a long poll over a locked group by spinning, which starves
        every other call it serves, so such a queue is polled without waiting."""
        with self._lock:
            if self._in_flight[consumer]:
                return True
        return bool(self._groups_backing_off(consumer))

    def _groups_backing_off(self, consumer: str) -> set[str]:
        """The groups of `consumer` whose head is backing off (expired entries dropped)."""
        now = time.monotonic()
        with self._lock:
            groups = self._backing_off[consumer]
            for group in [group for group, forget_at in groups.items() if forget_at <= now]:
                del groups[group]
            return set(groups)

    def _delete(self, endpoints: QueueEndpoints, messages: Sequence[dict[str, Any]]) -> None:
        # Batches of RECEIVE_BATCH_SIZE_MAX (a batch never holds more than one receive anyway).
        for start in range(0, len(messages), RECEIVE_BATCH_SIZE_MAX):
            chunk = messages[start : start + RECEIVE_BATCH_SIZE_MAX]
            response = self._sqs.delete_message_batch(
                QueueUrl=endpoints.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]} for index, message in enumerate(chunk)
                ],
            )
            for failure in response.get("Failed", []):
                # The message comes back after its visibility timeout; consumers are idempotent.
                logger.warning("could not delete a delivered message: %s", failure)

    def _release(self, endpoints: QueueEndpoints, messages: Sequence[dict[str, Any]], stats: DeliveryStats) -> None:
        """Make unhandled messages visible again now; FIFO group locking keeps their order."""
        if not messages:
            return
        try:
            response = self._sqs.change_message_visibility_batch(
                QueueUrl=endpoints.queue_url,
                Entries=[
                    {
                        "Id": str(index),
                        "ReceiptHandle": message["ReceiptHandle"],
                        "VisibilityTimeout": 0,
                    }
                    for index, message in enumerate(messages)
                ],
            )
        except Exception as error:  # noqa: BLE001 - they come back after their visibility timeout
            logger.warning("could not release %d messages: %s", len(messages), error)
            return
        stats.released += len(messages) - len(response.get("Failed", []))

    def _set_visibility(self, endpoints: QueueEndpoints, message: dict[str, Any], seconds: int) -> None:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=endpoints.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=seconds,
            )
        except Exception as error:  # noqa: BLE001 - it comes back after the queue's timeout
            logger.warning("could not back off message %s: %s", message["MessageId"], error)


class _Outcome(enum.Enum):
    FINISHED = "finished"  # delivered or dead-lettered: delete it
    RETRY = "retry"  # left on the queue with a backoff


def _queue_endpoints(provisioned: Any) -> dict[str, QueueEndpoints]:
    queues = getattr(provisioned, "queues", provisioned)
    endpoints: dict[str, QueueEndpoints] = {}
    for consumer, value in queues.items():
        if isinstance(value, QueueEndpoints):
            endpoints[consumer] = value
        elif hasattr(value, "queue_url") and hasattr(value, "dlq_url"):
            endpoints[consumer] = QueueEndpoints(
                value.queue_url,
                value.dlq_url,
                getattr(value, "visibility_timeout_seconds", _route_visibility(consumer)),
            )
        else:
            queue_url, dlq_url = value
            endpoints[consumer] = QueueEndpoints(queue_url, dlq_url, _route_visibility(consumer))
    return endpoints


def _route_batched(consumer: str) -> bool:
    try:
        return route_for(consumer).batched
    except KeyError:
        return False


def _route_visibility(consumer: str) -> int:
    try:
        return route_for(consumer).visibility_timeout_seconds
    except KeyError:
        return QueueEndpoints.visibility_timeout_seconds


def _exponential(base: int, cap: int, attempt: int) -> int:
    exponent = min(max(attempt, 1) - 1, _ENDPOINT_ERROR_EXPONENT_MAX)
    return min(cap, base * 2**exponent)


def _message_group(message: Mapping[str, Any]) -> str:
    """The SQS message group of a received message (its ordering partition)."""
    return str(message.get("Attributes", {}).get("MessageGroupId") or "")


def _string_attribute(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


# --------------------------------------------------------------------------------------------
# Scheduler
# --------------------------------------------------------------------------------------------


def ping_cloud_event(consumer: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The ping a Knative PingSource would send to `consumer`, with a fresh id."""
    moment = now or datetime.now(UTC)
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": PING_EVENT_TYPE,
        "source": f"/apis/v1/namespaces/{PING_SOURCE_NAMESPACE}/pingsources/{consumer}",
        "time": moment.isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": {},
    }


class Scheduler:
    """Posts a ping CloudEvent to each scheduled function every `Schedule.every_seconds`."""

    def __init__(
        self,
        transport: Transport,
        schedules: Iterable[Schedule] = SCHEDULES,
    ) -> None:
        self._transport = transport
        self._schedules = tuple(schedules)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.pings_sent = 0
        self.pings_failed = 0

    def tick(self, consumer: str) -> int:
        """Post one ping to `consumer` now and return its HTTP status (599: no answer)."""
        headers, body = to_binary_http(ping_cloud_event(consumer))
        try:
            status = self._transport.post(consumer, headers, body)
        except Exception as error:  # noqa: BLE001 - a missed ping is retried at the next tick
            logger.warning("ping to %s failed: %s", consumer, error)
            status = NO_ANSWER_STATUS
        with self._lock:
            if 200 <= status < 300:
                self.pings_sent += 1
            else:
                self.pings_failed += 1
        if not 200 <= status < 300:
            logger.warning("%s answered %d to its ping", consumer, status)
        return status

    def start(self) -> None:
        """Start one daemon thread per schedule; the first ping goes out after one interval."""
        if self._threads:
            raise RuntimeError("the scheduler is already started")
        self._stop.clear()
        for schedule in self._schedules:
            thread = threading.Thread(target=self._run, args=(schedule,), name=f"ping-{schedule.consumer}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = _THREAD_JOIN_TIMEOUT_SECONDS) -> bool:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        stopped = not any(thread.is_alive() for thread in self._threads)
        self._threads = []
        return stopped

    def _run(self, schedule: Schedule) -> None:
        # Next tick on a fixed grid, so a slow ping does not drift the schedule.
        next_at = time.monotonic() + schedule.every_seconds
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            self.tick(schedule.consumer)
            next_at += schedule.every_seconds
            if next_at < time.monotonic():
                # Skipped ticks are not made up: a ping says "run now", not "run n times".
                next_at = time.monotonic() + schedule.every_seconds
