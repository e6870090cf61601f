"""Provision the event topology on an AWS-compatible endpoint, idempotently.

`provision()` reads `shared.topology` and creates (or converges) everything the event path
needs: the EventBridge bus; per route a FIFO queue with content-based deduplication (EventBridge
delivers to a FIFO queue only then), its FIFO dead-letter queue and redrive policy, a queue
policy that lets only that route's rules send to it, one rule per ordering partition matching
exactly the route's detail-types in that partition, and each rule's target with the
partition's message group and EventBridge's own standard dead-letter queue; the SNS topics; the DynamoDB audit table;
the KMS keys of the KYC documents and of the audit archive (under their aliases) and their
buckets, private, encrypted by default with their key (the archive's versioned).

Running it twice changes nothing: existing queues get their attributes set again, rules and
targets are upserts, stray targets on our rules and rules of an earlier layout are removed, and
existing topics and tables are kept.

From the command line (moto server or LocalStack; real AWS without --endpoint-url):

    python -m shared.provision --endpoint-url http://127.0.0.1:4566
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from shared import topology
from shared.adapters.audit_chain import audit_table_definition
from shared.adapters.aws import aws_client
from shared.settings import ConfigurationError, ProvisionSettings, load_settings

__all__ = [
    "DLQ_RETENTION_SECONDS",
    "QUEUE_RETENTION_SECONDS",
    "TABLE_ACTIVE_WAIT_ATTEMPTS_MAX",
    "TARGET_EVENT_AGE_SECONDS_MAX",
    "TARGET_RETRY_ATTEMPTS_MAX",
    "ProvisionedQueue",
    "ProvisionedTopology",
    "ProvisioningError",
    "main",
    "provision",
]

logger = logging.getLogger(__name__)

# Four days on the work queues (the SQS default, stated); fourteen, the maximum, on every
# dead-letter queue so that an operator has time to look.
QUEUE_RETENTION_SECONDS = 4 * 24 * 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# How long EventBridge keeps retrying a target before it uses the target's dead-letter queue.
TARGET_RETRY_ATTEMPTS_MAX = 185
TARGET_EVENT_AGE_SECONDS_MAX = 24 * 3600
# DescribeTable polls (one a second) while a new table becomes ACTIVE.
TABLE_ACTIVE_WAIT_ATTEMPTS_MAX = 60
_TABLE_ACTIVE_WAIT_DELAY_SECONDS = 1

_EVENTBRIDGE_PRINCIPAL = "events.amazonaws.com"
# A key made by a provisioner that lost the race for the alias is deleted after the shortest
# waiting period KMS allows.
_KEY_DELETION_WINDOW_DAYS = 7


class ProvisioningError(RuntimeError):
    """The endpoint refused part of the topology (for instance a target it would not accept)."""


@dataclass(frozen=True)
class ProvisionedQueue:
    """The AWS resources of one route."""

    consumer: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    rule_arns: tuple[str, ...]
    max_receive_count: int
    visibility_timeout_seconds: int


@dataclass(frozen=True)
class ProvisionedTopology:
    """What `provision()` created: URLs and ARNs, looked up by consumer."""

    region: str
    endpoint_url: str | None
    bus_name: str
    bus_arn: str
    queues: Mapping[str, ProvisionedQueue]
    target_dlq_url: str
    target_dlq_arn: str
    topic_arns: Mapping[str, str] = field(default_factory=dict)
    audit_table_name: str = topology.AUDIT_TABLE_NAME
    kyc_documents_bucket: str = topology.KYC_DOCUMENTS_BUCKET
    kyc_documents_key_arn: str = ""

    def queue(self, consumer: str) -> ProvisionedQueue:
        try:
            return self.queues[consumer]
        except KeyError:
            raise KeyError(f"no provisioned queue for consumer {consumer!r}") from None

    def queue_url(self, consumer: str) -> str:
        return self.queue(consumer).queue_url

    def dlq_url(self, consumer: str) -> str:
        return self.queue(consumer).dlq_url

    def summary_rows(self) -> list[tuple[str, str, str]]:
        """(kind, name, address) rows, for the command line summary."""
        rows = [("bus", self.bus_name, self.bus_arn)]
        for consumer, queue in self.queues.items():
            rows.append(("queue", consumer, queue.queue_url))
            rows.append(("dlq", consumer, queue.dlq_url))
            for rule_arn in queue.rule_arns:
                rows.append(("rule", consumer, rule_arn))
        rows.append(("target-dlq", topology.EVENTBRIDGE_TARGET_DLQ_NAME, self.target_dlq_url))
        for channel, arn in self.topic_arns.items():
            rows.append(("topic", channel, arn))
        rows.append(("table", "audit", self.audit_table_name))
        rows.append(("key", topology.KYC_DOCUMENTS_KEY_ALIAS, self.kyc_documents_key_arn))
        rows.append(("bucket", "kyc-documents", self.kyc_documents_bucket))
        return rows


def provision(
    *,
    endpoint_url: str | None,
    region: str = "us-east-1",
    dynamodb_endpoint_url: str | None = None,
) -> ProvisionedTopology:
    """Create or converge the whole topology of `shared.topology` and describe it.

    `dynamodb_endpoint_url` is DynamoDB's own endpoint where it is not `endpoint_url`'s (the
    services mode keeps DynamoDB on moto beside LocalStack)."""
    events = aws_client("events", endpoint_url=endpoint_url, region=region)
    sqs = aws_client("sqs", endpoint_url=endpoint_url, region=region)
    sns = aws_client("sns", endpoint_url=endpoint_url, region=region)
    dynamodb = aws_client("dynamodb", endpoint_url=dynamodb_endpoint_url or endpoint_url, region=region)

    bus_arn = _ensure_bus(events, topology.BUS_NAME)
    target_dlq_url, target_dlq_arn = _ensure_queue(
        sqs,
        topology.EVENTBRIDGE_TARGET_DLQ_NAME,
        fifo=False,
        attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)},
    )

    queues: dict[str, ProvisionedQueue] = {}
    for route in topology.ROUTES:
        queues[route.consumer] = _provision_route(events, sqs, route, target_dlq_arn=target_dlq_arn)

    # EventBridge sends undeliverable events of any of our rules to its target DLQ.
    _set_queue_policy(
        sqs,
        target_dlq_url,
        target_dlq_arn,
        source_arns=[arn for queue in queues.values() for arn in queue.rule_arns],
    )

    topic_arns = {
        channel: sns.create_topic(Name=name)["TopicArn"]  # idempotent: returns the existing ARN
        for channel, name in topology.SNS_TOPICS.items()
    }
    _ensure_table(dynamodb, audit_table_definition(topology.AUDIT_TABLE_NAME))
    kms = aws_client("kms", endpoint_url=endpoint_url, region=region)
    s3 = aws_client("s3", endpoint_url=endpoint_url, region=region)
    kyc_key_arn = _ensure_key(kms, topology.KYC_DOCUMENTS_KEY_ALIAS, description="Paystream KYC documents")
    _ensure_private_bucket(s3, topology.KYC_DOCUMENTS_BUCKET, region=region, key_arn=kyc_key_arn)
    archive_key_arn = _ensure_key(kms, topology.AUDIT_ARCHIVE_KEY_ALIAS, description="Paystream audit archive")
    _ensure_private_bucket(s3, topology.AUDIT_ARCHIVE_BUCKET, region=region, key_arn=archive_key_arn)
    # Versioned, as on AWS: an export rewritten for a late event keeps the earlier one.
    s3.put_bucket_versioning(Bucket=topology.AUDIT_ARCHIVE_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    _ensure_key(kms, topology.PERSONAL_DATA_KEY_ALIAS, description="Paystream personal data keys")

    return ProvisionedTopology(
        region=region,
        endpoint_url=endpoint_url,
        bus_name=topology.BUS_NAME,
        bus_arn=bus_arn,
        queues=queues,
        target_dlq_url=target_dlq_url,
        target_dlq_arn=target_dlq_arn,
        topic_arns=topic_arns,
        audit_table_name=topology.AUDIT_TABLE_NAME,
        kyc_documents_bucket=topology.KYC_DOCUMENTS_BUCKET,
        kyc_documents_key_arn=kyc_key_arn,
    )


def _provision_route(events: Any, sqs: Any, route: topology.Route, *, target_dlq_arn: str) -> ProvisionedQueue:
    dlq_url, dlq_arn = _ensure_queue(
        sqs,
        route.dlq_name,
        fifo=True,
        attributes={
            "ContentBasedDeduplication": "true",
            "MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS),
        },
    )
    queue_url, queue_arn = _ensure_queue(
        sqs,
        route.queue_name,
        fifo=True,
        attributes={
            # Without it EventBridge's FIFO deliveries are dropped (they carry no dedup id).
            "ContentBasedDeduplication": "true",
            "VisibilityTimeout": str(route.visibility_timeout_seconds),
            "MessageRetentionPeriod": str(QUEUE_RETENTION_SECONDS),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": route.max_receive_count}),
        },
    )
    rule_arns = tuple(
        _ensure_rule(events, rule, queue_arn=queue_arn, target_dlq_arn=target_dlq_arn) for rule in route.rules
    )
    _remove_stale_rules(events, route)
    _set_queue_policy(sqs, queue_url, queue_arn, source_arns=rule_arns)
    return ProvisionedQueue(
        consumer=route.consumer,
        queue_url=queue_url,
        queue_arn=queue_arn,
        dlq_url=dlq_url,
        dlq_arn=dlq_arn,
        rule_arns=rule_arns,
        max_receive_count=route.max_receive_count,
        visibility_timeout_seconds=route.visibility_timeout_seconds,
    )


def _ensure_rule(events: Any, rule: topology.PartitionRule, *, queue_arn: str, target_dlq_arn: str) -> str:
    """Upsert the rule of one partition and its target; return the rule's ARN."""
    rule_arn = events.put_rule(
        Name=rule.rule_name,
        EventBusName=topology.BUS_NAME,
        EventPattern=json.dumps(rule.event_pattern),
        State="ENABLED",
        Description=(f"{', '.join(sorted(rule.route.event_types))} of {rule.message_group_id} to {rule.consumer}"),
    )["RuleArn"]
    _ensure_target(events, rule, queue_arn=queue_arn, target_dlq_arn=target_dlq_arn)
    return str(rule_arn)


