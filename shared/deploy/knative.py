"""`knative/base/`: one Knative Service and ServiceAccount per function, one IntegrationSource
(SQS) per route, one PingSource per schedule, the Ingress (the API gateway), the ConfigMap and
the namespace; and the patches by which an overlay names its environment."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from schemas.routes import ROUTE_TABLES
from shared import topology
from shared.deploy.common import (
    CONFIG_MAP_NAME,
    IMAGE_NAME,
    NAMESPACE,
    RenderOptions,
    key_file_volumes,
    kustomization,
    queue_reader_service_account,
    secret_env,
    to_yaml,
)
from shared.function_secrets import secrets_of
from shared.functions import FUNCTIONS, HTTP_ROUTE_PREFIXES, FunctionInfo
from shared.rate_limits import PRODUCTION_RATE_LIMITS, parse_rate_limit, setting_of
from shared.services.sign_in_backoff import PRODUCTION_ADDRESS_FAILURES_FREE

__all__ = [
    "WORKERS",
    "THREADS",
    "CONTAINER_CONCURRENCY",
    "CONTAINER_PORT",
    "ScalingProfile",
    "scaling_profile",
    "ingress_rate_limits",
    "UNIFIED_SERVICE_TAGS",
    "environment_patches",
    "config_patch",
    "source_patch",
    "render_base",
]

INGRESS_CLASS = "nginx"
CONTAINER_NAME = "function"
CONTAINER_PORT = 8080

# One gunicorn per container (functions-framework's server): WORKERS processes of THREADS
# threads each. Knative's containerConcurrency is set to exactly that product, so the queue-proxy
# never hands a container more requests than it has threads (excess requests wait in the
# queue-proxy, where the autoscaler sees them), and the Dockerfile sets the same two values.
WORKERS = 2
THREADS = 8
CONTAINER_CONCURRENCY = WORKERS * THREADS
# Scale out when a pod is 70 % busy, before requests queue.
TARGET_UTILIZATION_PERCENT = 70
# Each gunicorn worker is its own process with its own pool; it never runs more than THREADS
# requests, so more connections than that would sit idle on the database.
DATABASE_POOL_SIZE = THREADS

# The IntegrationSource's poll: SQS returns at most 10 messages a call; 20 s is the longest
# long-poll SQS allows, which keeps an idle queue at three calls a minute.
SQS_MESSAGES_PER_POLL_MAX = 10
SQS_WAIT_TIME_SECONDS = 20

# The base's environment; each overlay names its own (environment_patches).
ENVIRONMENT = "local"
DATADOG_AGENT_HOST = "datadog-agent.datadog.svc.cluster.local"
# Datadog's unified service tags: the pod labels the agent tags logs and metrics with, and the
# variables ddtrace tags spans with, which are read from those labels (the downward API) so
# that spans, logs and metrics always agree. Environment variable → label.
UNIFIED_SERVICE_TAGS = {
    "DD_ENV": "tags.datadoghq.com/env",
    "DD_SERVICE": "tags.datadoghq.com/service",
    "DD_VERSION": "tags.datadoghq.com/version",
}


@dataclass(frozen=True)
class ScalingProfile:
    """How one function scales and what one of its containers may use."""

    min_scale: int
    max_scale: int
    timeout_seconds: int
    cpu_request: str
    memory_request: str
    memory_limit: str


def scaling_profile(function: FunctionInfo) -> ScalingProfile:
    """Client HTTP functions stay warm; event and scheduled functions scale to zero.

    A client waiting on a cold start (seconds for Python with its imports) is a visible
    failure; an event waiting on one is not, because SQS holds it. An event function's request
    time-out equals its queue's visibility timeout: a message still being handled must not
    become visible and be delivered a second time in parallel.
    """
    if function.serves_clients:
        return ScalingProfile(1, 10, 30, "250m", "256Mi", "512Mi")
    if function.name in topology.CONSUMERS:
        route = topology.route_for(function.name)
        return ScalingProfile(0, 5, route.visibility_timeout_seconds, "100m", "256Mi", "512Mi")
    # A scheduled function runs once a minute at most (cron resolution): one pod is enough, and
    # a run must end before the next ping.
    return ScalingProfile(0, 1, 55, "100m", "256Mi", "512Mi")


def _labels(name: str, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/part-of": topology.RESOURCE_PREFIX,
        "app.kubernetes.io/component": component,
    }


def _function_labels(function: str, version: str, environment: str) -> dict[str, str]:
    """The version is the image's tag: the overlays set both from the one version."""
    return {
        "app.kubernetes.io/name": function,
        "app.kubernetes.io/part-of": topology.RESOURCE_PREFIX,
        UNIFIED_SERVICE_TAGS["DD_ENV"]: environment,
        UNIFIED_SERVICE_TAGS["DD_SERVICE"]: function,
        UNIFIED_SERVICE_TAGS["DD_VERSION"]: version,
    }


