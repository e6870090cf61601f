"""The event topology: the one declaration of event types, producers, consumers and queues.

Everything that wires events together reads this module and nothing else: the local
provisioning (`shared.provision`), the local deliverer (`shared.runner.deliverer`), and the
generated `terraform/` and `knative/` manifests. A contract test compares them.

The shape is deliberately plain data:

- `EVENT_TYPES` names every CloudEvent type (the short name: `payment.requested`) and the
  function that produces it. On the wire, and so in the rules' `detail-type` patterns, a type
  carries Paystream's prefix (`com.paystream.payment.requested`, `schemas.cloudevent.wire_type`).
- `ROUTES` says which consuming function receives which types. Each route becomes one
  EventBridge rule per ordering partition on the `paystream` bus, one SQS FIFO queue with
  content-based deduplication, and one FIFO dead-letter queue that the queue redrives to after
  `max_receive_count` receives.
- `SCHEDULES` lists the functions that run on a timer instead of on events (a Knative
  `PingSource` in a cluster, the local `Scheduler` otherwise).

Ordering (docs/ordering.md): EventBridge's SQS target takes a *static* `MessageGroupId`, so a
route with one rule would put every event in one message group: ordered, but serial. Each route
therefore has `ORDERING_PARTITIONS` rules instead, one per partition. A producer names the wallet
whose order matters in the CloudEvent extension `partitionkey` (the payer's wallet for a
payment, the user's wallet for a top-up); the publisher adds `partition` = "p-<n>", a stable hash
of that key (`partition_of`), and the rule of partition n matches it and targets the queue with
`MessageGroupId` "p-<n>". One wallet's events always share a group and keep their order; other
wallets' events are in other groups and are not held up by it.

The module checks its own invariants at import (`_check_topology`), so a route naming an
unknown event type fails the first test that imports it rather than silently dropping events.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from schemas.cloudevent import wire_type

__all__ = [
    "AUDIT_ARCHIVE_BUCKET",
    "AUDIT_ARCHIVE_KEY_ALIAS",
    "AUDIT_TABLE_NAME",
    "BUS_NAME",
    "CLOUDEVENT_SOURCE_PREFIX",
    "CONSUMERS",
    "EVENTBRIDGE_SOURCE_PREFIX",
    "EVENTBRIDGE_TARGET_DLQ_NAME",
    "EVENT_PRODUCERS",
    "EVENT_TYPES",
    "KYC_DOCUMENTS_BUCKET",
    "KYC_DOCUMENTS_KEY_ALIAS",
    "ORDERING_PARTITIONS",
    "PARTITION_ATTRIBUTE",
    "PARTITION_KEY_ATTRIBUTE",
    "PING_EVENT_TYPE",
    "RESOURCE_PREFIX",
    "ROUTES",
    "SCHEDULES",
    "SNS_TOPICS",
    "PartitionRule",
    "Route",
    "Schedule",
    "cloud_event_source",
    "consumers_of",
    "partition_group",
    "partition_of",
    "producer_of_cloud_event_source",
    "producer_source",
    "producers_of",
    "route_for",
]

BUS_NAME = "paystream"
RESOURCE_PREFIX = "paystream"

# EventBridge `Source` of an entry: "paystream.<function>" (reverse-DNS style, as AWS expects).
EVENTBRIDGE_SOURCE_PREFIX = f"{RESOURCE_PREFIX}."
# CloudEvent `source` attribute of an event: "/paystream/<function>" (a URI reference).
CLOUDEVENT_SOURCE_PREFIX = f"/{RESOURCE_PREFIX}/"

# Every producer of every event type, in the order the saga reaches them. `payment.failed` has
# several: `score-fraud` fails a payment it cannot hold for review, `debit-wallet` one it cannot
# debit, `settle` voids one it cannot post.
EVENT_PRODUCERS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "user.signed_up": ("users",),
        # Sign-up (users) and KYC (accounts) screening matched the sanctions list.
        "sanctions.matched": ("users", "accounts"),
        "funding_source.added": ("accounts",),
        "topup.succeeded": ("wallets",),
        "topup.declined": ("wallets",),
        "payment.requested": ("payments",),
        "payment.approved": ("score-fraud",),
        "payment.held": ("score-fraud",),
        # A reviewer releases a held payment, or declines it; so does the sweeper, past its age.
        "payment.released": ("admin",),
        "payment.declined": ("score-fraud", "admin", "sweep-sagas"),
        "payment.debited": ("debit-wallet",),
        "payment.failed": ("score-fraud", "debit-wallet", "settle", "sweep-sagas"),
        "payment.completed": ("settle",),
        "conversion.completed": ("wallets",),
        "conversion.failed": ("wallets",),
        "withdrawal.requested": ("wallets",),
        # `payout` pays out or fails; `sweep-sagas` fails a withdrawal that stopped moving.
        "withdrawal.succeeded": ("payout",),
        "withdrawal.failed": ("payout", "sweep-sagas"),
        "payment.partially_refunded": ("settle",),
        "payment.refunded": ("settle",),
        "refund.requested": ("payments",),
        "refund.debited": ("debit-wallet",),
        "refund.completed": ("settle",),
        "refund.failed": ("debit-wallet", "settle", "sweep-sagas"),
        "payment_request.created": ("payments",),
        "payment_request.accepted": ("payments",),
        "payment_request.paid": ("settle",),
        # Whichever step ends the request's payment without completing it reopens the request.
        "payment_request.reopened": ("score-fraud", "debit-wallet", "settle", "sweep-sagas"),
        "payment_request.declined": ("payments",),
        "payment_request.cancelled": ("payments",),
        "payment_request.expired": ("sweep-sagas",),
        "admin.action_taken": ("admin",),
        # A user uploads an identity document; verify-kyc decides it, or sends it to support,
        # whose decision comes from admin.
        "kyc.submitted": ("accounts",),
        "kyc.verified": ("verify-kyc", "admin"),
        "kyc.rejected": ("verify-kyc", "admin"),
        "kyc.review": ("verify-kyc",),
    }
)

# CloudEvent type -> the function that first produces it. Kept as a plain str mapping because
# most callers want "who emits this"; `EVENT_PRODUCERS` has the complete list.
EVENT_TYPES: Mapping[str, str] = MappingProxyType(
    {event_type: producers[0] for event_type, producers in EVENT_PRODUCERS.items()}
)

# The CloudEvent type of the ping that a Knative PingSource (or the local Scheduler) sends.
PING_EVENT_TYPE = "dev.knative.sources.ping"

# EventBridge's own dead-letter queue for targets it could not deliver to (a missing queue, a
# denied policy). AWS accepts only a standard queue here, never a FIFO one.
EVENTBRIDGE_TARGET_DLQ_NAME = f"{RESOURCE_PREFIX}-eventbridge-target-dlq"

# Notification channel -> SNS topic name.
SNS_TOPICS: Mapping[str, str] = MappingProxyType({"email": f"{RESOURCE_PREFIX}-email", "sms": f"{RESOURCE_PREFIX}-sms"})

AUDIT_TABLE_NAME = f"{RESOURCE_PREFIX}-audit"

# The bucket of the audit chain's daily exports and of the regulatory reports, and the alias of
# the KMS key that encrypts them. Locally `shared.provision` creates both under these names; on
# AWS Terraform appends the account and region to the bucket's name.
AUDIT_ARCHIVE_BUCKET = f"{RESOURCE_PREFIX}-audit-archive"
AUDIT_ARCHIVE_KEY_ALIAS = f"alias/{RESOURCE_PREFIX}-audit-archive"

# The bucket of the identity documents users upload, and the alias of the KMS key that encrypts
# them (SSE-KMS). Locally `shared.provision` creates both under these names; on AWS, where bucket
# names are global, Terraform appends the account and region to the bucket's name.
KYC_DOCUMENTS_BUCKET = f"{RESOURCE_PREFIX}-kyc-documents"
KYC_DOCUMENTS_KEY_ALIAS = f"alias/{RESOURCE_PREFIX}-kyc-documents"

# The alias of the KMS key that wraps every user's personal data keys (shared.privacy): the
# key-encryption key of the services mode and of AWS. The embedded mode uses a key file instead.
PERSONAL_DATA_KEY_ALIAS = f"alias/{RESOURCE_PREFIX}-personal-data"

# Message groups per queue, hence EventBridge rules per route. Eight lets eight wallets move at
# once per consumer while keeping the rule count (33 with audit's single rule) far below
# EventBridge's 300 rules per bus and the local provisioning quick against moto.
ORDERING_PARTITIONS = 8
# CloudEvent extension attributes of the ordering: the key is the CloudEvents partitioning
# extension's `partitionkey`; the partition is what the rules match and the message group.
PARTITION_KEY_ATTRIBUTE = "partitionkey"
PARTITION_ATTRIBUTE = "partition"
_PARTITION_PREFIX = "p-"

# Limits that AWS enforces on the names derived below; checked at import.
_SQS_QUEUE_NAME_CHARS_MAX = 80
_EVENTBRIDGE_RULE_NAME_CHARS_MAX = 64
_EVENTBRIDGE_TARGET_ID_CHARS_MAX = 64
# EventBridge's default quota of rules on one bus.
_EVENTBRIDGE_RULES_PER_BUS_MAX = 300
# SQS accepts 1..1000 for maxReceiveCount and 0..43200 seconds for a visibility timeout.
_MAX_RECEIVE_COUNT_LIMIT = 1000
_VISIBILITY_TIMEOUT_SECONDS_LIMIT = 43_200


@dataclass(frozen=True)
class Route:
    """One consuming function and the event types it receives.

    Every derived name (queue, dead-letter queue, rules, targets) comes from the consumer name,
    which is also the function folder, the Knative Service and the trigger name.
    """

    consumer: str
    event_types: tuple[str, ...]
    # Receives before SQS dead-letters a message. With the deliverer's backoff (1 s doubling)
    # eight receives span about two minutes: a function that crashed or a database that
    # restarted is back by then, while a message that can never succeed still stops soon.
    max_receive_count: int = 8
    visibility_timeout_seconds: int = 30
    # False for a consumer that needs one total order rather than one per wallet (the audit
    # chain is one sequence: it gets one rule and one message group, as before partitioning).
    partitioned: bool = True
    # True for a consumer that also takes the messages of one receive in one request
    # (CloudEvents' batched content mode), as the local deliverer then sends them. Knative's
    # IntegrationSource sends one event per request, which such a consumer takes as well.
    batched: bool = False

    @property
    def queue_name(self) -> str:
        return f"{RESOURCE_PREFIX}-{self.consumer}.fifo"

    @property
    def dlq_name(self) -> str:
        return f"{RESOURCE_PREFIX}-{self.consumer}-dlq.fifo"

    @property
    def rules(self) -> tuple[PartitionRule, ...]:
        """One EventBridge rule per ordering partition, each feeding this route's queue (one
        rule and one group for a route that is not partitioned)."""
        if not self.partitioned:
            return (PartitionRule(self, None),)
        return tuple(PartitionRule(self, partition) for partition in range(ORDERING_PARTITIONS))


@dataclass(frozen=True)
class PartitionRule:
    """The rule of one route and one ordering partition, and its SQS target.

    EventBridge sets the target's `MessageGroupId` statically, so the rule of partition n
    matches only events whose `partition` is "p-<n>" and sends them to the group "p-<n>".
    An unpartitioned route's one rule (`partition` None) matches every partition and sends
    everything to one group named after the consumer.
    """

    route: Route
    partition: int | None

    @property
    def consumer(self) -> str:
        return self.route.consumer

    @property
    def message_group_id(self) -> str:
        if self.partition is None:
            return self.route.consumer
        return partition_group(self.partition)

    @property
    def rule_name(self) -> str:
        if self.partition is None:
            return f"{RESOURCE_PREFIX}-{self.route.consumer}"
        return f"{RESOURCE_PREFIX}-{self.route.consumer}-{self.message_group_id}"

    @property
    def target_id(self) -> str:
        return f"{self.rule_name}-queue"

    @property
    def event_pattern(self) -> dict[str, object]:
        """The route's detail-types (its event types as on the wire), in this partition only."""
        detail_types = sorted(wire_type(event_type) for event_type in self.route.event_types)
        if self.partition is None:
            return {"detail-type": detail_types}
        return {
            "detail-type": detail_types,
            "detail": {PARTITION_ATTRIBUTE: [self.message_group_id]},
        }


