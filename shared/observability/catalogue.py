"""Every metric Paystream emits, and every metric of a Datadog integration its dashboards and
monitors read: the one declaration that emitters, terraform/modules/datadog and
docs/observability.md agree on (tests/unit/test_metrics_catalogue.py checks all three)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["CATALOGUE", "INTEGRATION_METRICS", "Metric", "metric"]

Kind = Literal["count", "gauge", "histogram", "distribution"]


@dataclass(frozen=True)
class Metric:
    name: str
    kind: Kind
    unit: str
    tags: tuple[str, ...]
    description: str


CATALOGUE: tuple[Metric, ...] = (
    # -- business -------------------------------------------------------------------------------
    Metric(
        "paystream.payments",
        "count",
        "payment",
        ("status", "currency"),
        "Payments entering a status (pending when accepted, then held, declined, completed, "
        "failed). Success rate = completed / (completed + failed + declined).",
    ),
    Metric(
        "paystream.payments.volume",
        "count",
        "minor unit",
        ("currency",),
        "Amount of completed payments, in minor units of their currency.",
    ),
    Metric(
        "paystream.payments.completion_time",
        "distribution",
        "second",
        ("currency",),
        "From a payment's acceptance (202) to its completion.",
    ),
    Metric("paystream.users.signed_up", "count", "user", ("country",), "New users."),
    Metric(
        "paystream.users.first_payment",
        "count",
        "user",
        ("currency",),
        "Users whose first payment completed. Sign-up to first payment conversion = "
        "first_payment / signed_up over the same period.",
    ),
    Metric(
        "paystream.fraud.decisions",
        "count",
        "payment",
        ("decision", "risk", "currency"),
        "Fraud decisions (approved, held, declined); risk is high at a score of 80 or more.",
    ),
    Metric(
        "paystream.reconciliation.differences",
        "gauge",
        "difference",
        ("finding",),
        "Differences the daily reconciliation found for the day it checked (ledger_unbalanced, "
        "projection_mismatch, audit_mismatch); each is a row of the flagged-activity report.",
    ),
    Metric(
        "paystream.fraud.score",
        "distribution",
        "percent",
        ("decision",),
        "Fraud scores of assessed payments (0 no signal, 100 certain fraud).",
    ),
    Metric(
        "paystream.topups",
        "count",
        "top-up",
        ("status", "currency"),
        "Wallet top-ups, succeeded or declined by the card gateway.",
    ),
    Metric(
        "paystream.topups.volume",
        "count",
        "minor unit",
        ("currency",),
        "Amount of succeeded top-ups, in minor units of their currency.",
    ),
    Metric(
        "paystream.refunds",
        "count",
        "refund",
        ("status", "currency"),
        "Refunds entering a status (pending when asked for, then completed or failed).",
    ),
    Metric(
        "paystream.refunds.volume",
        "count",
        "minor unit",
        ("currency",),
        "Amount of completed refunds, in minor units of their currency.",
    ),
    Metric(
        "paystream.conversions",
        "count",
        "conversion",
        ("status", "from_currency", "to_currency"),
        "Currency conversions, completed or failed.",
    ),
    Metric(
        "paystream.withdrawals",
        "count",
        "withdrawal",
        ("status", "currency"),
        "Withdrawals entering a status (pending when the funds are reserved, then succeeded or failed).",
    ),
    Metric(
        "paystream.withdrawals.volume",
        "count",
        "minor unit",
        ("currency",),
        "Amount of succeeded withdrawals, in minor units of their currency.",
    ),
    Metric(
        "paystream.fees.revenue",
        "count",
        "minor unit",
        ("currency", "source"),
        "Fees the platform kept, in minor units of the currency they were kept in (source: "
        "conversion, the spread and the rounding remainder).",
    ),
    # -- technical ------------------------------------------------------------------------------
    Metric(
        "paystream.http.requests",
        "count",
        "request",
        ("route", "status_class", "status"),
        "Client requests answered, by route (`post_/v1/payments`) and status (2xx, 4xx, 5xx).",
    ),
    Metric(
        "paystream.http.request.duration",
        "histogram",
        "second",
        ("route", "status_class"),
        "Time to answer a client request, by route.",
    ),
    Metric(
        "paystream.function.duration",
        "histogram",
        "second",
        ("outcome",),
        "Time a function's handler took for one request or CloudEvent (outcome: ok, "
        "rejected for a 4xx, failed for a 5xx).",
    ),
    Metric(
        "paystream.function.failures",
        "count",
        "request",
        ("status",),
        "Handler failures (5xx): for a CloudEvent function, a delivery that will be retried.",
    ),
    Metric(
        "paystream.database.pool.in_use",
        "gauge",
        "connection",
        (),
        "Database connections checked out of the process's pool.",
    ),
    Metric(
        "paystream.database.pool.waiting",
        "gauge",
        "thread",
        (),
        "Threads waiting for a database connection from the pool.",
    ),
    Metric(
        "paystream.database.connection_errors",
        "count",
        "error",
        (),
        "Failed connections to the database or connections lost mid-statement.",
    ),
    Metric(
        "paystream.queue.depth",
        "gauge",
        "message",
        ("queue", "queue_kind"),
        "Messages in a consumer's queue or dead-letter queue (queue_kind: queue, dlq), "
        "visible and in flight; sampled by relay-outbox every 10 s.",
    ),
    Metric(
        "paystream.queue.oldest_message_age",
        "gauge",
        "second",
        ("queue",),
        "Age of the oldest message the local deliverer received from a queue (on AWS, the "
        "integration's aws.sqs.approximate_age_of_oldest_message).",
    ),
    Metric(
        "paystream.aws.requests",
        "count",
        "request",
        ("aws_service", "operation"),
        "Calls made to AWS APIs (aws_service: events, sqs, sns, dynamodb, s3; operation: "
        "PutEvents, ReceiveMessage, ...), retries included. On AWS each is billed, so this "
        "per payment is the cost of the event path.",
    ),
    Metric(
        "paystream.security.events",
        "count",
        "event",
        ("kind",),
        "Security events: login_failed, authentication_failed, refresh_token_reuse, "
        "authorization_denied, rate_limited.",
    ),
)

# Metrics the dashboards and monitors read that Datadog's integrations collect (the agent's
# Kubernetes and container checks, the AWS integration), not Paystream's code.
INTEGRATION_METRICS: tuple[Metric, ...] = (
    Metric(
        "aws.sqs.approximate_age_of_oldest_message",
        "gauge",
        "second",
        ("queuename",),
        "AWS integration: age of the oldest message of an SQS queue.",
    ),
    Metric(
        "aws.sqs.approximate_number_of_messages_visible",
        "gauge",
        "message",
        ("queuename",),
        "AWS integration: visible messages of an SQS queue.",
    ),
    Metric(
        "aws.rds.database_connections",
        "gauge",
        "connection",
        ("dbinstanceidentifier",),
        "AWS integration: connections open on the RDS instance.",
    ),
    Metric(
        "aws.rds.cpuutilization",
        "gauge",
        "percent",
        ("dbinstanceidentifier",),
        "AWS integration: CPU of the RDS instance.",
    ),
    Metric(
        "aws.elasticache.cpuutilization",
        "gauge",
        "percent",
        ("cacheclusterid",),
        "AWS integration: CPU of the Redis nodes.",
    ),
    Metric(
        "kubernetes.cpu.usage.total",
        "gauge",
        "nanocore",
        ("kube_service",),
        "Agent (Kubernetes): CPU used by a function's pods.",
    ),
    Metric(
        "kubernetes.memory.usage",
        "gauge",
        "byte",
        ("kube_service",),
        "Agent (Kubernetes): memory used by a function's pods.",
    ),
    Metric(
        "kubernetes.containers.restarts",
        "gauge",
        "restart",
        ("kube_service",),
        "Agent (Kubernetes): container restarts of a function's pods.",
    ),
    Metric(
        "kubernetes_state.deployment.replicas_available",
        "gauge",
        "pod",
        ("kube_deployment",),
        "Agent (kube-state-metrics): available pods of a function's revision.",
    ),
)

_BY_NAME = {entry.name: entry for entry in CATALOGUE}


def metric(name: str) -> Metric:
    """The catalogue's entry for `name`; an unknown name is a programmer error."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(f"{name!r} is not in the metrics catalogue") from None