def _service_account(name: str, component: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": name, "labels": _labels(name, component)},
    }


def _knative_service(function: FunctionInfo, version: str) -> dict[str, Any]:
    profile = scaling_profile(function)
    labels = _function_labels(function.name, version, ENVIRONMENT)
    service_labels = {
        **labels,
        "app.kubernetes.io/component": "http-function" if function.serves_clients else "cloudevent-function",
        # Reached only from inside the cluster: clients come through the nginx Ingress (the API
        # gateway) and events through the sources, so no function gets a public route of its own.
        "networking.knative.dev/visibility": "cluster-local",
    }
    secrets = secrets_of(function)
    volumes, mounts = key_file_volumes(secrets)
    env: list[dict[str, Any]] = [
        {"name": "FUNCTION_TARGET", "value": function.target},
        {"name": "FUNCTION_SOURCE", "value": f"functions/{function.name}/main.py"},
        {"name": "FUNCTION_SIGNATURE_TYPE", "value": function.signature_type},
        {"name": "WORKERS", "value": str(WORKERS)},
        {"name": "THREADS", "value": str(THREADS)},
        *(
            # Knative admits fieldRef only with its `kubernetes.podspec-fieldref` feature on
            # (docs/deploy.md turns it on).
            {"name": name, "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{label}']"}}}
            for name, label in UNIFIED_SERVICE_TAGS.items()
        ),
        {"name": "DD_AGENT_HOST", "valueFrom": {"configMapKeyRef": {"name": CONFIG_MAP_NAME, "key": "DD_AGENT_HOST"}}},
        # Only the secrets this function uses (shared.function_secrets).
        *secret_env(secrets),
    ]
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": IMAGE_NAME,
        "ports": [{"name": "http1", "containerPort": CONTAINER_PORT}],
        "env": env,
        "envFrom": [{"configMapRef": {"name": CONFIG_MAP_NAME}}],
        "resources": {
            "requests": {"cpu": profile.cpu_request, "memory": profile.memory_request},
            "limits": {"memory": profile.memory_limit},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if mounts:
        container["volumeMounts"] = mounts
    if function.serves_clients:
        # CloudEvent consumers answer only POSTs; Knative's default TCP probe covers them.
        container["readinessProbe"] = {"httpGet": {"path": "/healthz"}}
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": function.name, "labels": service_labels},
        "spec": {
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev",
                        "autoscaling.knative.dev/metric": "concurrency",
                        "autoscaling.knative.dev/target-utilization-percentage": str(TARGET_UTILIZATION_PERCENT),
                        "autoscaling.knative.dev/min-scale": str(profile.min_scale),
                        "autoscaling.knative.dev/max-scale": str(profile.max_scale),
                    },
                },
                "spec": {
                    "serviceAccountName": function.name,
                    "containerConcurrency": CONTAINER_CONCURRENCY,
                    "timeoutSeconds": profile.timeout_seconds,
                    "containers": [container],
                    **({"volumes": volumes} if volumes else {}),
                },
            }
        },
    }