@dataclass(frozen=True)
class Schedule:
    """A function run on a timer: `every_seconds` locally, `cron` for a Knative PingSource.

    Cron has a one-minute resolution, so the local interval may be shorter than the cluster's;
    a scheduled function must be safe to run at any frequency.
    """

    consumer: str
    every_seconds: int
    cron: str


ROUTES: tuple[Route, ...] = (
    Route("score-fraud", ("payment.requested",)),
    Route("debit-wallet", ("payment.approved", "refund.requested")),
    Route("settle", ("payment.debited", "payment.released", "refund.debited")),
    Route("payout", ("withdrawal.requested",)),
    Route(
        "notify",
        (
            "payment.completed",
            "payment.failed",
            "payment.declined",
            "payment.held",
            "payment.released",
            "topup.succeeded",
            "topup.declined",
            "user.signed_up",
            "conversion.completed",
            "conversion.failed",
            "withdrawal.succeeded",
            "withdrawal.failed",
            "refund.completed",
            "refund.failed",
            "payment_request.created",
            "payment_request.paid",
            "payment_request.reopened",
            "payment_request.declined",
            "payment_request.cancelled",
            "payment_request.expired",
            "kyc.verified",
            "kyc.rejected",
            "kyc.review",
        ),
    ),
    Route("verify-kyc", ("kyc.submitted",)),
    # The audit trail records every event, so it follows EVENT_TYPES rather than a copy of it.
    # Its hash chain is one sequence: one total order, one group. A batch of events is appended
    # in one DynamoDB transaction, so it takes them in batches.
    Route("audit", tuple(EVENT_TYPES), partitioned=False, batched=True),
)