def _remove_stale_rules(events: Any, route: topology.Route) -> None:
    """Delete rules an earlier layout gave this route (the single unpartitioned rule, or
    partitions beyond `ORDERING_PARTITIONS`): left in place they would deliver every event a
    second time, into a message group of their own."""
    prefix = f"{topology.RESOURCE_PREFIX}-{route.consumer}"
    current = {rule.rule_name for rule in route.rules}
    stale_pattern = re.compile(rf"^{re.escape(prefix)}(-p-[0-9]+)?$")
    paginator = events.get_paginator("list_rules")
    stale = [
        found["Name"]
        for page in paginator.paginate(EventBusName=topology.BUS_NAME, NamePrefix=prefix)
        for found in page.get("Rules", [])
        if stale_pattern.match(found["Name"]) and found["Name"] not in current
    ]
    for name in stale:
        targets = events.list_targets_by_rule(Rule=name, EventBusName=topology.BUS_NAME)
        target_ids = [target["Id"] for target in targets.get("Targets", [])]
        if target_ids:
            events.remove_targets(Rule=name, EventBusName=topology.BUS_NAME, Ids=target_ids)
        events.delete_rule(Name=name, EventBusName=topology.BUS_NAME)
        logger.info("removed stale rule %s", name)


def _ensure_bus(events: Any, name: str) -> str:
    try:
        return events.describe_event_bus(Name=name)["Arn"]
    except events.exceptions.ResourceNotFoundException:
        pass
    try:
        return events.create_event_bus(Name=name)["EventBusArn"]
    except events.exceptions.ResourceAlreadyExistsException:
        # Another provisioner created it between our two calls.
        return events.describe_event_bus(Name=name)["Arn"]