def _sink(function: str) -> dict[str, Any]:
    return {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": function}}


def _integration_source(route: topology.Route, region: str) -> dict[str, Any]:
    return {
        "apiVersion": "sources.knative.dev/v1alpha1",
        "kind": "IntegrationSource",
        "metadata": {"name": route.consumer, "labels": _labels(route.consumer, "queue-source")},
        "spec": {
            "aws": {
                "sqs": {
                    # The queue name in the base; overlays replace it with the full ARN (EKS)
                    # or point the endpoint at moto (Minikube).
                    "arn": route.queue_name,
                    "region": region,
                    # Deleted only after the sink answered 2xx; otherwise the message becomes
                    # visible again and, after max_receive_count receives, goes to the DLQ.
                    "deleteAfterRead": True,
                    "autoCreateQueue": False,
                    "maxMessagesPerPoll": SQS_MESSAGES_PER_POLL_MAX,
                    "waitTimeSeconds": SQS_WAIT_TIME_SECONDS,
                    "visibilityTimeout": route.visibility_timeout_seconds,
                },
                "auth": {"serviceAccountName": queue_reader_service_account(route.consumer)},
            },
            "sink": _sink(route.consumer),
        },
    }


def _ping_source(schedule: topology.Schedule) -> dict[str, Any]:
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "PingSource",
        "metadata": {"name": schedule.consumer, "labels": _labels(schedule.consumer, "schedule")},
        "spec": {
            "schedule": schedule.cron,
            "timezone": "Etc/UTC",
            "contentType": "application/json",
            "data": json.dumps({"schedule": schedule.consumer}),
            "sink": _sink(schedule.consumer),
        },
    }


# nginx's bound on a request body where no route of the function asks for more.
INGRESS_BODY_MIB_DEFAULT = 1
_MIB = 1024 * 1024


def _body_size_max(function: str) -> str:
    """nginx's bound on one request to `function`, in MiB: the default, or the largest body a
    route of the function reads (`Route.request_body_bytes_max`), rounded up."""
    largest = max(
        (
            route.request_body_bytes_max or 0
            for table in ROUTE_TABLES
            if table.function == function
            for route in table.routes
        ),
        default=0,
    )
    return f"{max(INGRESS_BODY_MIB_DEFAULT, -(-largest // _MIB))}m"


# The Ingress limits each client address to what the functions' own limits allow it, with room
# for this many users behind one address (an office, a carrier's NAT) on the per-user classes:
# nginx stops a flood (bad tokens included) before it reaches a function, and the functions
# keep each class's budget exactly (shared.rate_limits).
INGRESS_USERS_PER_ADDRESS = 10
# nginx's burst: up to this many times the per-minute rate queued before refusing.
INGRESS_BURST_MULTIPLIER = 5
# Connections open at once from one address.
INGRESS_CONNECTIONS_PER_ADDRESS_MAX = 50


def ingress_rate_limits(function: str) -> dict[str, str]:
    """The NGINX Ingress's per-address limit annotations of one client function, derived from
    the production limits of the rate classes its routes declare (each counted once)."""
    classes = {
        route.rate_class
        for table in ROUTE_TABLES
        if table.function == function
        for route in table.routes
        if route.rate_class is not None
    }
    per_minute = 0
    for rate_class in classes:
        item = parse_rate_limit(PRODUCTION_RATE_LIMITS[rate_class])
        share = INGRESS_USERS_PER_ADDRESS if rate_class.per_user else 1
        per_minute += -(-item.amount * share * 60 // item.get_expiry())
    return {
        "nginx.ingress.kubernetes.io/limit-rpm": str(per_minute),
        "nginx.ingress.kubernetes.io/limit-burst-multiplier": str(INGRESS_BURST_MULTIPLIER),
        "nginx.ingress.kubernetes.io/limit-connections": str(INGRESS_CONNECTIONS_PER_ADDRESS_MAX),
    }


def _ingresses() -> list[dict[str, Any]]:
    """One Ingress per HTTP function, all on the same host: nginx merges them into one gateway.

    A Knative Service's Kubernetes Service is an ExternalName of Knative's own ingress, which
    routes on the Host header; nginx must therefore rewrite Host to the function's cluster-local
    name (`upstream-vhost`), and that annotation applies to a whole Ingress, hence one each.
    """
    prefixes_by_function: dict[str, list[str]] = {}
    for prefix, function in HTTP_ROUTE_PREFIXES.items():
        prefixes_by_function.setdefault(function, []).append(prefix)
    ingresses = []
    for function in sorted(prefixes_by_function):
        annotations = {
            "nginx.ingress.kubernetes.io/upstream-vhost": (f"{function}.{NAMESPACE}.svc.cluster.local"),
            # Bound what one request may send: card details are small; an identity document
            # upload is the one route that takes more (its own bound, rounded up to MiB).
            "nginx.ingress.kubernetes.io/proxy-body-size": _body_size_max(function),
            **ingress_rate_limits(function),
        }
        if function == "notifications":
            # The WebSocket stream stays open: nginx's default 60 s read time-out would cut it.
            annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] = "3600"
            annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"] = "3600"
        ingresses.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": f"gateway-{function}",
                    "labels": _labels(function, "gateway"),
                    "annotations": annotations,
                },
                "spec": {
                    "ingressClassName": INGRESS_CLASS,
                    "rules": [
                        {
                            "http": {
                                "paths": [
                                    {
                                        "path": prefix,
                                        "pathType": "Prefix",
                                        "backend": {"service": {"name": function, "port": {"number": 80}}},
                                    }
                                    for prefix in sorted(prefixes_by_function[function])
                                ]
                            }
                        }
                    ],
                },
            }
        )
    return ingresses