SCHEDULES: tuple[Schedule, ...] = (
    Schedule("relay-outbox", 10, "* * * * *"),
    Schedule("sweep-sagas", 60, "* * * * *"),
    # Hourly: each run exports the days that have ended and are not exported yet as they are now
    # (a late event changes its day's export); an unchanged day is not written again.
    Schedule("archive-audit", 3600, "15 * * * *"),
    # Daily, once the day's late events have arrived: reconcile yesterday, then write its reports.
    Schedule("reconcile", 3600, "30 1 * * *"),
)

CONSUMERS: tuple[str, ...] = tuple(route.consumer for route in ROUTES)

_ROUTES_BY_CONSUMER: Mapping[str, Route] = MappingProxyType({route.consumer: route for route in ROUTES})


def producer_source(function: str) -> str:
    """The EventBridge `Source` for events produced by `function`: ``"paystream.<function>"``."""
    if not function:
        raise ValueError("a producing function name is required")
    return f"{EVENTBRIDGE_SOURCE_PREFIX}{function}"


def cloud_event_source(function: str) -> str:
    """The CloudEvent `source` attribute for events produced by `function`."""
    if not function:
        raise ValueError("a producing function name is required")
    return f"{CLOUDEVENT_SOURCE_PREFIX}{function}"


def producer_of_cloud_event_source(source: str) -> str:
    """The producing function named by a CloudEvent `source` of the form "/paystream/<function>".

    Raises ValueError for any other shape: an event from outside the platform has no producer.
    """
    if not isinstance(source, str) or not source.startswith(CLOUDEVENT_SOURCE_PREFIX):
        raise ValueError(f"CloudEvent source {source!r} is not of the form '/paystream/<function>'")
    function = source[len(CLOUDEVENT_SOURCE_PREFIX) :]
    if not function or "/" in function:
        raise ValueError(f"CloudEvent source {source!r} is not of the form '/paystream/<function>'")
    return function


