"""`knative/overlays/minikube/`: moto, PostgreSQL and Redis in the cluster (dev only: no
persistence worth the name), the bootstrap Job, and the sources pointed at moto."""

from __future__ import annotations

from typing import Any

from shared import topology
from shared.deploy.common import IMAGE_NAME, NAMESPACE, SECRET_NAME, kustomization, to_yaml
from shared.deploy.jobs import database_job
from shared.deploy.knative import config_patch, environment_patches, source_patch

__all__ = ["AWS_CREDENTIALS_SECRET_NAME", "render_minikube"]

# Only on Minikube: static credentials for moto, which accepts any; on EKS the sources use IRSA.
AWS_CREDENTIALS_SECRET_NAME = "paystream-aws-credentials"  # noqa: S105 - a name, not a value
ENVIRONMENT = "minikube"

MOTO_SERVICE = "moto"
MOTO_PORT = 4566
MOTO_ACCOUNT_ID = "123456789012"  # moto's fixed default account
MOTO_IMAGE = "motoserver/moto:5.1.4"
POSTGRES_IMAGE = "postgres:16-alpine"
POSTGRES_PORT = 5432
REDIS_IMAGE = "redis:7-alpine"
REDIS_PORT = 6379
# Knative resolves tags to digests through a registry, except for dev.local: an image built
# inside Minikube has no registry to ask.
MINIKUBE_IMAGE = "dev.local/paystream"


def _deployment(
    name: str, image: str, port: int, *, env: list[dict[str, Any]], args: list[str] | None = None
) -> list[dict[str, Any]]:
    """A one-replica Deployment and the Service in front of it."""
    labels = {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": NAMESPACE}
    container: dict[str, Any] = {
        "name": name,
        "image": image,
        "ports": [{"containerPort": port}],
        "env": env,
        "readinessProbe": {"tcpSocket": {"port": port}},
    }
    if args:
        container["args"] = args
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [container]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"port": port, "targetPort": port}],
            },
        },
    ]


def _dependencies() -> list[dict[str, Any]]:
    """moto, PostgreSQL and Redis for a laptop cluster: ephemeral storage, one replica each."""
    return [
        *_deployment(
            MOTO_SERVICE,
            MOTO_IMAGE,
            MOTO_PORT,
            env=[
                {"name": "MOTO_PORT", "value": str(MOTO_PORT)},
            ],
        ),
        *_deployment(
            "postgres",
            POSTGRES_IMAGE,
            POSTGRES_PORT,
            env=[
                {"name": "POSTGRES_USER", "value": "paystream"},
                {"name": "POSTGRES_DB", "value": "paystream"},
                {
                    "name": "POSTGRES_PASSWORD",
                    "valueFrom": {"secretKeyRef": {"name": SECRET_NAME, "key": "postgres-password"}},
                },
            ],
        ),
        *_deployment("redis", REDIS_IMAGE, REDIS_PORT, env=[], args=["--save", ""]),
    ]


def _source_patch(route: topology.Route, endpoint: str) -> dict[str, Any]:
    return source_patch(
        route.consumer,
        {
            "sqs": {
                "queueURL": f"{endpoint}/{MOTO_ACCOUNT_ID}/{route.queue_name}",
                "overrideEndpoint": True,
                "uriEndpointOverride": endpoint,
                "protocol": "http",
            },
            # moto accepts any static credentials; there is no IAM role to assume.
            "auth": {
                "serviceAccountName": None,
                "secret": {"ref": {"name": AWS_CREDENTIALS_SECRET_NAME}},
            },
        },
    )


def render_minikube(version: str) -> dict[str, str]:
    """Every file under `knative/overlays/minikube/`, path relative to it → text."""
    endpoint = f"http://{MOTO_SERVICE}.{NAMESPACE}.svc.cluster.local:{MOTO_PORT}"
    files = {
        "dependencies.yaml": to_yaml(_dependencies()),
        "bootstrap-job.yaml": to_yaml([database_job(endpoint)]),
        "patches/config.yaml": to_yaml(
            [
                config_patch(
                    {
                        "PAYSTREAM_ENVIRONMENT": ENVIRONMENT,
                        "PAYSTREAM_AWS_ENDPOINT_URL": endpoint,
                    }
                )
            ]
        ),
        "patches/environment.yaml": to_yaml(environment_patches(ENVIRONMENT)),
        "patches/sources.yaml": to_yaml([_source_patch(r, endpoint) for r in topology.ROUTES]),
    }
    files["kustomization.yaml"] = to_yaml(
        [
            kustomization(
                resources=["../../base", "dependencies.yaml", "bootstrap-job.yaml"],
                # One file per concern, several documents each (kustomize >= 5 applies all).
                patches=["patches/config.yaml", "patches/environment.yaml", "patches/sources.yaml"],
                images=[{"name": IMAGE_NAME, "newName": MINIKUBE_IMAGE, "newTag": version}],
            )
        ]
    )
    return files