def _config_map(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP_NAME},
        "data": {
            "PAYSTREAM_ENVIRONMENT": ENVIRONMENT,
            "PAYSTREAM_VERSION": version,
            "PAYSTREAM_AWS_REGION": RenderOptions().aws_region,
            "PAYSTREAM_DATABASE_POOL_SIZE": str(DATABASE_POOL_SIZE),
            "PAYSTREAM_LOG_LEVEL": "INFO",
            # The production rate limits (the settings' defaults are the local modes').
            **{setting_of(rate_class): limit for rate_class, limit in PRODUCTION_RATE_LIMITS.items()},
            "PAYSTREAM_SIGN_IN_ADDRESS_FAILURES_FREE": str(PRODUCTION_ADDRESS_FAILURES_FREE),
            "DD_AGENT_HOST": DATADOG_AGENT_HOST,
            "DD_LOGS_INJECTION": "true",
            # ddtrace would otherwise inject `_datadog` into every PutEvents Detail, which breaks
            # the strict event schemas; trace context travels in the CloudEvent instead.
            "DD_BOTOCORE_DISTRIBUTED_TRACING": "false",
            # SQLAlchemy is not patched by default.
            "DD_PATCH_MODULES": "sqlalchemy:true",
        },
    }


def _namespace() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE, "labels": {"app.kubernetes.io/part-of": NAMESPACE}},
    }


def environment_patches(environment: str) -> list[dict[str, Any]]:
    """Labels that name an overlay's environment (maps only: merges, never list replaces)."""
    patches: list[dict[str, Any]] = []
    for function in FUNCTIONS:
        labels = {UNIFIED_SERVICE_TAGS["DD_ENV"]: environment}
        patches.append(
            {
                "apiVersion": "serving.knative.dev/v1",
                "kind": "Service",
                "metadata": {"name": function.name, "labels": labels},
                "spec": {"template": {"metadata": {"labels": labels}}},
            }
        )
    return patches


def config_patch(data: dict[str, str]) -> dict[str, Any]:
    """An overlay's settings, merged over the base's ConfigMap."""
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": CONFIG_MAP_NAME}, "data": data}


def source_patch(consumer: str, aws: dict[str, Any]) -> dict[str, Any]:
    """An overlay's `spec.aws`, merged over the consumer's IntegrationSource."""
    return {
        "apiVersion": "sources.knative.dev/v1alpha1",
        "kind": "IntegrationSource",
        "metadata": {"name": consumer},
        "spec": {"aws": aws},
    }


def render_base(version: str) -> dict[str, str]:
    """Every file under `knative/base/`, path relative to it → text."""
    files: dict[str, str] = {
        "namespace.yaml": to_yaml([_namespace()]),
        "config.yaml": to_yaml([_config_map(version)]),
        "gateway.yaml": to_yaml(_ingresses()),
    }
    for function in FUNCTIONS:
        files[f"functions/{function.name}.yaml"] = to_yaml(
            [_service_account(function.name, "function"), _knative_service(function, version)]
        )
    region = RenderOptions().aws_region
    for route in topology.ROUTES:
        files[f"sources/{route.consumer}.yaml"] = to_yaml(
            [
                _service_account(queue_reader_service_account(route.consumer), "queue-source"),
                _integration_source(route, region),
            ]
        )
    for schedule in topology.SCHEDULES:
        files[f"schedules/{schedule.consumer}.yaml"] = to_yaml([_ping_source(schedule)])
    files["kustomization.yaml"] = to_yaml([kustomization(resources=sorted(files))])
    return files