def partition_of(partition_key: str) -> int:
    """The ordering partition of a key: a stable hash (CRC-32, the same in every process and
    release, unlike Python's salted `hash`) modulo `ORDERING_PARTITIONS`."""
    if not isinstance(partition_key, str) or not partition_key:
        raise ValueError("a partition key is a non-empty string")
    return zlib.crc32(partition_key.encode("utf-8")) % ORDERING_PARTITIONS


def partition_group(partition: int) -> str:
    """The `partition` attribute and SQS message group of a partition number: "p-<n>"."""
    if not 0 <= partition < ORDERING_PARTITIONS:
        raise ValueError(f"partition {partition} is outside 0..{ORDERING_PARTITIONS - 1}")
    return f"{_PARTITION_PREFIX}{partition}"


def route_for(consumer: str) -> Route:
    """The route of a consuming function; KeyError names the known consumers if there is none."""
    try:
        return _ROUTES_BY_CONSUMER[consumer]
    except KeyError:
        raise KeyError(f"no route for consumer {consumer!r}; known: {', '.join(CONSUMERS)}") from None


def consumers_of(event_type: str) -> tuple[str, ...]:
    """The consuming functions that receive `event_type`, in `ROUTES` order."""
    return tuple(route.consumer for route in ROUTES if event_type in route.event_types)