def _ensure_queue(sqs: Any, name: str, *, fifo: bool, attributes: Mapping[str, str]) -> tuple[str, str]:
    """Create the queue, or set `attributes` on the existing one; return its URL and ARN.

    CreateQueue fails on an existing queue whose attributes differ, so an existing queue is
    converged with SetQueueAttributes instead (`FifoQueue` itself cannot change).
    """
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        create_attributes = dict(attributes)
        if fifo:
            create_attributes["FifoQueue"] = "true"
        url = sqs.create_queue(QueueName=name, Attributes=create_attributes)["QueueUrl"]
    else:
        sqs.set_queue_attributes(QueueUrl=url, Attributes=dict(attributes))
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def _set_queue_policy(sqs: Any, queue_url: str, queue_arn: str, *, source_arns: Sequence[str]) -> None:
    """Allow EventBridge to send to the queue, and only on behalf of `source_arns` (rules)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AllowPaystreamRules",
                "Effect": "Allow",
                "Principal": {"Service": _EVENTBRIDGE_PRINCIPAL},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": sorted(source_arns)}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})


def _ensure_target(events: Any, rule: topology.PartitionRule, *, queue_arn: str, target_dlq_arn: str) -> None:
    response = events.put_targets(
        Rule=rule.rule_name,
        EventBusName=topology.BUS_NAME,
        Targets=[
            {
                "Id": rule.target_id,
                "Arn": queue_arn,
                "SqsParameters": {"MessageGroupId": rule.message_group_id},
                "DeadLetterConfig": {"Arn": target_dlq_arn},
                "RetryPolicy": {
                    "MaximumRetryAttempts": TARGET_RETRY_ATTEMPTS_MAX,
                    "MaximumEventAgeInSeconds": TARGET_EVENT_AGE_SECONDS_MAX,
                },
            }
        ],
    )
    if response.get("FailedEntryCount"):
        raise ProvisioningError(f"target of rule {rule.rule_name} refused: {response.get('FailedEntries')}")
    # A rule feeds exactly one queue: remove any target a previous layout left behind.
    existing = events.list_targets_by_rule(Rule=rule.rule_name, EventBusName=topology.BUS_NAME)
    stray_ids = [t["Id"] for t in existing.get("Targets", []) if t["Id"] != rule.target_id]
    if stray_ids:
        events.remove_targets(Rule=rule.rule_name, EventBusName=topology.BUS_NAME, Ids=stray_ids)


def _ensure_table(dynamodb: Any, definition: Mapping[str, Any]) -> None:
    name = definition["TableName"]
    try:
        dynamodb.describe_table(TableName=name)
        return
    except dynamodb.exceptions.ResourceNotFoundException:
        pass
    try:
        dynamodb.create_table(**definition)
    except dynamodb.exceptions.ResourceInUseException:
        return  # created concurrently
    dynamodb.get_waiter("table_exists").wait(
        TableName=name,
        WaiterConfig={
            "Delay": _TABLE_ACTIVE_WAIT_DELAY_SECONDS,
            "MaxAttempts": TABLE_ACTIVE_WAIT_ATTEMPTS_MAX,
        },
    )


def _ensure_key(kms: Any, alias: str, *, description: str) -> str:
    """The ARN of the KMS key under `alias`, created (with rotation, as Terraform's) if there
    is none."""
    try:
        return str(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
    except kms.exceptions.NotFoundException:
        pass
    metadata = kms.create_key(Description=description, KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    try:
        kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    except kms.exceptions.AlreadyExistsException:
        # Another provisioner made the alias between our two calls: use its key, retire ours.
        kms.schedule_key_deletion(KeyId=metadata["KeyId"], PendingWindowInDays=_KEY_DELETION_WINDOW_DAYS)
        return str(kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"])
    kms.enable_key_rotation(KeyId=metadata["KeyId"])
    return str(metadata["Arn"])


def _ensure_private_bucket(s3: Any, name: str, *, region: str, key_arn: str) -> None:
    """Create the bucket if it is missing; in any case block public access and encrypt new
    objects by default with SSE-KMS under `key_arn` (writers name the key as well)."""
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
            raise
        # us-east-1 is the one region that refuses a LocationConstraint naming itself.
        location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        # Another provisioner may have created it between our two calls.
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=name, **location)
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=name,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                    "BucketKeyEnabled": True,
                }
            ]
        },
    )


def _format_table(rows: Sequence[tuple[str, str, str]]) -> str:
    header = ("KIND", "NAME", "ADDRESS")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(2)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}" for r in [header, *rows]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: provision and print a summary table."""
    parser = argparse.ArgumentParser(
        prog="python -m shared.provision",
        description="Create or converge the Paystream event topology (idempotent).",
    )
    parser.add_argument(
        "--endpoint-url",
        default=None,
        help="AWS-compatible endpoint (moto server, LocalStack); default: AWS_ENDPOINT_URL, else real AWS",
    )
    parser.add_argument("--region", default=None, help="default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1")
    arguments = parser.parse_args(argv)
    try:
        settings = load_settings(ProvisionSettings)
    except ConfigurationError as error:
        raise SystemExit(f"{parser.prog}: {error}") from None
    endpoint_url = settings.endpoint_url if arguments.endpoint_url is None else arguments.endpoint_url
    region = settings.region if arguments.region is None else arguments.region
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    # botocore says at INFO where it found credentials, once per client: noise here.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    provisioned = provision(endpoint_url=endpoint_url, region=region)
    print(_format_table(provisioned.summary_rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
