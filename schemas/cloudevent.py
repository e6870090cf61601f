"""The CloudEvents 1.0 envelope every Paystream event travels in.

Paystream events are structured-mode CloudEvents: the attributes below plus a JSON `data` object
whose shape is given by the event type (see :mod:`schemas.events`). Producers build them with
:func:`new_cloud_event` (through the cloudevents SDK); consumers parse them with
:func:`parse_cloud_event`, envelope first and payload second, so that a malformed envelope and a
malformed payload are told apart.

Event types have two spellings, mapped here and nowhere else. Code, payload models, topology and
docs use the short name (`payment.requested`); the wire carries it under Paystream's reverse-DNS
prefix (`com.paystream.payment.requested`): the `type` attribute as published, EventBridge's
`DetailType` and its rules' `detail-type` patterns, binary mode's `ce-type` header.
:func:`wire_type` adds the prefix and :func:`short_type` takes it off again; a consumer maps the
type back before it dispatches on it (shared.consumer).

Attributes used, besides the required `specversion`, `id`, `source` and `type`:

- `subject`: the id of the aggregate the event is about (`pay_…`, `usr_…`, `top_…`, `fs_…`).
- `time`: when the fact happened, in UTC.
- `datacontenttype`: always `application/json`.
- `dataschema`: the URI of the published JSON Schema of the event's payload
  (`https://paystream.com/schemas/<Model>.json`: `schemas/json/<Model>.json` in the repository,
  written by `python -m schemas.export` with that URI as its `$id`).
- `correlationid` (extension): ties every event of one client request or saga together.
- `traceparent` (extension, W3C Trace Context): continues the trace across the bus.
- `partitionkey` (extension, CloudEvents partitioning): the wallet whose events keep their
  order (`wallet:<user_id>:<CUR>`); the publisher adds `partition`, its message group
  (docs/ordering.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from cloudevents.conversion import to_dict
from cloudevents.http import CloudEvent
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from schemas.api import IDENTIFIER_LENGTH_MAX
from schemas.events import (
    EVENT_PAYLOADS,
    EventPayload,
    UnknownEventType,
    parse_payload,
    partition_key,
)

__all__ = [
    "SPECVERSION",
    "DATACONTENTTYPE",
    "SOURCE_PREFIX",
    "TYPE_PREFIX",
    "SCHEMA_BASE_URI",
    "CloudEventEnvelope",
    "UnprefixedEventType",
    "dataschema_for",
    "schema_uri",
    "short_type",
    "source_for",
    "wire_type",
    "new_cloud_event",
    "parse_cloud_event",
]

SPECVERSION = "1.0"
DATACONTENTTYPE: Final = "application/json"
# A producer's source is `/paystream/<function>` (a URI-reference, as CloudEvents asks).
SOURCE_PREFIX = "/paystream/"
# Bounds on attributes, so that an envelope cannot carry an unbounded string into a log or a key.
ATTRIBUTE_LENGTH_MAX = 256
# The domain Paystream names itself by. Its reverse is the prefix of every event type on the wire
# (CloudEvents asks producers to make `type` unique that way); the published JSON Schemas of the
# payloads are served under it, one file per payload model, as `schemas/json/` holds them.
PAYSTREAM_DOMAIN = "paystream.com"
TYPE_PREFIX = ".".join(reversed(PAYSTREAM_DOMAIN.split("."))) + "."
SCHEMA_BASE_URI = f"https://{PAYSTREAM_DOMAIN}/schemas/"


class UnprefixedEventType(ValueError):
    """A type without Paystream's wire prefix: not one of Paystream's events as published."""

    def __init__(self, event_type: object) -> None:
        super().__init__(
            f"event type {event_type!r} lacks the {TYPE_PREFIX!r} prefix that Paystream's events carry on the wire"
        )
        self.event_type = event_type


def wire_type(event_type: str) -> str:
    """The `type` a Paystream event carries on the wire: `payment.requested` →
    `com.paystream.payment.requested`. Only a type that has a payload model has one
    (UnknownEventType otherwise, which also catches a type prefixed twice)."""
    if event_type not in EVENT_PAYLOADS:
        raise UnknownEventType(event_type)
    return TYPE_PREFIX + event_type


def short_type(event_type: object) -> str:
    """The name code uses for a wire type: `com.paystream.payment.requested` →
    `payment.requested` (the inverse of :func:`wire_type`). UnprefixedEventType for a type
    without the prefix; whether the short name is known is for its consumer to decide."""
    if not isinstance(event_type, str) or not event_type.startswith(TYPE_PREFIX) or len(event_type) == len(TYPE_PREFIX):
        raise UnprefixedEventType(event_type)
    return event_type[len(TYPE_PREFIX) :]


def schema_uri(model_name: str) -> str:
    """Where the JSON Schema `schemas/json/<model_name>.json` is published."""
    return f"{SCHEMA_BASE_URI}{model_name}.json"


def dataschema_for(event_type: str) -> str:
    """The `dataschema` of an event type: the published JSON Schema of its payload model."""
    model = EVENT_PAYLOADS.get(event_type)
    if model is None:
        raise UnknownEventType(event_type)
    return schema_uri(model.__name__)


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class CloudEventEnvelope(BaseModel):
    """A structured-mode CloudEvent 1.0 as Paystream produces it.

    Unknown attributes are ignored rather than rejected: CloudEvents asks consumers to tolerate
    extensions they do not know, and the transport (Knative, the SQS bridge) may add its own.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"]
    id: Annotated[str, Field(min_length=1, max_length=ATTRIBUTE_LENGTH_MAX)]
    # The wire type: Paystream's prefix, then the short name (`event_type` below).
    type: Annotated[
        str,
        Field(
            pattern=rf"^{re.escape(TYPE_PREFIX)}[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$",
            max_length=ATTRIBUTE_LENGTH_MAX,
            examples=[f"{TYPE_PREFIX}payment.requested"],
        ),
    ]
    # A URI-reference: non-empty and without whitespace; Paystream's are `/paystream/<function>`.
    source: Annotated[
        str,
        Field(pattern=r"^\S+$", max_length=ATTRIBUTE_LENGTH_MAX, examples=["/paystream/payments"]),
    ]
    subject: Annotated[str, Field(min_length=1, max_length=IDENTIFIER_LENGTH_MAX)]
    # RFC 3339 requires an offset, so a naive time is refused rather than guessed.
    time: Annotated[AwareDatetime, AfterValidator(_as_utc)]
    datacontenttype: Literal["application/json"] = DATACONTENTTYPE
    # An absolute URI (CloudEvents' `URI` type): the JSON Schema `data` follows.
    dataschema: (
        Annotated[
            str,
            Field(
                pattern=r"^[a-z][a-z0-9+.-]*:\S+$",
                max_length=ATTRIBUTE_LENGTH_MAX,
                examples=[schema_uri("PaymentRequested")],
            ),
        ]
        | None
    ) = None
    data: dict[str, Any]
    correlationid: Annotated[str, Field(min_length=1, max_length=ATTRIBUTE_LENGTH_MAX)] | None = None
    traceparent: Annotated[str, Field(pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")] | None = None
    partitionkey: Annotated[str, Field(min_length=1, max_length=ATTRIBUTE_LENGTH_MAX)] | None = None
    # "p-<n>": added by the publisher from `partitionkey`; the message group of the event.
    partition: Annotated[str, Field(pattern=r"^p-[0-9]+$", max_length=ATTRIBUTE_LENGTH_MAX)] | None = None

    @property
    def event_type(self) -> str:
        """The short name of the event's type (`payment.requested`), as code knows it."""
        return short_type(self.type)


def source_for(function: str) -> str:
    """The CloudEvent `source` of events produced by `function` (`/paystream/payments`)."""
    return f"{SOURCE_PREFIX}{function}"


def new_cloud_event(
    *,
    event_type: str,
    source_function: str,
    subject: str,
    data: BaseModel,
    event_id: str,
    time: datetime,
    correlation_id: str | None = None,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """Build a structured-mode CloudEvent, as a JSON-ready dict, for a producer to publish.

    `event_type` is the short name; the event carries its wire type and its `dataschema`.
    `data` must be an instance of the payload model of `event_type`: publishing one type with
    another's payload is a programmer error and raises, here, before anything is sent.
    Optional extensions that are `None` are left out of the result. The envelope model checks
    the attributes' bounds; the cloudevents SDK makes the structured form.
    """
    model = EVENT_PAYLOADS.get(event_type)
    if model is None:
        raise UnknownEventType(event_type)
    if type(data) is not model:
        raise TypeError(f"{event_type} carries {model.__name__}, not {type(data).__name__}")
    envelope = CloudEventEnvelope(
        specversion=SPECVERSION,
        id=event_id,
        type=wire_type(event_type),
        source=source_for(source_function),
        subject=subject,
        time=time,
        datacontenttype=DATACONTENTTYPE,
        dataschema=dataschema_for(event_type),
        data=data.model_dump(mode="json"),
        correlationid=correlation_id,
        traceparent=traceparent,
        partitionkey=partition_key(data),
    )
    attributes = envelope.model_dump(mode="json", exclude_none=True, exclude={"data"})
    return to_dict(CloudEvent(attributes, envelope.data))


def parse_cloud_event(raw: Mapping[str, Any]) -> tuple[CloudEventEnvelope, EventPayload]:
    """Parse a structured CloudEvent as published: the envelope first, then its payload by type.

    Raises :class:`pydantic.ValidationError` for a malformed envelope (a type without the wire
    prefix among them) or payload and :class:`schemas.events.UnknownEventType` for a type
    Paystream does not define. Either way the event can never be handled, and belongs in the
    dead-letter queue.
    """
    envelope = CloudEventEnvelope.model_validate(raw)
    return envelope, parse_payload(envelope.event_type, envelope.data)