def producers_of(event_type: str) -> tuple[str, ...]:
    """Every function that produces `event_type`."""
    return EVENT_PRODUCERS[event_type]


def _check_topology() -> None:
    """Raise if the declaration contradicts itself or an AWS naming limit."""
    problems: list[str] = []
    if not 1 <= sum(len(route.rules) for route in ROUTES) <= _EVENTBRIDGE_RULES_PER_BUS_MAX:
        problems.append("routes x ORDERING_PARTITIONS exceeds EventBridge's rules per bus")
    if len(_ROUTES_BY_CONSUMER) != len(ROUTES):
        problems.append("two routes share a consumer name")
    for route in ROUTES:
        unknown = sorted(set(route.event_types) - set(EVENT_TYPES))
        if unknown:
            problems.append(f"route {route.consumer} names unknown event types {unknown}")
        if not route.event_types:
            problems.append(f"route {route.consumer} receives no event type")
        if len(set(route.event_types)) != len(route.event_types):
            problems.append(f"route {route.consumer} lists an event type twice")
        if not 1 <= route.max_receive_count <= _MAX_RECEIVE_COUNT_LIMIT:
            problems.append(f"route {route.consumer} max_receive_count out of range")
        if not 0 <= route.visibility_timeout_seconds <= _VISIBILITY_TIMEOUT_SECONDS_LIMIT:
            problems.append(f"route {route.consumer} visibility timeout out of range")
        for name in (route.queue_name, route.dlq_name):
            if len(name) > _SQS_QUEUE_NAME_CHARS_MAX:
                problems.append(f"queue name {name} is longer than {_SQS_QUEUE_NAME_CHARS_MAX}")
        for rule in route.rules:
            if len(rule.rule_name) > _EVENTBRIDGE_RULE_NAME_CHARS_MAX:
                problems.append(f"rule name {rule.rule_name} is too long")
            if len(rule.target_id) > _EVENTBRIDGE_TARGET_ID_CHARS_MAX:
                problems.append(f"target id {rule.target_id} is too long")
    for event_type, producers in EVENT_PRODUCERS.items():
        if not producers:
            problems.append(f"event type {event_type} has no producer")
    for schedule in SCHEDULES:
        if schedule.every_seconds < 1:
            problems.append(f"schedule {schedule.consumer} must run at most once a second")
        if schedule.consumer in _ROUTES_BY_CONSUMER:
            problems.append(f"{schedule.consumer} is both scheduled and routed")
    if problems:
        raise RuntimeError("inconsistent topology: " + "; ".join(problems))


_check_topology()
