"""The Knative manifests: valid against their schemas, wired exactly as the topology declares.

Knative kinds are validated with the CRD JSON schemas kept in tests/deploy/schemas/knative/;
core kinds with Kubernetes' own OpenAPI schemas, shipped offline by `kubernetes-validate`.
Neither checks `autoscaling.knative.dev/*` annotations, so those are linted here.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from shared import topology
from shared.deploy.common import (
    CONFIG_MAP_NAME,
    SECRET_NAME,
    package_version,
    queue_reader_service_account,
)
from shared.deploy.knative import CONTAINER_CONCURRENCY, UNIFIED_SERVICE_TAGS
from shared.deploy.minikube import AWS_CREDENTIALS_SECRET_NAME
from shared.functions import FUNCTIONS, HTTP_ROUTE_PREFIXES
from shared.rate_limits import LOCAL_RATE_LIMITS, PRODUCTION_RATE_LIMITS, parse_rate_limit, setting_of

from .conftest import KNATIVE_DIR, TREES, build_kustomization, build_with_binary, kustomize_binary

SCHEMA_DIR = Path(__file__).parent / "schemas" / "knative"
# The oldest Kubernetes minor the manifests must be valid for (EKS standard support).
KUBERNETES_VERSION = "1.30"
KNATIVE_SCHEMAS = {
    ("serving.knative.dev/v1", "Service"): "serving.knative.dev_service_v1.json",
    ("sources.knative.dev/v1alpha1", "IntegrationSource"): "sources.knative.dev_integrationsource_v1alpha1.json",
    ("sources.knative.dev/v1", "PingSource"): "sources.knative.dev_pingsource_v1.json",
}
CORE_KINDS = {
    ("v1", "Namespace"),
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("networking.k8s.io/v1", "Ingress"),
}
KPA_CLASS = "kpa.autoscaling.knative.dev"
HPA_CLASS = "hpa.autoscaling.knative.dev"
AUTOSCALING_PREFIX = "autoscaling.knative.dev/"
DURATION = re.compile(r"^\d+(\.\d+)?(ms|s|m|h)$")


def _non_negative_integer(value: str) -> bool:
    return value.isdigit()


def _positive_number(value: str) -> bool:
    try:
        return float(value) > 0
    except ValueError:
        return False


def _window(value: str) -> bool:
    # Knative accepts a stable window between 6 s and 1 h.
    match = DURATION.match(value)
    if not match:
        return False
    number = float(value[: match.start(2)])
    seconds = number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    return 6 <= seconds <= 3600


def _duration_up_to_an_hour(value: str) -> bool:
    match = DURATION.match(value)
    if not match:
        return False
    number = float(value[: match.start(2)])
    return number * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[match.group(2)] <= 3600


AUTOSCALING_RULES = {
    "class": lambda v: v in (KPA_CLASS, HPA_CLASS),
    "metric": lambda v: v in ("concurrency", "rps", "cpu", "memory"),
    "target": _positive_number,
    "min-scale": _non_negative_integer,
    "max-scale": _non_negative_integer,
    "initial-scale": _non_negative_integer,
    "scale-down-delay": _duration_up_to_an_hour,
    "window": _window,
    "target-utilization-percentage": lambda v: _positive_number(v) and float(v) <= 100,
}


@cache
def _knative_schema(file_name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / file_name).read_text())


def _of_kind(resources: list[dict[str, Any]], api_version: str, kind: str) -> dict[str, dict]:
    return {r["metadata"]["name"]: r for r in resources if r["apiVersion"] == api_version and r["kind"] == kind}


def _knative_services(resources):
    return _of_kind(resources, "serving.knative.dev/v1", "Service")


def _container(service: dict[str, Any]) -> dict[str, Any]:
    (container,) = service["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("tree", TREES)
def test_every_manifest_validates_against_its_schema(built_trees, tree):
    for resource in built_trees[tree]:
        key = (resource["apiVersion"], resource["kind"])
        name = f"{tree}: {key[1]}/{resource['metadata']['name']}"
        if key in KNATIVE_SCHEMAS:
            schema = _knative_schema(KNATIVE_SCHEMAS[key])
            errors = list(jsonschema.Draft7Validator(schema).iter_errors(resource))
            assert not errors, f"{name}: {[e.message for e in errors]}"
        else:
            assert key in CORE_KINDS, f"{name}: a kind no schema here validates"
            try:
                kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{name}: {error.message}")


@pytest.mark.parametrize("tree", TREES)
def test_autoscaling_annotations_are_known_keys_with_valid_values(built_trees, tree):
    for name, service in _knative_services(built_trees[tree]).items():
        for where in (service["metadata"], service["spec"]["template"]["metadata"]):
            for key, value in (where.get("annotations") or {}).items():
                if not key.startswith(AUTOSCALING_PREFIX):
                    continue
                short = key.removeprefix(AUTOSCALING_PREFIX)
                assert short in AUTOSCALING_RULES, f"{name}: unknown annotation {key}"
                assert isinstance(value, str), f"{name}: {key} must be a string"
                assert AUTOSCALING_RULES[short](value), f"{name}: {key}={value!r} is invalid"
        annotations = service["spec"]["template"]["metadata"]["annotations"]
        assert int(annotations[f"{AUTOSCALING_PREFIX}min-scale"]) <= int(
            annotations[f"{AUTOSCALING_PREFIX}max-scale"]
        ), name


def test_event_functions_scale_to_zero_and_client_functions_stay_warm(built_trees):
    services = _knative_services(built_trees["base"])
    for function in FUNCTIONS:
        annotations = services[function.name]["spec"]["template"]["metadata"]["annotations"]
        # Scale to zero exists only in the KPA: an HPA never goes below one pod.
        assert annotations[f"{AUTOSCALING_PREFIX}class"] == KPA_CLASS
        expected = "1" if function.serves_clients else "0"
        assert annotations[f"{AUTOSCALING_PREFIX}min-scale"] == expected, function.name


def test_container_concurrency_matches_the_gunicorn_workers_and_threads(built_trees):
    for name, service in _knative_services(built_trees["base"]).items():
        spec = service["spec"]["template"]["spec"]
        env = {e["name"]: e.get("value") for e in _container(service)["env"]}
        assert spec["containerConcurrency"] == CONTAINER_CONCURRENCY, name
        assert int(env["WORKERS"]) * int(env["THREADS"]) == spec["containerConcurrency"], name
        assert spec["timeoutSeconds"] > 0, name
        assert _container(service)["resources"]["requests"], name


def test_every_function_runs_its_own_target_as_its_own_service_account(built_trees):
    resources = built_trees["base"]
    services = _knative_services(resources)
    accounts = _of_kind(resources, "v1", "ServiceAccount")
    assert set(services) == {f.name for f in FUNCTIONS}
    for function in FUNCTIONS:
        service = services[function.name]
        env = {e["name"]: e.get("value") for e in _container(service)["env"]}
        assert env["FUNCTION_TARGET"] == function.target
        assert env["FUNCTION_SIGNATURE_TYPE"] == function.signature_type
        source = env["FUNCTION_SOURCE"]
        assert (KNATIVE_DIR.parent / source).resolve() == function.source.resolve()
        assert service["spec"]["template"]["spec"]["serviceAccountName"] == function.name
        assert function.name in accounts


def test_every_route_has_its_source_and_service_and_nothing_else_exists(built_trees):
    for tree, resources in built_trees.items():
        services = _knative_services(resources)
        sources = _of_kind(resources, "sources.knative.dev/v1alpha1", "IntegrationSource")
        pings = _of_kind(resources, "sources.knative.dev/v1", "PingSource")
        accounts = _of_kind(resources, "v1", "ServiceAccount")
        assert set(sources) == set(topology.CONSUMERS), tree
        assert set(pings) == {s.consumer for s in topology.SCHEDULES}, tree
        assert set(services) == {f.name for f in FUNCTIONS}, tree
        assert set(accounts) == {f.name for f in FUNCTIONS} | {
            queue_reader_service_account(c) for c in topology.CONSUMERS
        }, tree
        for route in topology.ROUTES:
            sqs = sources[route.consumer]["spec"]["aws"]["sqs"]
            assert sqs["arn"].endswith(route.queue_name), (tree, route.consumer)
            assert sqs["visibilityTimeout"] == route.visibility_timeout_seconds
            sink = sources[route.consumer]["spec"]["sink"]["ref"]
            assert (sink["kind"], sink["name"]) == ("Service", route.consumer)
            assert sink["name"] in services
        for schedule in topology.SCHEDULES:
            assert pings[schedule.consumer]["spec"]["schedule"] == schedule.cron
            assert pings[schedule.consumer]["spec"]["sink"]["ref"]["name"] in services


def test_the_ingress_routes_every_gateway_prefix_to_its_function(built_trees):
    routed: dict[str, str] = {}
    for ingress in _of_kind(built_trees["base"], "networking.k8s.io/v1", "Ingress").values():
        assert ingress["spec"]["ingressClassName"] == "nginx"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["pathType"] == "Prefix"
                assert path["path"] not in routed, f"{path['path']} routed twice"
                routed[path["path"]] = path["backend"]["service"]["name"]
    assert routed == HTTP_ROUTE_PREFIXES


def test_secrets_are_referenced_never_written(built_trees):
    for tree, resources in built_trees.items():
        assert not [r for r in resources if r["kind"] == "Secret"], tree
        for service in _knative_services(resources).values():
            for entry in _container(service)["env"]:
                if entry["name"] in ("PAYSTREAM_SECRET_KEY", "PAYSTREAM_DATABASE_URL", "PAYSTREAM_REDIS_URL"):
                    assert entry["valueFrom"]["secretKeyRef"]["name"] == SECRET_NAME
            assert _container(service)["envFrom"] == [{"configMapRef": {"name": CONFIG_MAP_NAME}}]
        config = _of_kind(resources, "v1", "ConfigMap")[CONFIG_MAP_NAME]["data"]
        assert not [key for key in config if "SECRET" in key or "PASSWORD" in key], tree


@pytest.mark.parametrize(
    ("tree", "environment"), [("base", "local"), ("overlays/minikube", "minikube"), ("overlays/eks", "prod")]
)
def test_every_function_carries_datadog_unified_service_tags(built_trees, tree, environment):
    config = _of_kind(built_trees[tree], "v1", "ConfigMap")[CONFIG_MAP_NAME]["data"]
    assert config["PAYSTREAM_ENVIRONMENT"] == environment
    # Declared once, as labels: the ConfigMap would be a second declaration.
    assert not set(UNIFIED_SERVICE_TAGS) & set(config), tree
    for name, service in _knative_services(built_trees[tree]).items():
        for labels in (service["metadata"]["labels"], service["spec"]["template"]["metadata"]["labels"]):
            assert labels["tags.datadoghq.com/env"] == environment, name
            assert labels["tags.datadoghq.com/service"] == name
            assert labels["tags.datadoghq.com/version"] == package_version()
        env = {e["name"]: e for e in _container(service)["env"]}
        # As Datadog documents it for Kubernetes: each variable read from its pod label.
        for key, label in (
            ("DD_ENV", "tags.datadoghq.com/env"),
            ("DD_SERVICE", "tags.datadoghq.com/service"),
            ("DD_VERSION", "tags.datadoghq.com/version"),
        ):
            assert env[key]["valueFrom"] == {"fieldRef": {"fieldPath": f"metadata.labels['{label}']"}}, (name, key)
        assert env["DD_AGENT_HOST"]["valueFrom"]["configMapKeyRef"] == {"name": CONFIG_MAP_NAME, "key": "DD_AGENT_HOST"}


@pytest.mark.parametrize("tree", ["overlays/minikube", "overlays/eks"])
def test_the_version_tag_of_every_function_is_its_image_tag(built_trees, tree):
    for name, service in _knative_services(built_trees[tree]).items():
        image_tag = _container(service)["image"].rsplit(":", 1)[1]
        labels = service["spec"]["template"]["metadata"]["labels"]
        assert labels["tags.datadoghq.com/version"] == image_tag == package_version(), name


def test_minikube_sources_read_the_in_cluster_moto(built_trees):
    resources = built_trees["overlays/minikube"]
    endpoint = _of_kind(resources, "v1", "ConfigMap")[CONFIG_MAP_NAME]["data"]["PAYSTREAM_AWS_ENDPOINT_URL"]
    moto = _of_kind(resources, "v1", "Service")["moto"]
    assert f"{moto['metadata']['name']}.{moto['metadata']['namespace']}." in endpoint
    for source in _of_kind(resources, "sources.knative.dev/v1alpha1", "IntegrationSource").values():
        aws = source["spec"]["aws"]
        assert aws["sqs"]["overrideEndpoint"] is True
        assert aws["sqs"]["uriEndpointOverride"] == endpoint
        assert aws["auth"] == {"secret": {"ref": {"name": AWS_CREDENTIALS_SECRET_NAME}}}
    for service in _knative_services(resources).values():
        assert _container(service)["image"].startswith("dev.local/")


def test_eks_uses_irsa_roles_and_real_queue_arns(built_trees):
    resources = built_trees["overlays/eks"]
    for name, account in _of_kind(resources, "v1", "ServiceAccount").items():
        role = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        assert re.fullmatch(rf"arn:aws:iam::\d{{12}}:role/paystream-{name}", role), name
    for name, source in _of_kind(resources, "sources.knative.dev/v1alpha1", "IntegrationSource").items():
        sqs = source["spec"]["aws"]["sqs"]
        route = topology.route_for(name)
        assert re.fullmatch(rf"arn:aws:sqs:[a-z0-9-]+:\d{{12}}:{re.escape(route.queue_name)}", sqs["arn"])
        assert sqs["queueURL"].endswith(f"/{route.queue_name}")
        assert source["spec"]["aws"]["auth"] == {"serviceAccountName": queue_reader_service_account(name)}
        assert "uriEndpointOverride" not in sqs


@pytest.mark.parametrize("tree", TREES)
def test_the_offline_build_agrees_with_kustomize(built_trees, tree):
    command = kustomize_binary()
    # The machines this project runs on ship kubectl (with its kustomize); a missing one is a
    # broken machine, reported as a failure rather than passed over.
    assert command is not None, "kubectl (or kustomize) is required to check the overlays"

    def keyed(resources):
        return {(r["apiVersion"], r["kind"], r["metadata"]["name"]): r for r in resources}

    assert keyed(build_with_binary(command, KNATIVE_DIR / tree)) == keyed(build_kustomization(KNATIVE_DIR / tree))


# Each client function's Ingress limit per address, worked out by hand from the production
# limits (per minute: MONEY 20, WRITE 60, READ 300 per user, ten users behind an address;
# PUBLIC 60 and CREDENTIAL 10 per address) and the classes of the function's routes.
INGRESS_REQUESTS_PER_MINUTE = {
    "users": 10 + 600 + 3000,  # CREDENTIAL, WRITE, READ
    "accounts": 600 + 3000,
    "wallets": 200 + 600 + 3000,  # MONEY, WRITE (conversion quotes), READ
    "payments": 200 + 600 + 3000,
    "transactions": 3000,
    "notifications": 3000,
    "admin": 600 + 3000,
}


def test_the_ingress_limits_each_address_as_the_route_classes_allow(built_trees):
    ingresses = _of_kind(built_trees["base"], "networking.k8s.io/v1", "Ingress")
    limits = {name.removeprefix("gateway-"): ingress["metadata"]["annotations"] for name, ingress in ingresses.items()}
    assert {function: int(a["nginx.ingress.kubernetes.io/limit-rpm"]) for function, a in limits.items()} == (
        INGRESS_REQUESTS_PER_MINUTE
    )
    for annotated in limits.values():
        assert int(annotated["nginx.ingress.kubernetes.io/limit-connections"]) > 0
        assert int(annotated["nginx.ingress.kubernetes.io/limit-burst-multiplier"]) >= 1


def test_the_cluster_runs_with_the_production_rate_limits(built_trees):
    (config,) = _of_kind(built_trees["base"], "v1", "ConfigMap").values()
    assert {name: value for name, value in config["data"].items() if name.startswith("PAYSTREAM_RATE_LIMIT_")} == {
        setting_of(rate_class): limit for rate_class, limit in PRODUCTION_RATE_LIMITS.items()
    }
    # The local defaults are looser per address (every local client is 127.0.0.1), never tighter.
    for rate_class, limit in PRODUCTION_RATE_LIMITS.items():
        assert parse_rate_limit(LOCAL_RATE_LIMITS[rate_class]).amount >= parse_rate_limit(limit).amount
