"""AWS adapters of the event path: clients, the EventBridge publisher, SNS, the SQS envelope.

- `aws_client` builds every boto3 client of the platform with explicit time-outs, bounded
  retries and a connection pool sized for the deliverer's threads. Against a local endpoint
  (moto server, LocalStack) it falls back to dummy credentials.
- `EventPublisher` puts structured CloudEvents on the EventBridge bus, at most
  `PUT_EVENTS_ENTRIES_MAX` per call, and reports per entry which were published and which failed:
  PutEvents answers 200 even when some entries were rejected.
- `Notifier` publishes email and SMS notifications to their SNS topics.
- `cloud_event_from_envelope` takes the CloudEvent back out of the EventBridge envelope that an
  SQS target receives (parsed with Powertools' `EventBridgeModel`); anything else is a
  `MalformedEnvelope`, which the deliverer dead-letters.

The mapping between a CloudEvent and an EventBridge entry (see docs/architecture.md):
``Source`` = "paystream.<producer>" (the producer named by the CloudEvent `source`
"/paystream/<producer>"), ``DetailType`` = the CloudEvent `type` as on the wire
(`com.paystream.payment.requested`), ``Detail`` = the whole CloudEvent in structured JSON form.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pydantic
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from schemas.cloudevent import TYPE_PREFIX, UnprefixedEventType, short_type
from shared import topology
from shared.adapters.mail_outbox import MailOutbox
from shared.observability.metrics import aws_request_made

__all__ = [
    "AWS_CONNECT_TIMEOUT_SECONDS",
    "AWS_POOL_CONNECTIONS_MAX",
    "AWS_READ_TIMEOUT_SECONDS",
    "AWS_RETRY_ATTEMPTS_MAX",
    "LOCAL_ENDPOINT_CREDENTIALS",
    "PUT_EVENTS_ENTRIES_MAX",
    "PUT_EVENTS_REQUEST_BYTES_MAX",
    "EventPublisher",
    "MalformedEnvelope",
    "Notification",
    "NotificationRefused",
    "Notifier",
    "PublishFailure",
    "PublishResult",
    "aws_client",
    "cloud_event_from_envelope",
    "with_partition",
]

logger = logging.getLogger(__name__)

AWS_CONNECT_TIMEOUT_SECONDS = 5
# Longer than SQS's longest long poll (20 s), so a ReceiveMessage never times out while waiting.
AWS_READ_TIMEOUT_SECONDS = 30
# Total attempts per call, the first one included, in botocore's "standard" retry mode.
AWS_RETRY_ATTEMPTS_MAX = 3
# One connection per deliverer thread, with room for publishers and the audit writer.
AWS_POOL_CONNECTIONS_MAX = 50

# Credentials for a local AWS-compatible endpoint: moto and LocalStack accept any key.
LOCAL_ENDPOINT_CREDENTIALS = ("test", "test")

# PutEvents accepts at most 10 entries and 256 KiB per request (entries' sizes summed); the
# same 256 KiB bounds one entry.
PUT_EVENTS_ENTRIES_MAX = 10
PUT_EVENTS_REQUEST_BYTES_MAX = 256 * 1024
# AWS counts a `Time` field as 14 bytes when it sizes an entry.
_PUT_EVENTS_TIME_BYTES = 14

# SNS: a subject is at most 100 printable ASCII characters with no line break; a message at
# most 256 KiB.
SNS_SUBJECT_CHARS_MAX = 100
SNS_MESSAGE_BYTES_MAX = 256 * 1024
# PublishBatch takes at most 10 entries.
SNS_BATCH_ENTRIES_MAX = 10

# CloudEvent attributes every event must carry (CloudEvents 1.0 required attributes).
_REQUIRED_CLOUD_EVENT_ATTRIBUTES = ("specversion", "id", "type", "source")
# ddtrace injects its trace context into `Detail` under this key (unless
# DD_BOTOCORE_DISTRIBUTED_TRACING=false); it is not a valid CloudEvent attribute name.
_DATADOG_DETAIL_KEY = "_datadog"


def aws_client(service: str, *, endpoint_url: str | None, region: str = "us-east-1") -> Any:
    """A boto3 client for `service` with explicit time-outs, retries and pool size.

    With `endpoint_url` set (moto server, LocalStack) and no credentials in the environment,
    the client signs with dummy static credentials, so a developer needs no AWS account.
    Without an endpoint the normal credential chain applies (environment, profile, IAM role).
    A botocore client is thread-safe once built; build one per service and share it.
    """
    config = Config(
        region_name=region,
        connect_timeout=AWS_CONNECT_TIMEOUT_SECONDS,
        read_timeout=AWS_READ_TIMEOUT_SECONDS,
        retries={"total_max_attempts": AWS_RETRY_ATTEMPTS_MAX, "mode": "standard"},
        max_pool_connections=AWS_POOL_CONNECTIONS_MAX,
    )
    credentials: dict[str, str] = {}
    if endpoint_url and not _credentials_in_environment():
        access_key, secret_key = LOCAL_ENDPOINT_CREDENTIALS
        credentials = {"aws_access_key_id": access_key, "aws_secret_access_key": secret_key}
    # A session per client: boto3's default session is not safe to share while creating clients
    # from several threads.
    session = boto3.session.Session()
    # boto3-stubs types the service as a Literal of every name; ours are the callers' strings.
    client = session.client(service, endpoint_url=endpoint_url, config=config, **credentials)  # type: ignore[call-overload]
    # Every attempt is counted (`paystream.aws.requests`): on AWS each one is billed.
    client.meta.events.register("before-send", _counter_of(service))
    return client


def _counter_of(service: str) -> Any:
    # botocore names the event "before-send.<service id>.<Operation>".
    def count(event_name: str, **_: Any) -> None:
        aws_request_made(aws_service=service, operation=event_name.rpartition(".")[2])

    return count


def _credentials_in_environment() -> bool:
    # Not Paystream's configuration: these are botocore's credential-chain variables, which
    # botocore reads (and checks) itself. This only asks whether it will find credentials, at
    # the moment a client is made (the embedded runner sets them just before).
    return bool(os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE"))


# --------------------------------------------------------------------------------------------
# EventBridge
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishFailure:
    """One CloudEvent that was not published, with the reason EventBridge (or the call) gave."""

    event_id: str
    error_code: str
    error_message: str


@dataclass(frozen=True)
class PublishResult:
    """What happened to each CloudEvent of one `EventPublisher.publish` call.

    Every event given is in exactly one of `published_ids` or `failures`; a caller keeps the
    failed ones (for instance in its outbox) and publishes them again later.
    """

    published_ids: tuple[str, ...]
    failures: tuple[PublishFailure, ...]

    @property
    def failed(self) -> Mapping[str, str]:
        """Failed event id -> error code."""
        return {failure.event_id: failure.error_code for failure in self.failures}

    @property
    def failed_ids(self) -> tuple[str, ...]:
        return tuple(failure.event_id for failure in self.failures)

    @property
    def all_published(self) -> bool:
        return not self.failures


class EventPublisher:
    """Publishes structured CloudEvents to one EventBridge bus."""

    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus_name = bus_name

    def check_bus(self) -> None:
        """Raise unless the bus exists and the endpoint answers (a readiness probe)."""
        self._client.describe_event_bus(Name=self._bus_name)

    def publish(self, cloud_events: Sequence[dict]) -> PublishResult:
        """Put `cloud_events` on the bus, `PUT_EVENTS_ENTRIES_MAX` per PutEvents call.

        A malformed CloudEvent (missing required attributes, an unknown type, a source that is
        not "/paystream/<function>") is a programmer error and raises ValueError (TypeError for
        something that is not a dict) before anything is sent. An event EventBridge rejects, or one
        whose call failed at the endpoint, is reported in `PublishResult.failures` and never
        claimed as published.
        """
        entries = [(_event_id(cloud_event), self._entry(cloud_event)) for cloud_event in cloud_events]
        published: list[str] = []
        failed: list[PublishFailure] = []
        sendable: list[tuple[str, dict[str, Any]]] = []
        for event_id, entry in entries:
            if _entry_size_bytes(entry) > PUT_EVENTS_REQUEST_BYTES_MAX:
                failed.append(
                    PublishFailure(
                        event_id,
                        "EntryTooLarge",
                        f"entry exceeds {PUT_EVENTS_REQUEST_BYTES_MAX} bytes",
                    )
                )
            else:
                sendable.append((event_id, entry))
        for chunk in _chunks(sendable):
            chunk_published, chunk_failed = self._put_chunk(chunk)
            published.extend(chunk_published)
            failed.extend(chunk_failed)
        return PublishResult(published_ids=tuple(published), failures=tuple(failed))

    def _entry(self, cloud_event: dict) -> dict[str, Any]:
        _check_cloud_event(cloud_event)
        producer = topology.producer_of_cloud_event_source(cloud_event["source"])
        routed = with_partition(cloud_event)
        entry: dict[str, Any] = {
            "Source": topology.producer_source(producer),
            "DetailType": cloud_event["type"],
            # The structured form the SDK made (schemas.cloudevent.new_cloud_event), in compact
            # JSON: the SDK's own `to_structured` would add whitespace and ASCII escapes and
            # costs about five times as much per event (docs/architecture.md, Decisions).
            "Detail": json.dumps(routed, separators=(",", ":"), ensure_ascii=False),
            "EventBusName": self._bus_name,
        }
        event_time = _parse_time(cloud_event.get("time"))
        if event_time is not None:
            # The envelope's `time` then says when the fact happened, not when it was relayed.
            entry["Time"] = event_time
        return entry

    def _put_chunk(self, chunk: Sequence[tuple[str, dict[str, Any]]]) -> tuple[list[str], list[PublishFailure]]:
        try:
            response = self._client.put_events(Entries=[entry for _, entry in chunk])
        except (BotoCoreError, ClientError) as error:
            # The whole call failed (endpoint down, throttled past the retries, unknown bus):
            # none of this chunk was published, but earlier chunks were and stay reported so.
            code = _error_code(error)
            logger.warning("PutEvents failed for %d entries: %s", len(chunk), error)
            return [], [PublishFailure(event_id, code, str(error)) for event_id, _ in chunk]
        results = response.get("Entries", [])
        if len(results) != len(chunk):
            # PutEvents answers one result per entry, in order; anything else cannot be matched.
            message = f"PutEvents answered {len(results)} results for {len(chunk)} entries"
            logger.error(message)
            return [], [PublishFailure(event_id, "UnmatchedResponse", message) for event_id, _ in chunk]
        published: list[str] = []
        failed: list[PublishFailure] = []
        for (event_id, _), result in zip(chunk, results, strict=True):
            if result.get("ErrorCode") or not result.get("EventId"):
                failed.append(
                    PublishFailure(
                        event_id,
                        result.get("ErrorCode") or "Unknown",
                        result.get("ErrorMessage") or "no EventId returned",
                    )
                )
            else:
                published.append(event_id)
        if failed:
            logger.warning("PutEvents rejected %d of %d entries", len(failed), len(chunk))
        return published, failed


def with_partition(cloud_event: Mapping[str, Any]) -> dict[str, Any]:
    """The CloudEvent with its `partition` attribute ("p-<n>"), which the rules route on.

    The partition is a hash of the event's `partitionkey` (the wallet whose order matters).
    Every event must land in some partition, or no rule would match it and it would be lost:
    an event without a key (one built by hand) is partitioned by its `subject`, else its id.
    """
    key = cloud_event.get(topology.PARTITION_KEY_ATTRIBUTE) or cloud_event.get("subject") or cloud_event["id"]
    partition = topology.partition_group(topology.partition_of(str(key)))
    return {**cloud_event, topology.PARTITION_ATTRIBUTE: partition}


def _event_id(cloud_event: dict) -> str:
    if not isinstance(cloud_event, dict):
        raise TypeError(f"a CloudEvent must be a dict, not {type(cloud_event).__name__}")
    event_id = cloud_event.get("id")
    if not isinstance(event_id, str) or not event_id:
        raise ValueError("a CloudEvent needs a non-empty string id")
    return event_id


def _check_cloud_event(cloud_event: dict) -> None:
    missing = [name for name in _REQUIRED_CLOUD_EVENT_ATTRIBUTES if not cloud_event.get(name)]
    if missing:
        raise ValueError(f"CloudEvent {cloud_event.get('id')!r} lacks {', '.join(missing)}")
    try:
        event_type = short_type(cloud_event["type"])
    except UnprefixedEventType:
        event_type = None
    if event_type not in topology.EVENT_TYPES:
        # Only types declared in the topology, as on the wire (prefixed), have routes (audit
        # included): anything else would be accepted by EventBridge and then matched by no
        # rule, that is, lost.
        raise ValueError(
            f"CloudEvent type {cloud_event['type']!r} is not in the topology "
            f"(a type as on the wire: {TYPE_PREFIX}<type>)"
        )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        # Python 3.11 reads RFC 3339 timestamps, "Z" suffix included.
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    # CloudEvents times carry an offset; a bare one is read as UTC rather than local time.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _entry_size_bytes(entry: Mapping[str, Any]) -> int:
    """The size AWS attributes to one PutEvents entry (its documented calculation)."""
    size = _PUT_EVENTS_TIME_BYTES if "Time" in entry else 0
    for key in ("Source", "DetailType", "Detail"):
        size += len(entry.get(key, "").encode("utf-8"))
    for resource in entry.get("Resources", ()):
        size += len(resource.encode("utf-8"))
    return size


def _chunks(
    entries: Sequence[tuple[str, dict[str, Any]]],
) -> list[list[tuple[str, dict[str, Any]]]]:
    """Split entries into PutEvents calls bounded by both the entry count and the byte size."""
    chunks: list[list[tuple[str, dict[str, Any]]]] = []
    current: list[tuple[str, dict[str, Any]]] = []
    current_bytes = 0
    for item in entries:
        size = _entry_size_bytes(item[1])
        if current and (len(current) >= PUT_EVENTS_ENTRIES_MAX or current_bytes + size > PUT_EVENTS_REQUEST_BYTES_MAX):
            chunks.append(current)
            current, current_bytes = [], 0
        current.append(item)
        current_bytes += size
    if current:
        chunks.append(current)
    return chunks


def _error_code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code") or "ClientError")
    return type(error).__name__


# --------------------------------------------------------------------------------------------
# SNS
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """One message for a channel: its subject (SMS ignores it), text and attributes."""

    subject: str
    message: str
    attributes: Mapping[str, str] | None = None


class NotificationRefused(RuntimeError):
    """SNS refused a message of a batch: the step that sent it is retried."""


class Notifier:
    """Publishes notifications to the SNS topic of a channel ("email" or "sms").

    Topic ARNs are resolved once per channel, on first use, with CreateTopic (idempotent: it
    returns the existing topic's ARN), unless `topic_arns` gives them. Safe to share between
    threads.

    With a `mail_outbox` (the local modes), every e-mail SNS accepted is also copied there
    (shared.adapters.mail_outbox): an e-mail message is the JSON object `{to, subject, text}`.
    """

    def __init__(
        self,
        client: Any,
        *,
        topics: Mapping[str, str] = topology.SNS_TOPICS,
        topic_arns: Mapping[str, str] | None = None,
        mail_outbox: MailOutbox | None = None,
    ) -> None:
        self._client = client
        self._topics = dict(topics)
        self._topic_arns: dict[str, str] = dict(topic_arns or {})
        self._lock = threading.Lock()
        self._mail_outbox = mail_outbox

    def _copy_to_outbox(self, channel: str, messages: Sequence[str]) -> None:
        if self._mail_outbox is None or channel != "email":
            return
        now = datetime.now(UTC)
        for message in messages:
            try:
                mail = json.loads(message)
                self._mail_outbox.record(to=mail["to"], subject=mail["subject"], text=mail["text"], now=now)
            except (ValueError, KeyError, TypeError):
                logger.warning("an e-mail without to, subject and text was not copied to the mail outbox")

    def publish(
        self,
        channel: str,
        subject: str,
        message: str,
        *,
        attributes: Mapping[str, str] | None = None,
    ) -> str:
        """Publish `message` on `channel` and return SNS's message id.

        The subject is made acceptable to SNS (printable ASCII, no line breaks, at most
        `SNS_SUBJECT_CHARS_MAX` characters); SMS ignores it. A message over
        `SNS_MESSAGE_BYTES_MAX` is a programmer error (ValueError).
        """
        request = self._request(subject, message, attributes)
        response = self._client.publish(TopicArn=self.topic_arn(channel), **request)
        self._copy_to_outbox(channel, [message])
        return str(response["MessageId"])

    @staticmethod
    def _request(subject: str, message: str, attributes: Mapping[str, str] | None) -> dict[str, Any]:
        if len(message.encode("utf-8")) > SNS_MESSAGE_BYTES_MAX:
            raise ValueError(f"an SNS message is limited to {SNS_MESSAGE_BYTES_MAX} bytes")
        request: dict[str, Any] = {"Message": message}
        clean_subject = _sns_subject(subject)
        if clean_subject:
            request["Subject"] = clean_subject
        if attributes:
            request["MessageAttributes"] = {
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
            }
        return request

    def publish_all(self, channel: str, notifications: Sequence[Notification]) -> list[str]:
        """Publish several messages on `channel` in one call each `SNS_BATCH_ENTRIES_MAX`
        (PublishBatch); SNS's message ids, in order. A message SNS refused raises
        NotificationRefused (the caller's step is retried), as a failed call raises."""
        message_ids: list[str] = []
        for start in range(0, len(notifications), SNS_BATCH_ENTRIES_MAX):
            chunk = notifications[start : start + SNS_BATCH_ENTRIES_MAX]
            entries = []
            for index, notification in enumerate(chunk):
                entry = self._request(notification.subject, notification.message, notification.attributes)
                entries.append({"Id": str(index), **entry})
            response = self._client.publish_batch(TopicArn=self.topic_arn(channel), PublishBatchRequestEntries=entries)
            if response.get("Failed"):
                raise NotificationRefused(f"SNS refused {response['Failed']}")
            by_id = {item["Id"]: item["MessageId"] for item in response.get("Successful", [])}
            message_ids += [by_id[str(index)] for index in range(len(chunk))]
            self._copy_to_outbox(channel, [notification.message for notification in chunk])
        return message_ids

    def topic_arn(self, channel: str) -> str:
        """The ARN of `channel`'s topic, resolved once."""
        if channel not in self._topics:
            raise ValueError(f"unknown notification channel {channel!r}; known: {sorted(self._topics)}")
        with self._lock:
            arn = self._topic_arns.get(channel)
            if arn is None:
                arn = self._client.create_topic(Name=self._topics[channel])["TopicArn"]
                self._topic_arns[channel] = arn
            return arn


def _sns_subject(subject: str) -> str:
    printable = "".join(ch if " " <= ch <= "~" else " " for ch in subject)
    return " ".join(printable.split())[:SNS_SUBJECT_CHARS_MAX].strip()


# --------------------------------------------------------------------------------------------
# SQS: the EventBridge envelope
# --------------------------------------------------------------------------------------------


class MalformedEnvelope(ValueError):
    """An SQS message body that is not an EventBridge envelope around a structured CloudEvent.

    Such a message can never be handled, so the deliverer dead-letters it at once.
    """


class _CloudEventOnEventBridge(EventBridgeModel):
    """The EventBridge envelope an SQS target receives, around a structured CloudEvent.

    Powertools' model checks the envelope (the fields EventBridge writes); this one adds what
    makes its detail a Paystream CloudEvent: the required attributes, and the envelope's
    `detail-type` equal to the CloudEvent's `type`. ddtrace's `_datadog` key is dropped.
    """

    # moto's EventBridge leaves `account` out of what it delivers (AWS and LocalStack write it).
    account: str | None = None  # type: ignore[assignment]
    detail: dict[str, Any]

    @pydantic.model_validator(mode="after")
    def _carries_a_cloud_event(self) -> _CloudEventOnEventBridge:
        self.detail.pop(_DATADOG_DETAIL_KEY, None)
        missing = [name for name in _REQUIRED_CLOUD_EVENT_ATTRIBUTES if not self.detail.get(name)]
        if missing:
            raise ValueError(f"detail is not a CloudEvent: no {', '.join(missing)}")
        if self.detail["type"] != self.detail_type:
            raise ValueError(f"detail-type {self.detail_type!r} differs from CloudEvent type {self.detail['type']!r}")
        return self


# At most this many of pydantic's other errors are quoted in a MalformedEnvelope's reason.
_ENVELOPE_ERRORS_QUOTED_MAX = 3


def cloud_event_from_envelope(body: object) -> dict:
    """The structured CloudEvent inside an EventBridge envelope (the body of an SQS message).

    Parses the body with Powertools' parser into its `EventBridgeModel` (a JSON object with
    `version`, `id`, `detail-type`, `source`, `time`, `region`, `resources` and an object
    `detail`), then checks the CloudEvent's required attributes and that the envelope's
    `detail-type` is the CloudEvent's `type` (both as on the wire). Drops ddtrace's `_datadog`
    key if a tracer injected it into `Detail`. Raises MalformedEnvelope with the reason
    otherwise.
    """
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedEnvelope(f"body is not UTF-8: {error}") from None
    if not isinstance(body, str):
        raise MalformedEnvelope(f"body is a {type(body).__name__}, not JSON text")
    try:
        # Powertools parses JSON text as well as a dict; its annotation names only the dict.
        envelope = parse(event=body, model=_CloudEventOnEventBridge)  # type: ignore[call-overload]
    except pydantic.ValidationError as error:
        raise MalformedEnvelope(_reason(error)) from None
    return envelope.detail


def _reason(error: pydantic.ValidationError) -> str:
    """What is wrong with a body, in words: the JSON, the envelope's missing fields, or the
    first few other errors as `where: what`."""
    errors = error.errors(include_url=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return f"body is not JSON: {first.get('ctx', {}).get('error', first['msg'])}"
    if first["type"] == "model_type" and not first["loc"]:
        return f"body is a JSON {type(first['input']).__name__}, not an object"
    if first["type"] == "value_error" and not first["loc"]:
        # The CloudEvent checks above: their message is the reason.
        return first["msg"].removeprefix("Value error, ")
    missing = [str(item["loc"][0]) for item in errors if item["type"] == "missing" and len(item["loc"]) == 1]
    if missing:
        return f"not an EventBridge envelope: no {', '.join(missing)}"
    if first["loc"] == ("detail",) and first["type"] == "dict_type":
        return "envelope detail is not a JSON object"
    quoted = [
        f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}" for item in errors[:_ENVELOPE_ERRORS_QUOTED_MAX]
    ]
    return "not an EventBridge envelope: " + "; ".join(quoted)
