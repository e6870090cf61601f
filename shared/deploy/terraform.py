"""`terraform/topology.json`, the data the Terraform modules read with jsondecode(file(...)),
and the Datadog dashboards (shared.observability.dashboards) the datadog module reads."""

from __future__ import annotations

import json

from schemas.routes import ROUTE_TABLES
from schemas.routes import accounts as accounts_routes
from schemas.routes import admin as admin_routes
from schemas.routing import Route
from shared import topology
from shared.deploy.common import GENERATED_HEADER, NAMESPACE, queue_reader_service_account
from shared.function_secrets import SECRETS, secrets_of
from shared.functions import FUNCTIONS, FunctionInfo
from shared.observability.dashboards import dashboard_files
from shared.provision import (
    DLQ_RETENTION_SECONDS,
    QUEUE_RETENTION_SECONDS,
    TARGET_EVENT_AGE_SECONDS_MAX,
    TARGET_RETRY_ATTEMPTS_MAX,
)

__all__ = ["AUDIT_ARCHIVE_BUCKET_PREFIX", "render_terraform"]

# The bucket that keeps the audit chain's exports and the reports; Terraform appends the account
# and the region.
AUDIT_ARCHIVE_BUCKET_PREFIX = topology.AUDIT_ARCHIVE_BUCKET


# The scheduled functions that write the archive bucket: the chain's exports and the reports.
_ARCHIVE_WRITERS = ("archive-audit", "reconcile")


# The functions that make users' data keys or open personal data with them: sign-up and the
# profile, funding sources and KYC, a top-up's card, a payout's bank account, the names in
# notifications, and the operators' views. Nothing else unwraps a data key.
PERSONAL_DATA_FUNCTIONS = frozenset(
    {"users", "accounts", "wallets", "payout", "notify", "notifications", "admin", "verify-kyc"}
)


def _function_permissions(function: FunctionInfo) -> dict[str, bool]:
    """Which AWS APIs a function calls, derived from what it produces and consumes.

    Producers (and the outbox relay, which publishes on any producer's behalf) put events;
    client functions check the bus in their readiness probe; `audit` writes the chain; `notify`
    publishes to SNS; the function of the document upload stores KYC documents and the one that
    shows them to support reads them. The function of the audit routes, `archive-audit` and
    `reconcile` read the audit chain; the latter two write the archive bucket (exports, reports).
    """
    producers = {p for ps in topology.EVENT_PRODUCERS.values() for p in ps}
    scheduled = {schedule.consumer for schedule in topology.SCHEDULES}
    return {
        "put_events": function.name in producers or function.name in scheduled,
        "describe_bus": function.serves_clients,
        "audit_table": function.name == "audit",
        "audit_table_read": function.name in (_function_serving(admin_routes.VERIFY_AUDIT), *_ARCHIVE_WRITERS),
        "audit_archive_write": function.name in _ARCHIVE_WRITERS,
        "publish_notifications": function.name == "notify",
        # The function that serves the upload stores documents; the one that shows them reads.
        "kyc_documents_write": function.name == _function_serving(accounts_routes.UPLOAD_KYC_DOCUMENT),
        "kyc_documents_read": function.name == _function_serving(admin_routes.GET_KYC_DOCUMENT),
        # The sweep shreds erased users' documents once their retention period has ended.
        "kyc_documents_delete": function.name == "sweep-sagas",
        # Makes or opens users' data keys (shared.privacy), wrapped by the personal data key.
        "personal_data_keys": function.name in PERSONAL_DATA_FUNCTIONS,
    }


def _function_serving(route: Route) -> str:
    (function,) = [table.function for table in ROUTE_TABLES if route in table.routes]
    return function


def render_terraform() -> dict[str, str]:
    """Every generated file under `terraform/`, path relative to it → text."""
    data = {
        "_generated": GENERATED_HEADER.replace("# ", "").replace("\n", " ").strip(),
        "bus_name": topology.BUS_NAME,
        "resource_prefix": topology.RESOURCE_PREFIX,
        "namespace": NAMESPACE,
        "eventbridge_target_dlq_name": topology.EVENTBRIDGE_TARGET_DLQ_NAME,
        "target_retry_attempts_max": TARGET_RETRY_ATTEMPTS_MAX,
        "target_event_age_seconds_max": TARGET_EVENT_AGE_SECONDS_MAX,
        "queue_retention_seconds": QUEUE_RETENTION_SECONDS,
        "dlq_retention_seconds": DLQ_RETENTION_SECONDS,
        "routes": {
            route.consumer: {
                "queue_name": route.queue_name,
                "dlq_name": route.dlq_name,
                "rule_names": [rule.rule_name for rule in route.rules],
                "event_types": sorted(route.event_types),
                "max_receive_count": route.max_receive_count,
                "visibility_timeout_seconds": route.visibility_timeout_seconds,
                "queue_reader_service_account": queue_reader_service_account(route.consumer),
            }
            for route in topology.ROUTES
        },
        # One EventBridge rule per route and ordering partition, flat for Terraform's for_each.
        "rules": {
            rule.rule_name: {
                "consumer": rule.consumer,
                "target_id": rule.target_id,
                "message_group_id": rule.message_group_id,
                "event_types": sorted(rule.route.event_types),
                "event_pattern": json.dumps(rule.event_pattern, sort_keys=True),
            }
            for route in topology.ROUTES
            for rule in route.rules
        },
        "schedules": {schedule.consumer: {"cron": schedule.cron} for schedule in topology.SCHEDULES},
        "sns_topics": dict(topology.SNS_TOPICS),
        "audit_table_name": topology.AUDIT_TABLE_NAME,
        "audit_archive_bucket_prefix": AUDIT_ARCHIVE_BUCKET_PREFIX,
        "audit_archive_key_alias": topology.AUDIT_ARCHIVE_KEY_ALIAS,
        "kyc_documents_bucket_prefix": topology.KYC_DOCUMENTS_BUCKET,
        "kyc_documents_key_alias": topology.KYC_DOCUMENTS_KEY_ALIAS,
        "personal_data_key_alias": topology.PERSONAL_DATA_KEY_ALIAS,
        "secrets": [secret.name for secret in SECRETS],
        "functions": {
            function.name: {
                "signature_type": function.signature_type,
                "service_account": function.name,
                **_function_permissions(function),
                # Only the secrets it uses (shared.function_secrets): its role may read these alone.
                "secrets": [secret.name for secret in secrets_of(function)],
            }
            for function in FUNCTIONS
        },
    }
    return {"topology.json": json.dumps(data, indent=2, sort_keys=True) + "\n", **dashboard_files()}
